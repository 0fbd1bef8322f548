"""1 process against N processes (torchrun, gloo on the CPU) on this machine, same data and settings.

For each process count: `transferlab train --strategy linear` on a cold feature cache (the
time is mostly sharded feature extraction) and `--strategy finetune` for a few epochs (the
phase-2 epochs are DistributedDataParallel steps; their time is read from metrics.csv). One
process runs as the `transferlab` command does (all threads); N processes run through
`--devices N` (torchrun gives each one thread on the CPU). Prints a markdown table.

    .venv/bin/python bench/ddp.py [--data DIR] [--processes 1,2] [--epochs 2]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cats_vs_dogs"


def train(data: str, strategy: str, processes: int, out: Path, cache: Path, extra: list[str]) -> dict:
    """One `transferlab train` (in a subprocess); its summary, wall time and phase-2 epoch times."""
    env = {**os.environ, "TRANSFERLAB_CACHE": str(cache)}
    command = [sys.executable, "-m", "transferlab", "train", data, "--strategy", strategy, "--out", str(out),
               "--quiet", "--device", "cpu", *extra, *(["--devices", str(processes)] if processes > 1 else [])]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    epochs = []  # `linear` trains no epochs and writes no metrics.csv
    if (out / "metrics.csv").is_file():
        with (out / "metrics.csv").open() as handle:
            epochs = [float(r["seconds"]) for r in csv.DictReader(handle) if r["phase"] not in ("head", "linear")]
    return {"summary": json.loads((out / "summary.json").read_text()), "wall": wall, "epochs": epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--processes", default="1,2", type=lambda s: [int(v) for v in s.split(",")])
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs")
    parser.add_argument("--batch-size", type=int, default=32, help="global batch")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for n in args.processes:
            linear = train(args.data, "linear", n, root / f"linear-{n}", root / f"cache-linear-{n}", [])
            tune = train(args.data, "finetune", n, root / f"finetune-{n}", root / f"cache-finetune-{n}",
                         ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--patience", "0"])
            rows.append((n, linear, tune))
            print(f"{n} process(es): linear {linear['wall']:.0f} s, finetune epochs {tune['epochs']}", file=sys.stderr)
    base_linear, base_epoch = rows[0][1]["wall"], sum(rows[0][2]["epochs"]) / len(rows[0][2]["epochs"])
    lines = ["| processes | `linear` wall time (cold cache) | speed-up | fine-tuning epoch | speed-up | "
             "`linear` val acc | `finetune` val acc |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for n, linear, tune in rows:
        epoch = sum(tune["epochs"]) / len(tune["epochs"])
        lines.append(f"| {n} | {linear['wall']:.0f} s | {base_linear / linear['wall']:.2f}x | {epoch:.0f} s | "
                     f"{base_epoch / epoch:.2f}x | {linear['summary']['val']['accuracy']:.4f} | "
                     f"{tune['summary']['val']['accuracy']:.4f} |")
    flags = f"--data={args.data} --processes={','.join(map(str, args.processes))} --epochs={args.epochs}"
    lines += ["", f"Command: `.venv/bin/python bench/ddp.py {flags}`.",
              f"Machine: {platform.machine()}, {os.cpu_count()} logical CPUs; measured "
              f"{datetime.date.today().isoformat()}."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
