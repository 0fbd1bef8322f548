"""Test-time augmentation: validation accuracy of one trained model without and with `--tta`.

For each dataset, a `--strategy linear` run (default backbone, packaged ImageNet weights) is
trained once, then its validation images are evaluated with each TTA mode (`none`, `flip`,
`crops`) through `transferlab.load(run, tta=...).evaluate(...)`, as `transferlab evaluate --tta`
does. Reports accuracy and seconds per mode side by side.

Usage:
    .venv/bin/python bench/tta.py [--data flowers,neu_steel_defects] [--modes none,flip,crops]
    .venv/bin/python bench/tta.py --data flowers --limit 6 --no-write   # smoke test
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from auto_regret import data_path  # noqa: E402
from features_aug import add_record_arguments, footer, record  # noqa: E402

SECTION = "## Test-time augmentation: validation accuracy without and with --tta"


def val_folder(data: str) -> str:
    """The split `evaluate` scores: a shared dataset's val/, a built-in one's test/."""
    from transferlab.data.builtin import builtin_folder, is_builtin

    root = builtin_folder(data) if is_builtin(data) else Path(data)
    return str(root / ("val" if (root / "val").is_dir() else "test"))


def measure_all(args: argparse.Namespace, workdir: Path) -> list[dict]:
    import transferlab as tl

    rows = []
    for name in args.data:
        data = data_path(name, args.limit, workdir)
        run = workdir / f"run-{name}"
        tl.train(data, strategy="linear", out=run, device=args.device)
        for mode in args.modes:
            start = time.perf_counter()
            evaluation = tl.load(run, device=args.device, tta=mode).evaluate(val_folder(data))
            seconds = time.perf_counter() - start
            rows.append({"data": name, "tta": mode, "accuracy": evaluation.accuracy,
                         "images": int(sum(map(sum, evaluation.metrics.confusion))), "seconds": seconds})
            print(f"{name} tta={mode}: {evaluation.accuracy:.4f} in {seconds:.0f}s", file=sys.stderr)
    return rows


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [SECTION, "",
             "`--strategy linear` on efficientnet_lite0 (packaged ImageNet weights), seed 0, then the same model "
             "evaluated on its validation images (built-in data: its test images) with each `--tta` mode"
             f"{f'; first {args.limit} images per class and split' if args.limit else ''}.", "",
             "| data | images | " + " | ".join(f"{m}: accuracy (s)" for m in args.modes) + " |",
             "|---|---:|" + "---:|" * len(args.modes)]
    for name in args.data:
        by_mode = {r["tta"]: r for r in rows if r["data"] == name}
        cells = " | ".join(f"{by_mode[m]['accuracy']:.4f} ({by_mode[m]['seconds']:.0f})" for m in args.modes)
        lines.append(f"| {name} | {by_mode[args.modes[0]]['images']} | {cells} |")
    lines += footer("tta.py", f"--data={','.join(args.data)} --modes={','.join(args.modes)}", args.limit)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="flowers,neu_steel_defects", type=lambda s: s.split(","))
    parser.add_argument("--modes", default="none,flip,crops", type=lambda s: s.split(","))
    add_record_arguments(parser)
    record(parser.parse_args(), measure_all, markdown, SECTION)


if __name__ == "__main__":
    main()
