"""The classic image kernels of the notes, applied to a picture the way a conv layer would.

A convolution layer slides a small kernel over the image and, at each position, multiplies
and sums (cross-correlation, as in every deep-learning library). The result is high where the
image contains the kernel's pattern and low elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import TransferlabError

MAX_KERNEL_SIDE = 31


def _kernel(rows, scale: float = 1.0) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32) * np.float32(scale)


NAMED_KERNELS: dict[str, np.ndarray] = {
    "identity": _kernel([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "edge-diagonal": _kernel([[1, 0, -1], [0, 0, 0], [-1, 0, 1]]),
    "edge-laplacian": _kernel([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "edge-all": _kernel([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    "sharpen": _kernel([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "box-blur": _kernel(np.ones((3, 3)), 1 / 9),
    "gaussian-blur": _kernel([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 1 / 16),
}


@dataclass(frozen=True)
class FilteredImage:
    """One kernel applied to one image.

    Attributes:
        name: the kernel's name ("sharpen", "custom 1", ...).
        kernel: (k, k) float32 weights.
        response: (H, W, C) float32, the raw result on the 0-255 scale (may be negative or > 255).
        display: (H, W, C) uint8, the response clipped to 0-255 (how the notes show it).
    """

    name: str
    kernel: np.ndarray
    response: np.ndarray
    display: np.ndarray


def parse_kernel(text: str) -> np.ndarray:
    """A kernel from text: rows separated by ';', values by ',' or spaces; fractions allowed.

    Examples: "0,-1,0;-1,5,-1;0,-1,0" (sharpen), "1/9,1/9,1/9;1/9,1/9,1/9;1/9,1/9,1/9",
    and a common factor first: "1/16 * 1,2,1;2,4,2;1,2,1".

    Raises:
        TransferlabError: not a number, ragged rows, an even side, or larger than 31x31.
    """
    factor, body = Fraction(1), text.strip()
    if "*" in body:
        head, body = body.split("*", 1)
        factor = _number(head, text)
    rows = [row for row in (r.strip() for r in body.split(";")) if row]
    values = [[_number(v, text) * factor for v in re.split(r"[,\s]+", row) if v] for row in rows]
    if not values or any(len(row) != len(values[0]) for row in values):
        raise TransferlabError(f"kernel '{text}': rows must have the same number of values (rows split by ';')")
    height, width = len(values), len(values[0])
    if height % 2 == 0 or width % 2 == 0:
        raise TransferlabError(f"kernel '{text}' is {height}x{width}: both sides must be odd, so it has a centre")
    if max(height, width) > MAX_KERNEL_SIDE:
        raise TransferlabError(f"kernel '{text}' is {height}x{width}: at most {MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE}")
    return np.asarray([[float(v) for v in row] for row in values], dtype=np.float32)


def _number(token: str, text: str) -> Fraction:
    try:
        return Fraction(token.strip())
    except (ValueError, ZeroDivisionError):
        raise TransferlabError(f"kernel '{text}': '{token.strip()}' is not a number (use 0.5, -1 or 1/9)") from None


def apply_kernel(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Cross-correlate each channel of `image` (H, W, C) with `kernel`; edges replicate the border.

    Returns:
        (H, W, C) float32 on the image's scale.
    """
    array = np.asarray(image, dtype=np.float32)
    grey = array.ndim == 2
    planes = torch.from_numpy(array[..., None] if grey else array).permute(2, 0, 1)[:, None]  # (C, 1, H, W)
    weight = torch.from_numpy(np.ascontiguousarray(kernel, dtype=np.float32))[None, None]
    kh, kw = kernel.shape
    padded = F.pad(planes, (kw // 2, kw // 2, kh // 2, kh // 2), mode="replicate")
    out = F.conv2d(padded, weight)[:, 0].permute(1, 2, 0).numpy()  # (H, W, C)
    return out[..., 0] if grey else out


def kernel_gallery(image: np.ndarray, kernels: Mapping[str, np.ndarray] | None = None) -> list[FilteredImage]:
    """Each kernel (default: the notes' named ones, in order) applied to `image` (H, W, 3) uint8."""
    results = []
    for name, kernel in (kernels if kernels is not None else NAMED_KERNELS).items():
        response = apply_kernel(image, kernel)
        display = np.clip(np.round(response), 0, 255).astype(np.uint8)
        results.append(FilteredImage(name, np.asarray(kernel, dtype=np.float32), response, display))
    return results


def choose_kernels(names: str | None, custom: list[str] | tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The named kernels listed in `names` ("sharpen,box-blur"; None: all), then the custom ones.

    Raises:
        UnknownNameError: an unknown kernel name (closest listed).
        TransferlabError: a custom kernel that does not parse.
    """
    from ..errors import unknown_name

    chosen: dict[str, np.ndarray] = {}
    if names is None:
        chosen.update(NAMED_KERNELS)
    else:
        for name in (n.strip() for n in names.split(",") if n.strip()):
            if name not in NAMED_KERNELS:
                raise unknown_name("kernel", name, NAMED_KERNELS)
            chosen[name] = NAMED_KERNELS[name]
    for index, text in enumerate(custom, start=1):
        chosen[f"custom {index}"] = parse_kernel(text)
    if not chosen:
        raise TransferlabError("no kernels chosen: name some, or pass --kernel")
    return chosen
