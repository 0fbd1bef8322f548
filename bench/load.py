"""Peak memory of feature extraction at 2,000 and 20,000 images: it must not grow with the dataset.

Generates small JPEGs (64x64, two classes) once, then extracts features in a fresh subprocess
per dataset size, as `transferlab train --strategy linear` does (`features.cached_features`,
which decodes and extracts chunk by chunk), and reports the peak resident memory of each
process (`ru_maxrss`) next to its memory before extraction. `--mode all-at-once` measures the
earlier path (decode every image, then extract) for contrast. Prints a markdown table.

Usage (the default backbone is efficientnet_lite0 with its packaged ImageNet weights, at a
small input size so that 20,000 images take minutes, not hours, on 2 CPU cores):
    .venv/bin/python bench/load.py                            # 2,000 and 20,000 images
    .venv/bin/python bench/load.py --sizes 2000               # one size
    .venv/bin/python bench/load.py --sizes 2000 20000 --mode streaming all-at-once
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CLASSES = ("red", "blue")


def make_images(folder: Path, count: int, side: int) -> list[str]:
    """`count` noisy JPEGs under `folder/<class>/` (made once; existing files are reused)."""
    from PIL import Image

    paths = []
    rng = np.random.default_rng(0)
    for i in range(count):
        label = CLASSES[i % 2]
        path = folder / label / f"{i:06d}.jpg"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            base = np.array((200, 40, 40) if label == "red" else (40, 40, 200))
            pixels = np.clip(base + rng.normal(0, 40, (side, side, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(path, quality=90)
        paths.append(str(path))
    return paths


def _resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def worker(args: argparse.Namespace) -> None:
    """One size, one mode, in this process; print the measurements as JSON."""
    from transferlab.cli._runtime import tune_allocator

    tune_allocator()  # as the transferlab command does, before anything allocates
    from transferlab.backbones import create_backbone
    from transferlab.data.decode import decode_images
    from transferlab.data.scan import ImageSet
    from transferlab.features import ExtractionOptions, cached_features
    from transferlab.features.extract import extract_features

    paths = make_images(Path(args.data_dir), args.count, args.image_side)
    images = ImageSet(tuple(paths), tuple(i % 2 for i in range(len(paths))), CLASSES)
    backbone = create_backbone(args.backbone, args.weights, include_top=False, input_size=args.input_size)
    pre = backbone.preprocessing
    before, start = _resident_bytes(), time.perf_counter()
    # torch.compile switches itself on from 20,000 images; its own memory would weigh on one row only
    options = ExtractionOptions(batch_size=args.batch_size, device="cpu", compile=args.compile)
    if args.mode == "streaming":
        features = cached_features(backbone, images, options=options, root=Path(args.cache_dir)).features
    else:
        decoded, _ = decode_images(images.paths, pre.resize_size, pre.interpolation)
        features = extract_features(backbone, decoded.images, None, pre, options)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"images": len(features), "before": before, "peak": peak, "features": features.nbytes,
                      "seconds": seconds, "feature_dim": int(features.shape[1])}))


def _measure(args: argparse.Namespace, count: int, mode: str, cache: Path) -> dict:
    argv = [sys.executable, __file__, "--worker", "--count", str(count), "--mode", mode, "--data-dir", args.data_dir,
            "--cache-dir", str(cache / f"{mode}-{count}"), "--backbone", args.backbone, "--weights", args.weights,
            "--input-size", str(args.input_size), "--image-side", str(args.image_side),
            "--batch-size", str(args.batch_size), *(["--compile"] if args.compile else [])]
    env = {**os.environ, "TRANSFERLAB_OFFLINE": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker failed ({count} images, {mode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def table(rows: list[tuple[str, dict]], args: argparse.Namespace) -> str:
    lines = [f"Feature extraction memory: {args.backbone} ({args.weights}) at input {args.input_size}, "
             f"{args.image_side}x{args.image_side} JPEGs, batch {args.batch_size}, CPU, torch.compile "
             f"{'on' if args.compile else 'off'}.", "",
             "| images | mode | RSS before | peak RSS | growth | features | time | images/s |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for mode, r in rows:
        lines.append(f"| {r['images']:,} | {mode} | {_mib(r['before'])} | {_mib(r['peak'])} | "
                     f"{_mib(r['peak'] - r['before'])} | {_mib(r['features'])} | {r['seconds']:.1f} s | "
                     f"{r['images'] / r['seconds']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--mode", nargs="+", default=["streaming"], choices=("streaming", "all-at-once"))
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--weights", default="imagenet")
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--image-side", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--compile", action="store_true", help="torch.compile the network (default: off)")
    parser.add_argument("--data-dir", help="where the generated images go (kept; default: a temporary folder)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if isinstance(args.mode, list):
            args.mode = args.mode[0]
        worker(args)
        return
    with tempfile.TemporaryDirectory(prefix="transferlab-load-") as tmp:
        args.data_dir = args.data_dir or str(Path(tmp) / "images")
        make_images(Path(args.data_dir), max(args.sizes), args.image_side)
        rows = [(mode, _measure(args, count, mode, Path(tmp))) for count in sorted(args.sizes) for mode in args.mode]
    print(table(rows, args))


if __name__ == "__main__":
    main()
