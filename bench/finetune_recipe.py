"""Fine-tuning recipes side by side: the learning rate and per-group multiplier of `finetune`.

For each dataset and seed, `transferlab train --strategy finetune --unfreeze U --epochs E` runs once
per recipe (`--lr`, `--lr-mult`), everything else at its defaults, and reports validation
accuracy and wall time. This is what the defaults of `finetune` (and auto's fine-tuning) rest on.

Usage:
    .venv/bin/python bench/finetune_recipe.py [--data A,B] [--unfreeze -1] [--seeds 0] [--epochs 5]
    .venv/bin/python bench/finetune_recipe.py --limit 6 --epochs 1 --no-write   # smoke test
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from features_aug import add_record_arguments, footer, record, subset  # noqa: E402

SECTION = "## Fine-tuning recipes: learning rate and per-group multiplier"
DATASETS = ROOT.parent / "shared" / "datasets"
RECIPES = (("2e-4 at the head, x0.5 per group deeper", 2e-4, 0.5), ("5e-4 everywhere", 5e-4, 1.0))


def measure_all(args: argparse.Namespace, workdir: Path) -> list[dict]:
    from transferlab.config import TrainConfig
    from transferlab.strategies import train

    rows = []
    for data_name in args.data:
        data = subset(str(DATASETS / data_name), args.limit, workdir / data_name)
        for seed in args.seeds:
            for label, lr, lr_mult in RECIPES:
                config = TrainConfig(data=data, strategy="finetune", unfreeze=args.unfreeze, epochs=args.epochs,
                                     lr=lr, lr_mult=lr_mult, seed=seed, device=args.device)
                start = time.perf_counter()
                result = train(config, workdir / f"run-{data_name}-{seed}-{lr}-{lr_mult}")
                seconds = time.perf_counter() - start
                rows.append({"data": data_name, "seed": seed, "recipe": label, "val_acc": result.val_accuracy,
                             "seconds": seconds})
                print(f"{data_name} seed {seed} {label}: val {result.val_accuracy:.4f} in {seconds:.0f}s",
                      file=sys.stderr)
    return rows


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [SECTION, "",
             f"efficientnet_lite0 (packaged ImageNet weights), `--strategy finetune --unfreeze {args.unfreeze} "
             f"--epochs {args.epochs}`, seeds {', '.join(map(str, args.seeds))} (mean)"
             f"{f', first {args.limit} images per class and split' if args.limit else ''}.", "",
             "| data | recipe | val accuracy | run (s) |", "|---|---|---:|---:|"]
    for data in args.data:
        for label, _, _ in RECIPES:
            runs = [r for r in rows if r["data"] == data and r["recipe"] == label]
            lines.append(f"| {data} | {label} | {statistics.mean(r['val_acc'] for r in runs):.4f} | "
                         f"{statistics.mean(r['seconds'] for r in runs):.0f} |")
    flags = (f"--data={','.join(args.data)} --unfreeze={args.unfreeze} --seeds={','.join(map(str, args.seeds))} "
             f"--epochs={args.epochs}")
    lines += footer("finetune_recipe.py", flags, args.limit)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="flowers,neu_steel_defects", type=lambda s: s.split(","))
    parser.add_argument("--unfreeze", type=int, default=-1)
    parser.add_argument("--seeds", default="0", type=lambda s: [int(v) for v in s.split(",")])
    parser.add_argument("--epochs", type=int, default=5)
    add_record_arguments(parser)
    record(parser.parse_args(), measure_all, markdown, SECTION)


if __name__ == "__main__":
    main()
