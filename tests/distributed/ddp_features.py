"""Run under torchrun: cached features of an image folder, sharded over the processes.

    torchrun --standalone --nproc_per_node 2 ddp_features.py FOLDER WEIGHTS CACHE OUT.npz

Rank 0 writes the features it received (all of them, in the folder's order) to OUT.npz.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from transferlab.backbones import create_backbone
from transferlab.data.scan import scan_class_folders
from transferlab.engine.distributed import current_world, finish, init_distributed
from transferlab.features import ExtractionOptions, cached_features


def main(folder: str, weights: str, cache: str, out: str) -> None:
    world = init_distributed("cpu")
    base = create_backbone("tiny_cnn", weights, include_top=False, input_size=32)
    images, _ = scan_class_folders(Path(folder))
    result = cached_features(base, images, options=ExtractionOptions(batch_size=4, device="cpu"), root=Path(cache))
    if world.is_main:
        np.savez(out, features=result.features, labels=result.labels, paths=np.array(result.paths),
                 world=world.size, from_cache=result.from_cache)
    finish()


if __name__ == "__main__":
    main(*sys.argv[1:5])
