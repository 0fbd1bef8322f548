"""Augmentation on a frozen base: cached augmented views (`features-aug`) against the notes' two alternatives.

On one dataset (default: cats_vs_dogs), each on a cold feature cache:
  (a) `features`: the frozen base run once over clean images, dense head on cached features
      (the notes' "Alternative 1": fast, no augmentation);
  (b) `features-aug` with K augmented views per training image, for each K asked for;
  (c) the frozen base in the training loop with fresh augmentation every epoch (the notes'
      "Alternative 2": dense head on `Classifier(frozen base, head)`, `train_on_images` with
      only the head's parameters), for E epochs.
All use the same head (hidden 256, dropout 0.5), augmentation spec, seed and device. Prints
validation accuracy and wall time side by side (markdown) and, unless --no-write, replaces the
section of BENCHMARKS.md.

Usage:
    .venv/bin/python bench/features_aug.py [--data DIR] [--views 1,2,5,10] [--epochs 10] [--seeds 0]
    .venv/bin/python bench/features_aug.py --limit 40 --views 1 --epochs 1 --no-write   # smoke test
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from throughput import DEFAULT_DATA, _machine, write_section  # noqa: E402

SECTION = "## Augmentation on a frozen base (features-aug)"


def subset(data: str, limit: int | None, workdir: Path) -> str:
    """`data` itself, or a copy of its first `limit` images per class of each split (smoke tests)."""
    if not limit:
        return data
    import shutil

    from transferlab.data import load_splits

    splits = load_splits(data)
    for name, images in (("train", splits.train), ("val", splits.val)):
        taken: dict[int, int] = {}
        for path, label in zip(images.paths, images.labels):
            if taken.get(label, 0) < limit:
                taken[label] = taken.get(label, 0) + 1
                target = workdir / "subset" / name / splits.classes[label] / Path(path).name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
    return str(workdir / "subset")


def cold(workdir: Path, name: str) -> Path:
    """A fresh, empty feature cache for one measurement (the library reads TRANSFERLAB_CACHE per call)."""
    cache = workdir / f"cache-{name}"
    os.environ["TRANSFERLAB_CACHE"] = str(cache)
    return cache


def run_strategy(config, workdir: Path, name: str) -> dict:
    from transferlab.strategies import train

    cold(workdir, name)
    start = time.perf_counter()
    result = train(config, workdir / f"run-{name}")
    seconds = time.perf_counter() - start
    return {"val_acc": result.val_accuracy, "seconds": seconds,
            "extract_seconds": result.summary["details"].get("extract_seconds")}


def run_frozen_loop(config, workdir: Path, name: str, epochs: int) -> dict:
    """The notes' Alternative 2: the frozen base inside the loop, fresh augmentation every epoch."""
    import torch

    from transferlab.data import load_splits
    from transferlab.engine.device import pick_device
    from transferlab.models.classifier import Classifier
    from transferlab.models.heads import Head
    from transferlab.strategies.common import RunContext, make_backbone
    from transferlab.strategies.endtoend import Phase, decode_split, train_on_images

    cold(workdir, name)
    start = time.perf_counter()
    out = workdir / f"run-{name}"
    out.mkdir()
    splits = load_splits(config.data, config.val_fraction, config.seed)
    ctx = RunContext(config, out, splits, pick_device(config.device))
    backbone = make_backbone(config)
    backbone.requires_grad_(False)
    pre = backbone.preprocessing
    head = Head(backbone.feature_dim, len(splits.classes), config.hidden, config.dropout)
    torch.manual_seed(config.seed)
    train = decode_split(ctx, splits.train, pre.resize_size, pre.interpolation)
    val = decode_split(ctx, splits.val, pre.resize_size, pre.interpolation)
    groups = [{"params": list(head.parameters()), "lr": config.lr or 1e-3, "name": "head"}]
    history = train_on_images(ctx, Classifier(backbone, head), groups, train, val,
                              Phase("frozen-base", epochs, config.augment, "frozen"))
    return {"val_acc": max(row["val_acc"] for row in history), "seconds": time.perf_counter() - start,
            "extract_seconds": None}


