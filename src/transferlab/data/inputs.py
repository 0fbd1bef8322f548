"""What a user may hand to `predict`: files, folders, PIL images, numpy arrays, torch tensors.

Everything becomes what the dataset images become during training: 8-bit RGB at the working
size (shorter side `resize_size`, the weights' interpolation), a (3, H, W) uint8 tensor. Files
and folders are decoded exactly as `decode_images` decodes training files; in-memory images
are taken as they are (they were decoded already).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ..errors import TransferlabError
from .decode import decode_images, resize_shorter
from .images import to_rgb
from .scan import Skipped, expand_image_sources

ACCEPTED = "a path, a folder, a PIL image, a numpy array (H, W[, C]) or a torch tensor ([C,] H, W), or a list of them"


@dataclass(frozen=True)
class Inputs:
    """Decoded inputs and what could not be read.

    Attributes:
        names: one per image: the file's path, or `<array 0>`-style names for in-memory ones.
        images: (3, H, W) uint8 tensors at the working size.
        skipped: unreadable files (each reported once in the log).
    """

    names: tuple[str, ...]
    images: tuple[torch.Tensor, ...]
    skipped: tuple[Skipped, ...]


def as_inputs(x, short_side: int, interpolation: str = "bicubic") -> Inputs:
    """Decode `x` (one input or a list/tuple of them) to uint8 tensors at the working size.

    Raises:
        TransferlabError: an item that is none of the accepted kinds (the message names it).
    """
    items = list(x) if isinstance(x, (list, tuple)) else [x]
    # per item: the files it names (a file, or a folder's images) or the in-memory image
    plan = [expand_image_sources([str(item)]) if isinstance(item, (str, os.PathLike)) else to_pil(item, index)
            for index, item in enumerate(items)]
    files = [path for entry in plan if isinstance(entry, list) for path in entry]
    decoded, skipped = decode_images(files, short_side, interpolation) if files else (None, [])
    by_path = dict(zip(decoded.paths, decoded.images)) if decoded else {}
    names, images = [], []
    for index, entry in enumerate(plan):
        if isinstance(entry, list):
            kept = [path for path in entry if path in by_path]
            names += kept
            images += [by_path[path] for path in kept]
        else:
            names.append(f"<{_kind(items[index])} {index}>")
            images.append(_resized(entry, short_side, interpolation))
    return Inputs(tuple(names), tuple(images), tuple(skipped))


def to_pil(item, index: int = 0) -> Image.Image:
    """An in-memory image as 8-bit RGB PIL: uint8 (0-255) or float (0-1) values, grey or colour.

    Raises:
        TransferlabError: not an image, or an array whose shape is not (H, W), (H, W, C) or (C, H, W).
    """
    if isinstance(item, Image.Image):
        return to_rgb(item)
    if isinstance(item, torch.Tensor):
        array = item.detach().cpu().numpy()
        if array.ndim == 3 and array.shape[0] in (1, 3, 4):  # torch's (C, H, W)
            array = array.transpose(1, 2, 0)
        return _from_array(array, index)
    if isinstance(item, np.ndarray):
        return _from_array(item, index)
    raise TransferlabError(f"input {index} is a {type(item).__name__}, not an image: pass {ACCEPTED}")


def _from_array(array: np.ndarray, index: int) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or min(array.shape[:2]) < 1:
        raise TransferlabError(f"input {index}: an array of shape {tuple(array.shape)} is not an image; "
                               f"expected (H, W), (H, W, 3|4) or, for tensors, (3, H, W)")
    if array.dtype != np.uint8:
        values = array.astype(np.float64)
        scale = 255.0 if float(np.nanmax(values, initial=0.0)) <= 1.0 else 1.0  # floats in 0-1 or 0-255
        array = np.clip(np.nan_to_num(values) * scale, 0, 255).round().astype(np.uint8)
    return to_rgb(Image.fromarray(np.ascontiguousarray(array)))


def _resized(image: Image.Image, short_side: int, interpolation: str) -> torch.Tensor:
    resized = resize_shorter(image, short_side, interpolation)
    return torch.from_numpy(np.asarray(resized, dtype=np.uint8).copy()).permute(2, 0, 1)


def _kind(item) -> str:
    return "image" if isinstance(item, Image.Image) else "array"
