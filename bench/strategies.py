"""Every strategy on one dataset with default settings: validation accuracy, loss and wall time.

Each strategy trains in a fresh subprocess (so the allocator tuning of the CLI applies and one run's
memory does not weigh on the next) through the `transferlab train` command, with its own empty
feature cache unless `--shared-cache` is given, so the times include feature extraction.

    python bench/strategies.py ../shared/datasets/cats_vs_dogs --strategies linear,features,finetune
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "4294967296"}


def run_strategy(data: str, strategy: str, out: Path, cache: Path, extra: list[str]) -> dict:
    """Train one strategy in a subprocess; return its summary with the measured wall time."""
    command = [sys.executable, "-m", "transferlab.cli.main", "train", data, "--strategy", strategy, "--out", str(out),
               "--quiet", *extra]
    env = {**os.environ, **ALLOCATOR, "TRANSFERLAB_CACHE": str(cache)}
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    summary = json.loads((out / "summary.json").read_text())
    return {"strategy": strategy, "wall": wall, "summary": summary}


def table(rows: list[dict]) -> str:
    """Markdown: strategy, val accuracy, val loss, test accuracy when present, wall time."""
    lines = ["| strategy | val accuracy | val loss | test accuracy | epochs | wall time |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        s = row["summary"]
        test = f"{s['test']['accuracy']:.4f}" if "test" in s else "-"
        lines.append(f"| `{row['strategy']}` | {s['val']['accuracy']:.4f} | {s['val']['loss']:.4f} | {test} | "
                     f"{s['epochs']} | {row['wall']:.0f} s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--strategies", default="linear,features,features-aug,finetune")
    parser.add_argument("--out", default=None, help="keep the run directories here (default: a temp dir)")
    parser.add_argument("--shared-cache", action="store_true", help="one feature cache for all strategies")
    args, extra = parser.parse_known_args()  # unknown flags go to every `train` run
    root = Path(args.out or tempfile.mkdtemp(prefix="bench-strategies-"))
    rows = []
    for strategy in args.strategies.split(","):
        cache = root / ("cache" if args.shared_cache else f"cache-{strategy}")
        rows.append(run_strategy(args.data, strategy, root / strategy, cache, extra))
        print(f"{strategy}: val {rows[-1]['summary']['val']['accuracy']:.4f} in {rows[-1]['wall']:.0f} s",
              file=sys.stderr)
    print(table(rows))


if __name__ == "__main__":
    main()
