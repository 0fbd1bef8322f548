"""Time to the first prediction: `transferlab predict IMAGE --json` wall time, warm caches, per checkout.

Each checkout's `src` is put first on PYTHONPATH, so two commits can be compared side by side in
one run (say a worktree of the old commit and this one). The settings are interleaved, a first
round is a warm-up, and the median of the rest is reported.

Usage:
    .venv/bin/python bench/predict_start.py --checkouts /work/wt-before,. [--engines torch,openvino] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TUNED_ENV = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "4294967296"}


def sample_photo(folder: Path) -> Path:
    from PIL import Image
    from skimage import data

    path = folder / "chelsea.png"
    Image.fromarray(data.chelsea()).save(path)
    return path


def seconds_to_answer(checkout: Path, engine: str, image: Path) -> float:
    env = {**os.environ, **TUNED_ENV, "PYTHONPATH": str(checkout.resolve() / "src")}
    command = [sys.executable, "-m", "transferlab", "predict", str(image), "--engine", engine, "--json"]
    start = time.perf_counter()
    subprocess.run(command, env=env, capture_output=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", default=".", type=lambda s: [Path(p) for p in s.split(",")])
    parser.add_argument("--engines", default="torch,openvino", type=lambda s: s.split(","))
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds after the warm-up round")
    args = parser.parse_args()
    settings = [(checkout, engine) for checkout in args.checkouts for engine in args.engines]
    times = {setting: [] for setting in settings}
    with tempfile.TemporaryDirectory() as scratch:
        image = sample_photo(Path(scratch))
        for round_ in range(args.repeats + 1):
            for setting in settings:
                seconds = seconds_to_answer(*setting, image)
                if round_:
                    times[setting].append(seconds)
                print(f"round {round_} {setting[0]} --engine {setting[1]}: {seconds:.2f} s", file=sys.stderr)
    print("| checkout | " + " | ".join(f"--engine {e}" for e in args.engines) + " |")
    print("|---|" + "---:|" * len(args.engines))
    for checkout in args.checkouts:
        cells = " | ".join(f"{statistics.median(times[(checkout, e)]):.2f} s" for e in args.engines)
        print(f"| {checkout} | {cells} |")


if __name__ == "__main__":
    main()
