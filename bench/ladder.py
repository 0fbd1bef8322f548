"""The notes' ladder on dogs vs cats with efficientnet_lite0 on the CPU, next to the notes' VGG16 figures.

Every rung trains on the same 2,000 photos and is scored on the same validation photos with the
same seed (`transferlab ladder` does the work, in a subprocess with the tuned allocator and a
fresh feature cache, so extraction time is counted once, in the first rung that needs it).

By default half of the 600 validation photos (stratified, seeded) become a test split that no
rung ever looks at: validation accuracy also picks each rung's best epoch (and the probe's C),
so the test column is the unbiased one. `--holdout 0` keeps all 600 for validation.

    .venv/bin/python bench/ladder.py --out /tmp/bench-ladder [--write BENCHMARKS.md]
    # smoke test: 20 photos per class and split, a tenth of the epochs
    .venv/bin/python bench/ladder.py --limit 20 --epochs-scale 0.1 --out /tmp/ladder-smoke
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mnist import write_section  # same folder: run as `python bench/ladder.py`

ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "4294967296"}
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cats_vs_dogs"
HEADING = "## Ladder: dogs vs cats, efficientnet_lite0 on the CPU, against the notes' VGG16"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def build_data(source: Path, target: Path, holdout: float, limit: int | None, seed: int) -> dict[str, int]:
    """`target/{train,val[,test]}/<class>/` of links to `source`'s photos; returns images per split.

    `holdout` of each val class (seeded) moves to `test`; `limit` keeps that many per class and split.
    """
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    for split in ("train", "val"):
        for class_dir in sorted(p for p in (source / split).iterdir() if p.is_dir()):
            files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            rng.shuffle(files)
            n_test = round(len(files) * holdout) if split == "val" else 0
            parts = {"test": files[:n_test], split: files[n_test:]}
            for part, chosen in parts.items():
                for path in sorted(chosen[:limit] if limit else chosen):
                    link = target / part / class_dir.name / path.name
                    link.parent.mkdir(parents=True, exist_ok=True)
                    link.symlink_to(path.resolve())
                    counts[part] = counts.get(part, 0) + 1
    return counts


def run_ladder(data: Path, out: Path, cache: Path, args: argparse.Namespace, extra: list[str]) -> float:
    """`transferlab ladder` in a subprocess; returns its wall time."""
    command = [sys.executable, "-m", "transferlab.cli.main", "ladder", str(data), "--out", str(out),
               "--device", args.device, "--seed", str(args.seed), "--epochs-scale", str(args.epochs_scale), *extra]
    env = {**os.environ, **ALLOCATOR, "TRANSFERLAB_CACHE": str(cache)}
    start = time.perf_counter()
    subprocess.run(command, check=False, env=env)
    return time.perf_counter() - start


def section(ladder_dir: Path, counts: dict[str, int], wall: float, command: str) -> str:
    """The BENCHMARKS.md section: the ladder's own table and notes, with the setting."""
    md = (ladder_dir / "ladder.md").read_text(encoding="utf-8").splitlines()
    body = [line for line in md[1:] if not line.startswith("# ")]
    setting = (f"Data: {counts.get('train', 0):,} training photos, {counts.get('val', 0):,} validation, "
               f"{counts.get('test', 0):,} test (taken from the validation photos; the dataset's own test split "
               f"is held out elsewhere). Machine: {os.cpu_count()} logical CPUs, {platform.machine()}. "
               f"Whole ladder: {wall / 60:.1f} min.")
    return "\n".join([HEADING, "", setting, *body, "", f"Command: `{command}`.", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with train/ and val/")
    parser.add_argument("--out", type=Path, help="work folder (default: a temp dir)")
    parser.add_argument("--holdout", type=float, default=0.5, help="share of val photos moved to a test split")
    parser.add_argument("--limit", type=int, help="photos per class and split (smoke tests)")
    parser.add_argument("--epochs-scale", type=float, default=1.0, help="passed to transferlab ladder")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", metavar="BENCHMARKS.md", help="replace (or add) the section in this file")
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="after --: more `transferlab ladder` flags")
    args = parser.parse_args()
    extra = [a for a in args.extra if a != "--"]
    root = args.out or Path(tempfile.mkdtemp(prefix="bench-ladder-"))
    if (root / "data").exists():
        sys.exit(f"{root / 'data'} exists: choose an empty --out")
    counts = build_data(args.data, root / "data", args.holdout, args.limit, args.seed)
    wall = run_ladder(root / "data", root / "ladder", root / "cache", args, extra)
    if not (root / "ladder" / "ladder.json").is_file():
        sys.exit("transferlab ladder wrote no ladder.json: see its error above")
    command = " ".join([".venv/bin/python bench/ladder.py", *sys.argv[1:]])  # the ladder gets the tuned allocator
    text = section(root / "ladder", counts, wall, command)
    print(text)
    if args.write:
        write_section(Path(args.write), HEADING, text)


if __name__ == "__main__":
    main()
