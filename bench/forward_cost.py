"""Seconds per image of a frozen extraction by its length: what `advise.cost._marginal` prices.

One batch carries a pass's fixed cost (the engine's request, thread start-up); a whole split
shares it. Prints, per input side and engine, the per-image time of extractions of 32 to 512
images of `DATA`'s training split with efficientnet_lite0 (packaged weights).

    .venv/bin/python bench/forward_cost.py /tmp/data/neu_tiles
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

from transferlab.backbones import BackboneChoice
from transferlab.cli._runtime import tune_allocator
from transferlab.data.decode import decode_images
from transferlab.features import ExtractionOptions, extract_features

COUNTS = (32, 64, 128, 512)


def main(data: str) -> None:
    tune_allocator()
    paths = sorted(str(p) for p in Path(data, "train").glob("*/*"))[::20][: max(COUNTS)]
    for side in (96, 224):
        base = BackboneChoice("efficientnet_lite0", None, side).create()
        pre = base.preprocessing
        decoded, _ = decode_images(paths, pre.resize_size, pre.interpolation)
        for engine in ("openvino", "torch"):
            options = ExtractionOptions(device="cpu", batch_size=32, compile=False, engine=engine, progress=False)
            extract_features(base, decoded.images[:4], None, pre, replace(options, batch_size=4))  # warm-up
            for count in COUNTS:
                best = min(_seconds(base, decoded.images[:count], pre, options) for _ in range(2))
                print(f"{side} px {engine:8s} {count:4d} images: {1000 * best / count:.2f} ms an image ({best:.3f} s)")


def _seconds(base, images, pre, options) -> float:
    start = time.perf_counter()
    extract_features(base, images, None, pre, options)
    return time.perf_counter() - start


if __name__ == "__main__":
    main(sys.argv[1])
