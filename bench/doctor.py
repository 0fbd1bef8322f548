"""`transferlab doctor` on planted faults: recall at k and false findings per kind, and wall time.

For each dataset, a copy is made in a temporary folder with faults planted (seeded):
  - 2 % of the training images moved (copied) into another class folder: flipped labels;
  - 10 training images copied byte for byte into val (same class): exact duplicates across splits;
  - 10 training images re-encoded at JPEG quality 70, resized to 90 % and cropped by 4 px
    (`doctor.duplicates.augmented_copy`) into val: near duplicates across splits;
  - 10 images of another dataset dropped into random training classes: outliers.
The checkup runs with efficientnet_lite0 (packaged ImageNet weights) on a cold feature cache,
then again on the warm one. For each kind, k = the number planted: "found" counts planted faults
among the top k findings of that kind, "other" the top-k findings that were not planted (they
may be real faults of the original data: the JSON written with --json lists them).

Usage:
    .venv/bin/python bench/doctor.py [--data cats_vs_dogs,plant_leaves] [--other flowers]
    .venv/bin/python bench/doctor.py --data cats_vs_dogs --limit 40 --no-write   # smoke test
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from throughput import _machine, write_section  # noqa: E402

SECTION = "## Data checkup (doctor): planted faults"
DATASETS = ROOT.parent / "shared" / "datasets"
FLIP_SHARE, PLANTED = 0.02, 10
KNOWN_PAIR = ("dog.74.jpg", "dog.180.jpg")  # a near-identical pair in cats_vs_dogs/train/dogs


def dataset_dir(name: str) -> Path:
    path = Path(name)
    return path if path.is_dir() else DATASETS / name


def copy_dataset(source: Path, target: Path, limit: int | None) -> None:
    """train/ and val/ of `source` copied to `target` (the first `limit` files per class if given)."""
    for split in ("train", "val"):
        for folder in sorted((source / split).iterdir()):
            files = sorted(folder.iterdir())[:limit] if limit else sorted(folder.iterdir())
            (target / split / folder.name).mkdir(parents=True, exist_ok=True)
            for file in files:
                shutil.copyfile(file, target / split / folder.name / file.name)


def plant(root: Path, other: Path, seed: int) -> dict:
    """Plant the faults into the copy at `root`; what was planted, by kind (paths in the copy)."""
    from transferlab.data import open_rgb
    from transferlab.doctor.duplicates import augmented_copy

    rng = random.Random(seed)
    classes = sorted(p.name for p in (root / "train").iterdir())
    train = sorted(str(p) for c in classes for p in (root / "train" / c).iterdir())
    picks = rng.sample(train, max(1, round(FLIP_SHARE * len(train))) + 2 * PLANTED)
    flips, exact, near = picks[:-2 * PLANTED], picks[-2 * PLANTED:-PLANTED], picks[-PLANTED:]
    planted = {"label": [], "exact-duplicate": [], "near-duplicate": [], "outlier": []}
    for path in flips:
        source = Path(path)
        target = root / "train" / rng.choice([c for c in classes if c != source.parent.name]) / f"flip_{source.name}"
        source.rename(target)
        planted["label"].append({"path": str(target), "true": source.parent.name})
    for path in exact:
        source = Path(path)
        target = root / "val" / source.parent.name / f"dup_{source.name}"
        shutil.copyfile(source, target)
        planted["exact-duplicate"].append({"paths": sorted([str(source), str(target)])})
    for path in near:
        source = Path(path)
        target = root / "val" / source.parent.name / f"near_{source.stem}.jpg"
        augmented_copy(open_rgb(source)).save(target, quality=95)  # as decoded (EXIF orientation applied)
        planted["near-duplicate"].append({"paths": sorted([str(source), str(target)])})
    foreign = sorted(str(p) for p in (other / "train").rglob("*") if p.is_file())
    for path in rng.sample(foreign, PLANTED):
        target = root / "train" / rng.choice(classes) / f"other_{Path(path).name}"
        shutil.copyfile(path, target)
        planted["outlier"].append({"path": str(target)})
    return planted


def score(checkup, planted: dict) -> dict:
    """Per kind: planted, found in the top k (k = planted), top-k findings not planted."""
    rows = {}
    everything = {p for items in planted.values() for item in items for p in item.get("paths", [item.get("path")])}
    for kind, items in planted.items():
        keys = {tuple(item["paths"]) if "paths" in item else (item["path"],) for item in items}
        top = checkup.findings[kind][:len(items)]
        hits = [f for f in top if tuple(sorted(f.paths)) in keys]
        other = [f for f in top if tuple(sorted(f.paths)) not in keys]
        rows[kind] = {"planted": len(items), "found": len(hits), "reported": len(checkup.findings[kind]),
                      "other": [f.to_dict() for f in other],
                      "other_planted": sum(bool(set(f.paths) & everything) for f in other)}
        if kind == "label":
            true = {item["path"]: item["true"] for item in items}
            rows[kind]["suggested_right"] = sum(f.suggested == true[f.paths[0]] for f in hits)
        if kind in ("exact-duplicate", "near-duplicate"):
            leaks = {tuple(sorted(f.paths)) for f in checkup.findings[kind] if f.leak}
            rows[kind]["leaks_found"] = len(keys & leaks)
    return rows


def known_pair(checkup) -> int | None:
    """Rank (1-based) of the known dog.74/dog.180 pair among near duplicates, or None."""
    for rank, finding in enumerate(checkup.findings["near-duplicate"], start=1):
        if {Path(p).name for p in finding.paths} == set(KNOWN_PAIR):
            return rank
    return None


def measure(name: str, args, workdir: Path) -> dict:
    from transferlab.backbones import BackboneChoice
    from transferlab.doctor import DoctorOptions, checkup
    from transferlab.features import ExtractionOptions

    root = workdir / name
    copy_dataset(dataset_dir(name), root, args.limit)
    planted = plant(root, dataset_dir(args.other), args.seed)
    os.environ["TRANSFERLAB_CACHE"] = str(workdir / f"cache-{name}")
    options = DoctorOptions(seed=args.seed, extraction=ExtractionOptions(device=args.device))
    times = []
    for _ in range(2):  # cold, then warm
        start = time.perf_counter()
        result = checkup(str(root), BackboneChoice("efficientnet_lite0", "imagenet"), options)
        times.append(time.perf_counter() - start)
    check = result.threshold_check
    return {"data": name, "images": sum(result.images.values()), "cold_s": times[0], "warm_s": times[1],
            "kinds": score(result, planted), "known_pair_rank": known_pair(result) if name == "cats_vs_dogs" else None,
            "threshold": {"copies": check.copies, "caught": check.caught, "min_similarity": check.min_similarity,
                          "min_pixel_similarity": check.min_pixel_similarity},
            "top_other": {kind: [f.to_dict() for f in found[:30]] for kind, found in result.findings.items()}}


def markdown(rows: list[dict], args) -> str:
    lines = [SECTION, "",
             "Faults planted into copies of the datasets (seeded): 2 % of training labels flipped, 10 exact and 10 "
             "near duplicates (JPEG q70, 90 % size, 4 px crop) of training images put into val, 10 images of "
             f"`{args.other}` dropped into training classes. k = the number planted; *found* = planted faults in "
             "the top k findings of the kind; *other* = top-k findings that were not planted as this kind "
             "(in brackets: of them, images planted as another kind); *reported* = all "
             "findings of the kind. Duplicate rows also count the planted leaks among all reported leaks.", "",
             "| dataset | images | kind | planted (k) | found in top k | other in top k | reported | notes |",
             "|---|---:|---|---:|---:|---:|---:|---|"]
    for row in rows:
        for kind, r in row["kinds"].items():
            note = ""
            if "suggested_right" in r:
                note = f"suggested class right for {r['suggested_right']} of {r['found']}"
            if "leaks_found" in r:
                note = f"{r['leaks_found']}/{r['planted']} flagged as leaks"
            lines.append(f"| {row['data']} | {row['images']} | {kind} | {r['planted']} | {r['found']} | "
                         f"{len(r['other'])} ({r['other_planted']}) | {r['reported']} | {note} |")
    lines.append("")
    for row in rows:
        t = row["threshold"]
        known = ""
        if row["known_pair_rank"] is not None or row["data"] == "cats_vs_dogs":
            known = (f" Known pair dog.74/dog.180: near-duplicate rank {row['known_pair_rank']}."
                     if row["known_pair_rank"] else " Known pair dog.74/dog.180: not found.")
        lines.append(f"- {row['data']}: checkup {row['cold_s']:.1f} s on a cold feature cache, "
                     f"{row['warm_s']:.1f} s warm; the near-duplicate rule found {t['caught']}/{t['copies']} augmented "
                     f"copies of sample images (lowest similarity {t['min_similarity']:.3f} features, "
                     f"{t['min_pixel_similarity']:.3f} thumbnails)."
                     + known)
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                     if v not in (None, False) and k not in ("no_write", "json", "workdir"))
    lines += ["", f"Command: `.venv/bin/python bench/doctor.py {flags}`.",
              f"Machine: {_machine()}; measured {datetime.date.today().isoformat()}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="cats_vs_dogs,plant_leaves", help="comma-separated datasets")
    parser.add_argument("--other", default="flowers", help="dataset the outliers are taken from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--limit", type=int, help="images per class and split (smoke tests)")
    parser.add_argument("--json", help="also write the raw rows (with the unplanted findings) to this file")
    parser.add_argument("--workdir", help="keep the planted copies and caches here (default: a temporary folder)")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave BENCHMARKS.md")
    args = parser.parse_args()
    from transferlab.cli._runtime import cli_logging, tune_allocator

    tune_allocator()
    with tempfile.TemporaryDirectory() as tmp, cli_logging(quiet=True):
        workdir = Path(args.workdir or tmp)
        rows = [measure(name, args, workdir) for name in args.data.split(",")]
        text = markdown(rows, args)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2, default=str))
    print(text)
    if not args.no_write:
        write_section(text, SECTION)


if __name__ == "__main__":
    main()
