"""Decode every image once, at the working size, into uint8 tensors kept in memory."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..backbones.preprocessing import Preprocessing
from ..errors import BadImageError
from .images import open_rgb, to_rgb
from .scan import Skipped, report_skips
from .transforms import eval_transform

log = logging.getLogger(__name__)

_RESAMPLE = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}


@dataclass(frozen=True)
class DecodedImages:
    """Images decoded to (3, H, W) uint8 tensors with shorter side `short_side`."""

    paths: tuple[str, ...]
    images: tuple[torch.Tensor, ...]
    short_side: int


def resize_shorter(image: Image.Image, short_side: int, interpolation: str = "bicubic") -> Image.Image:
    """Resize so the shorter side is `short_side` (up or down), keeping the aspect ratio."""
    width, height = image.size
    scale = short_side / min(width, height)
    size = (max(short_side, round(width * scale)), max(short_side, round(height * scale)))
    if size == image.size:
        return image
    return image.resize(size, _RESAMPLE[interpolation])


def decode_one(path: str, short_side: int, interpolation: str = "bicubic") -> torch.Tensor:
    """One file -> (3, H, W) uint8 tensor with shorter side `short_side`."""
    image = resize_shorter(open_rgb(path, min_side=short_side), short_side, interpolation)
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)


def image_to_input(image: Image.Image, pre: Preprocessing) -> torch.Tensor:
    """A decoded RGB image -> the network's input (C, S, S), exactly as every dataset image is prepared."""
    resized = resize_shorter(to_rgb(image), pre.resize_size, pre.interpolation)
    array = torch.from_numpy(np.asarray(resized, dtype=np.uint8).copy()).permute(2, 0, 1)  # (3, H, W)
    return eval_transform(pre)(array)


def decode_images(
    paths: list[str] | tuple[str, ...],
    short_side: int,
    interpolation: str = "bicubic",
    progress: bool = False,
    workers: int | None = None,
) -> tuple[DecodedImages, list[Skipped]]:
    """Decode `paths` in parallel threads; unreadable files are skipped and reported.

    Pillow releases the GIL while decoding, so threads use every core.
    """
    workers = workers or min(8, os.cpu_count() or 1)

    def work(path: str):
        try:
            return decode_one(path, short_side, interpolation)
        except BadImageError as exc:
            return Skipped(path, str(exc).removeprefix(f"{path}: "))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(
            tqdm(pool.map(work, paths), total=len(paths), desc="decode", unit="img", disable=not progress)
        )
    kept = [(p, r) for p, r in zip(paths, results) if isinstance(r, torch.Tensor)]
    skipped = [r for r in results if isinstance(r, Skipped)]
    report_skips(skipped)
    return DecodedImages(tuple(p for p, _ in kept), tuple(r for _, r in kept), short_side), skipped
