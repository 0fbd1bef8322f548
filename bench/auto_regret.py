"""`auto`'s regret: auto inside its budget against every fixed command a careful user could type.

For each dataset, `transferlab train --strategy auto --budget B` and each fixed command (by
default: `linear` with each packaged backbone, `features-aug` and `finetune` on lite0, all at
their defaults) run on a cold feature cache. Reports validation (and test, where the data has
one) accuracy and wall time side by side, and auto's regret: the best fixed validation accuracy
minus auto's.

Usage:
    .venv/bin/python bench/auto_regret.py [--data flowers,neu_steel_defects,...] [--budget 10m]
    .venv/bin/python bench/auto_regret.py --data flowers --limit 6 --budget 2m --fixed linear:efficientnet_lite0 --no-write
    .venv/bin/python bench/auto_regret.py --data flowers --fixed finetune:efficientnet_lite0 --fixed-only   # rows beside an earlier auto run
    .venv/bin/python bench/auto_regret.py --data neu_tiles --fixed features:efficientnet_lite0   # large data of small images
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from features_aug import add_record_arguments, cold, footer, record, subset  # noqa: E402
from tiles import tile_folder  # noqa: E402

SECTION = "## auto's regret against fixed commands"
DATASETS = ROOT.parent / "shared" / "datasets"
SHARED = ("cats_vs_dogs", "neu_steel_defects", "flowers", "plant_leaves")
BUILTIN = ("digits", "mnist5k", "lfw-faces")
TILED = {"neu_tiles": "neu_steel_defects"}  # large data of small images, cut from a shared dataset (bench/tiles.py)
FIXED = ("linear:efficientnet_lite0", "linear:efficientnet_lite1", "linear:efficientnet_lite2",
         "features-aug:efficientnet_lite0", "finetune:efficientnet_lite0")


def data_path(name: str, limit: int | None, workdir: Path) -> str:
    """A shared dataset's folder (or its first `limit` images per class), or a built-in name."""
    if name in BUILTIN:
        return name
    if name in TILED:
        return subset(str(tile_folder(DATASETS / TILED[name], workdir / "tiles" / name)), limit, workdir / name)
    return subset(str(DATASETS / name), limit, workdir / name)


def run_one(config, workdir: Path, name: str) -> dict:
    from transferlab.strategies import train

    cold(workdir, name)
    start = time.perf_counter()
    result = train(config, workdir / f"run-{name}")
    summary = result.summary
    details = summary["details"]
    return {"val_acc": result.val_accuracy, "test_acc": (summary.get("test") or {}).get("accuracy"),
            "seconds": time.perf_counter() - start,
            "chosen": f"{details.get('chosen_strategy', summary['strategy'])} on {summary['backbone']}"
                      + (f" at {summary['layer']}" if summary.get("layer") else "") + _how(details.get("decision"))}


def _how(decision: dict | None) -> str:
    """What auto's decision adds: the layer and input side it chose, and a fine-tuning trial's outcome."""
    if not decision:
        return ""
    settings, trial, parts = decision.get("settings", {}), decision.get("trial"), []
    if settings.get("layer"):
        parts.append(f"at {settings['layer']}")
    if settings.get("input_size"):
        parts.append(f"{settings['input_size']} px")
    if trial:
        parts.append(f"trial {trial['finetune_accuracy']:.4f} vs {trial['frozen_accuracy']:.4f}, "
                     f"{trial['epochs_run']} epochs" + (f", {trial['final']}" if trial.get("final") else ""))
    return f" ({'; '.join(parts)})" if parts else ""


def measure_all(args: argparse.Namespace, workdir: Path) -> list[dict]:
    from transferlab.config import TrainConfig

    rows = []
    for data_name in args.data:
        data = data_path(data_name, args.limit, workdir)
        commands = [] if args.fixed_only else [
            ("auto", TrainConfig(data=data, strategy="auto", budget=args.budget, device=args.device))]
        for fixed in args.fixed:
            strategy, backbone = fixed.split(":")
            commands.append((fixed, TrainConfig(data=data, strategy=strategy, backbone=backbone, device=args.device)))
        for label, config in commands:
            result = run_one(config, workdir, f"{data_name}-{label.replace(':', '-')}")
            rows.append({"data": data_name, "command": label, **result})
            print(f"{data_name} {label}: val {result['val_acc']:.4f} in {result['seconds']:.0f}s ({result['chosen']})",
                  file=sys.stderr)
    return rows


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [SECTION, "",
             f"`--strategy auto --budget {args.budget:.0f}s` against fixed commands at their defaults, seed 0, a cold "
             f"feature cache for every run{f', first {args.limit} images per class and split' if args.limit else ''}. "
             "Regret: the best fixed validation accuracy minus auto's.", "",
             "| data | command | what ran | val accuracy | test accuracy | run (s) |", "|---|---|---|---:|---:|---:|"]
    for data in args.data:
        group = [r for r in rows if r["data"] == data]
        for r in group:
            lines.append(f"| {data} | {r['command']} | {r['chosen']} | {_acc(r['val_acc'])} | {_acc(r['test_acc'])} | "
                         f"{r['seconds']:.0f} |")
        auto = next((r for r in group if r["command"] == "auto"), None)
        fixed = [r for r in group if r["command"] != "auto"]
        if fixed and auto is not None:
            best = max(fixed, key=lambda r: r["val_acc"])
            lines.append(f"| {data} | **regret** | best fixed: {best['command']} | "
                         f"{100 * (best['val_acc'] - auto['val_acc']):+.2f} points | | |")
    flags = f"--data={','.join(args.data)} --budget={args.budget:.0f}s --fixed={','.join(args.fixed)}"
    flags += " --fixed-only" if args.fixed_only else ""
    lines += footer("auto_regret.py", flags, args.limit)
    return "\n".join(lines)


def main() -> None:
    from transferlab.advise.budget import parse_budget

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=",".join(SHARED + BUILTIN), type=lambda s: s.split(","))
    parser.add_argument("--budget", default="10m", type=parse_budget)
    parser.add_argument("--fixed", default=",".join(FIXED), type=lambda s: s.split(","),
                        help="strategy:backbone pairs")
    parser.add_argument("--fixed-only", action="store_true",
                        help="only the fixed commands (to add rows beside an earlier auto run)")
    add_record_arguments(parser)
    record(parser.parse_args(), measure_all, markdown, SECTION)


if __name__ == "__main__":
    main()
