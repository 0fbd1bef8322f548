"""Fine-tuning the top groups: the frozen prefix once per image and view, against the whole network every epoch.

For each dataset, unfrozen depth (`--unfreeze`) and seed, `transferlab train --strategy finetune`
runs twice on a cold cache, the same config apart from `frozen_prefix`: end to end (today's
path, `--no-frozen-prefix`) and on cached prefix maps (`strategies.finetune_prefix`). Reports
validation accuracy, the median fine-tuning epoch (train + validation) and the whole run's wall
time (decoding, phase one and the prefix views included), and the ceiling the prefix's share of
the forward FLOPs sets on the epoch speed-up: (P + 3S) / 3S, a backward pass costing about two
forward passes of the trained suffix S.

Usage:
    .venv/bin/python bench/frozen_prefix.py [--data A,B] [--unfreeze 1,2] [--seeds 0,1,2] [--epochs 5]
    .venv/bin/python bench/frozen_prefix.py --limit 8 --seeds 0 --epochs 2 --no-write   # smoke test
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from features_aug import add_record_arguments, cold, footer, record, subset  # noqa: E402

SECTION = "## Fine-tuning on the frozen prefix's cached maps"
DATASETS = ROOT.parent / "shared" / "datasets"
PATHS = (("end to end (every epoch)", False), ("frozen prefix once per view", True))


def run_once(config, workdir: Path, name: str) -> dict:
    from transferlab.strategies import train

    cold(workdir, name)
    start = time.perf_counter()
    result = train(config, workdir / f"run-{name}")
    seconds = time.perf_counter() - start
    with open(result.out / "metrics.csv", newline="") as handle:
        epochs = [float(row["seconds"]) for row in csv.DictReader(handle) if row["phase"] == "finetune"]
    prefix = result.summary["details"].get("frozen_prefix") or {}
    return {"val_acc": result.val_accuracy, "seconds": seconds, "epoch_seconds": statistics.median(epochs),
            "flops_share": prefix.get("flops_share")}


def measure_all(args: argparse.Namespace, workdir: Path) -> list[dict]:
    from transferlab.config import TrainConfig

    rows = []
    for data_name in args.data:
        data = subset(str(DATASETS / data_name), args.limit, workdir / data_name)
        for unfreeze in args.unfreeze:
            for seed in args.seeds:
                for label, frozen_prefix in PATHS:
                    config = TrainConfig(data=data, strategy="finetune", unfreeze=unfreeze, epochs=args.epochs,
                                         seed=seed, frozen_prefix=frozen_prefix, device=args.device)
                    name = f"{data_name}-{unfreeze}-{seed}-{int(frozen_prefix)}"
                    result = run_once(config, workdir, name)
                    rows.append({"data": data_name, "unfreeze": unfreeze, "seed": seed, "path": label, **result})
                    print(f"{name}: val {result['val_acc']:.4f}, epoch {result['epoch_seconds']:.1f}s, "
                          f"run {result['seconds']:.1f}s", file=sys.stderr)
    return rows


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [SECTION, "",
             f"efficientnet_lite0 (packaged ImageNet weights), `--strategy finetune --epochs {args.epochs}` at its "
             f"defaults otherwise, seeds {', '.join(map(str, args.seeds))} (mean; range in brackets), cold cache "
             f"for every run{f', first {args.limit} images per class and split' if args.limit else ''}.", "",
             "| data | unfrozen groups | path | val accuracy | epoch (s) | run (s) | epoch speed-up | ceiling |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for data in args.data:
        for unfreeze in args.unfreeze:
            group = [r for r in rows if r["data"] == data and r["unfreeze"] == unfreeze]
            base = statistics.mean(r["epoch_seconds"] for r in group if r["path"] == PATHS[0][0])
            shares = [r["flops_share"] for r in group if r["flops_share"] is not None]
            ceiling = f"{(shares[0] + 3 * (1 - shares[0])) / (3 * (1 - shares[0])):.1f}x" if shares else "-"
            for label, _ in PATHS:
                runs = [r for r in group if r["path"] == label]
                accs = [r["val_acc"] for r in runs]
                spread = f" [{min(accs):.4f}-{max(accs):.4f}]" if len(accs) > 1 else ""
                epoch = statistics.mean(r["epoch_seconds"] for r in runs)
                lines.append(f"| {data} | {unfreeze} | {label} | {statistics.mean(accs):.4f}{spread} | {epoch:.1f} | "
                             f"{statistics.mean(r['seconds'] for r in runs):.0f} | {base / epoch:.2f}x | "
                             f"{ceiling if label == PATHS[1][0] else ''} |")
    flags = (f"--data={','.join(args.data)} --unfreeze={','.join(map(str, args.unfreeze))} "
             f"--seeds={','.join(map(str, args.seeds))} --epochs={args.epochs}")
    lines += footer("frozen_prefix.py", flags, args.limit)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="flowers,neu_steel_defects", type=lambda s: s.split(","))
    parser.add_argument("--unfreeze", default="1,2", type=lambda s: [int(v) for v in s.split(",")])
    parser.add_argument("--seeds", default="0,1,2", type=lambda s: [int(v) for v in s.split(",")])
    parser.add_argument("--epochs", type=int, default=5)
    add_record_arguments(parser)
    record(parser.parse_args(), measure_all, markdown, SECTION)


if __name__ == "__main__":
    main()