def measure_all(args: argparse.Namespace, workdir: Path) -> list[dict]:
    from transferlab.config import TrainConfig

    data = subset(args.data, args.limit, workdir)
    rows = []
    for seed in args.seeds:
        base = TrainConfig(data=data, strategy="features", augment=args.augment, seed=seed, device=args.device)
        plan = [("features (Alternative 1)", "-", lambda n: run_strategy(base, workdir, n))]
        plan += [(f"features-aug, K={k}", str(k),
                  lambda n, k=k: run_strategy(base.replace(strategy="features-aug", views=k), workdir, n))
                 for k in args.views]
        plan.append((f"frozen base in the loop (Alternative 2), {args.epochs} epochs", "-",
                     lambda n: run_frozen_loop(base.replace(patience=args.epochs), workdir, n, args.epochs)))
        for index, (label, views, run) in enumerate(plan):
            result = run(f"{seed}-{index}")
            rows.append({"label": label, "views": views, "seed": seed, **result})
            print(f"seed {seed} / {label}: val acc {result['val_acc']:.4f}, {result['seconds']:.1f}s", file=sys.stderr)
    return rows


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    labels = list(dict.fromkeys(r["label"] for r in rows))
    merged = {label: [r for r in rows if r["label"] == label] for label in labels}
    base_time = statistics.mean(r["seconds"] for r in merged[labels[0]])
    seeds = ", ".join(str(s) for s in args.seeds)
    lines = [SECTION, "", f"`{Path(args.data).name}`{f' (first {args.limit} images per class and split)' if args.limit else ''}, "
             f"efficientnet_lite0 (packaged ImageNet weights), dense head 256 + dropout 0.5, augmentation "
             f"`{args.augment}`, seeds {seeds} (mean; range in brackets), cold feature cache for every row.", "",
             "| method | val accuracy | wall time (s) | time vs features |", "|---|---:|---:|---:|"]
    for label, group in merged.items():
        accs, secs = [r["val_acc"] for r in group], [r["seconds"] for r in group]
        spread = f" [{min(accs):.4f}-{max(accs):.4f}]" if len(accs) > 1 else ""
        lines.append(f"| {label} | {statistics.mean(accs):.4f}{spread} | {statistics.mean(secs):.1f} | "
                     f"{statistics.mean(secs) / base_time:.1f}x |")
    flags = (f"--data={args.data} --views={','.join(map(str, args.views))} --epochs={args.epochs} "
             f"--seeds={','.join(map(str, args.seeds))} --augment={args.augment}")
    lines += footer("features_aug.py", flags, args.limit)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--views", default="1,2,5,10", type=lambda s: [int(v) for v in s.split(",")])
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the frozen-base loop")
    parser.add_argument("--seeds", default="0", type=lambda s: [int(v) for v in s.split(",")])
    parser.add_argument("--augment", default="medium", help="augmentation spec for (b) and (c)")
    add_record_arguments(parser)
    record(parser.parse_args(), measure_all, markdown, SECTION)


def add_record_arguments(parser: argparse.ArgumentParser, device: str = "auto") -> None:
    """`--device`, `--limit`, `--json`, `--no-write`: what every bench run through `record` takes."""
    parser.add_argument("--device", default=device)
    parser.add_argument("--limit", type=int, help="images per class and split (smoke tests)")
    parser.add_argument("--json", help="also write the raw rows to this file")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave BENCHMARKS.md")


def footer(script: str, flags: str, limit: int | None) -> list[str]:
    """The lines that end a section: the command that produced it and the machine."""
    flags += f" --limit={limit}" if limit else ""
    return ["", f"Command: `.venv/bin/python bench/{script} {flags}`.",
            f"Machine: {_machine()}; measured {datetime.date.today().isoformat()}.", ""]


def record(args: argparse.Namespace, measure, render, section: str) -> None:
    """Measure in a temporary folder (tuned allocator, quiet logs), print the table, keep the rows
    (`--json`) and replace `section` of BENCHMARKS.md unless `--no-write`."""
    from transferlab.cli._runtime import cli_logging, tune_allocator

    tune_allocator()
    with tempfile.TemporaryDirectory() as tmp, cli_logging(quiet=True):
        rows = measure(args, Path(tmp))
    text = render(rows, args)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    if not args.no_write:
        write_section(text, section)


if __name__ == "__main__":
    main()
