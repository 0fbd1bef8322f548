"""`advise` and `train --strategy auto` against every fixed strategy, on one or more datasets.

For each dataset: `transferlab advise` (its sweep table and decision are printed), then
`transferlab train --strategy auto`, then each fixed strategy with default settings, each in a
fresh subprocess with its own empty feature cache (so every wall time includes its own feature
extraction; `--shared-cache` shares one cache for quick accuracy-only runs). Prints a markdown
table per dataset: strategy, val accuracy, val loss, wall time, what auto chose.

    python bench/advise.py ../shared/datasets/cats_vs_dogs ../shared/datasets/neu_steel_defects
    python bench/advise.py ../shared/datasets/neu_steel_defects --budget 10m --strategies linear,finetune
    python bench/advise.py digits --strategies linear --shared-cache        # smoke test
    python bench/advise.py ../shared/datasets/cats_vs_dogs --strategies scratch --no-auto
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "4294967296"}
FIXED = ("linear", "features", "features-aug", "finetune", "scratch")


def _cli(args: list[str], cache: Path, stdout=subprocess.PIPE) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, **ALLOCATOR, "TRANSFERLAB_CACHE": str(cache)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "transferlab.cli.main", *args], env=env, stdout=stdout,
                          text=True, check=True)
    return done, time.perf_counter() - start


def run_advise(data: str, cache: Path, budget: str | None, model: list[str]) -> str:
    """The advice as a person reads it (sweep table, quadrant, candidates, plan, reasons)."""
    done, wall = _cli(["advise", data, "--quiet", *model, *(["--budget", budget] if budget else [])], cache)
    return done.stdout + f"\n(advise wall time: {wall:.0f} s)\n"


def run_train(data: str, strategy: str, out: Path, cache: Path, extra: list[str]) -> dict:
    """One `transferlab train` in a subprocess: its summary and measured wall time."""
    _, wall = _cli(["train", data, "--strategy", strategy, "--out", str(out), "--quiet", *extra], cache,
                   stdout=subprocess.DEVNULL)
    return {"strategy": strategy, "wall": wall, "summary": json.loads((out / "summary.json").read_text())}


def table(rows: list[dict]) -> str:
    """Markdown: strategy, val accuracy and loss, wall time, and for auto what it chose."""
    lines = ["| strategy | val accuracy | val loss | wall time | chosen |", "|---|---:|---:|---:|---|"]
    for row in rows:
        s = row["summary"]
        decision = s["details"].get("decision")
        chosen = ""
        if decision:
            settings = {k: v for k, v in decision["settings"].items() if v is not None and k != "backbone"}
            chosen = f"`{decision['strategy']}` " + ", ".join(f"{k}={v}" for k, v in settings.items())
        lines.append(f"| `{row['strategy']}` | {s['val']['accuracy']:.4f} | {s['val']['loss']:.4f} | "
                     f"{row['wall']:.0f} s | {chosen} |")
    return "\n".join(lines)


def bench_dataset(data: str, strategies: list[str], root: Path, shared: bool, budget: str | None,
                  model: list[str], extra: list[str], with_auto: bool = True) -> str:
    """Advice, auto and the fixed strategies on one dataset; returns its markdown section."""
    name = Path(data).name
    cache = lambda tag: root / name / ("cache" if shared else f"cache-{tag}")  # noqa: E731
    extra = [*model, *extra]
    rows, advice = [], ""
    if with_auto:
        advice = run_advise(data, cache("advise"), budget, model)
        print(advice, file=sys.stderr)
        auto_extra = [*extra, *(["--budget", budget] if budget else [])]
        rows.append(run_train(data, "auto", root / name / "auto", cache("auto"), auto_extra))
        print(f"{name} auto: val {rows[-1]['summary']['val']['accuracy']:.4f} in {rows[-1]['wall']:.0f} s",
              file=sys.stderr)
    for strategy in strategies:
        rows.append(run_train(data, strategy, root / name / strategy, cache(strategy), extra))
        print(f"{name} {strategy}: val {rows[-1]['summary']['val']['accuracy']:.4f} in {rows[-1]['wall']:.0f} s",
              file=sys.stderr)
    advice_block = f"```\n{advice.strip()}\n```\n\n" if advice else ""
    return f"### {name}\n\n{advice_block}{table(rows)}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="+", help="datasets (folders, CSVs or built-in names)")
    parser.add_argument("--strategies", default=",".join(FIXED), help="fixed strategies to compare (comma-separated)")
    parser.add_argument("--budget", help="also give auto (and advise) this budget, e.g. 10m")
    parser.add_argument("--out", help="keep run directories here (default: a temporary folder)")
    parser.add_argument("--shared-cache", action="store_true", help="one feature cache per dataset for all runs")
    parser.add_argument("--no-auto", action="store_true", help="only the fixed strategies (no advise, no auto)")
    parser.add_argument("--backbone", default="efficientnet_lite0", help="for advise and every run")
    parser.add_argument("--weights", default="imagenet", help="for advise and every run")
    parser.add_argument("--input-size", help="for advise and every run")
    parser.add_argument("--train-args", default="", help="more train flags for every run, e.g. '--seed 1'")
    args = parser.parse_args()
    strategies = [s for s in args.strategies.split(",") if s]
    unknown = sorted(set(strategies) - set(FIXED))
    if unknown:
        parser.error(f"unknown strategies {unknown}; choose from {', '.join(FIXED)}")
    root = Path(args.out or tempfile.mkdtemp(prefix="bench-advise-"))
    extra = shlex.split(args.train_args)
    model = ["--backbone", args.backbone, "--weights", args.weights,
             *(["--input-size", args.input_size] if args.input_size else [])]
    sections = [bench_dataset(d, strategies, root, args.shared_cache, args.budget, model, extra, not args.no_auto)
                for d in args.data]
    print("\n".join(sections))
    print(f"(run directories in {root})", file=sys.stderr)


if __name__ == "__main__":
    main()
