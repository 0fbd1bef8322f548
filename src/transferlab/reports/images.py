"""Images for the report: PNGs the run wrote, fresh plots, and thumbnails of dataset images."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.images import open_rgb
from .document import Figure

THUMB_SIDE = 160  # thumbnails fit in a THUMB_SIDE square
_MIN_SHOWN = 96  # tiny images (8x8 digits) are enlarged, pixel for pixel, to at least this side
_JPEG_ABOVE = 64 * 64  # larger thumbnails are photos: JPEG is ~10x smaller than PNG for them


def figure_from_file(path: str | os.PathLike, caption: str = "", wide: bool = True,
                     source: str | None = None) -> Figure:
    """A PNG or JPEG file embedded as it is (the run's curves.png, confusion.png, ...).

    Raises:
        OSError: the file cannot be read or is not a PNG/JPEG image.
    """
    path = Path(path)
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        if image.format not in ("PNG", "JPEG"):
            raise OSError(f"{path}: {image.format} is not embedded; expected PNG or JPEG")
        mime = "image/png" if image.format == "PNG" else "image/jpeg"
        width, height = image.size
    return Figure(data, mime, width, height, caption, source=source or path.name, wide=wide)


def render_figure(draw: Callable[[Path], object], caption: str = "", source: str | None = None) -> Figure:
    """Run a `viz.render` function into a temporary PNG and embed the result.

    Args:
        draw: called with the PNG path to write (e.g. `lambda p: plot_confusion(m, names, p)`).
        caption: text under the figure.
        source: what the JSON says it was drawn from.
    """
    with tempfile.TemporaryDirectory(prefix="transferlab-report-") as tmp:
        target = Path(tmp) / "figure.png"
        draw(target)
        figure = figure_from_file(target, caption, wide=True, source=source)
    return figure


def thumbnail(path: str | os.PathLike, caption: str = "", side: int = THUMB_SIDE, alt: str = "") -> Figure:
    """A dataset image shrunk to fit a `side` square (tiny images enlarged without blurring).

    Raises:
        BadImageError: the image is missing or cannot be decoded.
    """
    image = open_rgb(path, min_side=side)
    return figure_from_array(np.asarray(image), caption, side, alt=alt, source=str(path))


def figure_from_array(array: np.ndarray, caption: str = "", side: int = THUMB_SIDE, alt: str = "",
                      source: str | None = None) -> Figure:
    """An image array (H, W, 3) or (H, W), uint8 or float in 0-1, fitted to a `side` square."""
    image = Image.fromarray(_to_uint8(array))
    image = _fit(image, side)
    buffer = io.BytesIO()
    if image.width * image.height > _JPEG_ABOVE and image.mode == "RGB":
        image.save(buffer, format="JPEG", quality=85)
        mime = "image/jpeg"
    else:
        image.save(buffer, format="PNG", optimize=True)
        mime = "image/png"
    return Figure(buffer.getvalue(), mime, image.width, image.height, caption, alt=alt, source=source)


def fit_square(image: np.ndarray, side: int) -> np.ndarray:
    """A (square) image resized to `side` x `side`: NEAREST when enlarging (pixels stay sharp),
    LANCZOS when shrinking."""
    pil = Image.fromarray(_rgb(image))
    method = Image.Resampling.NEAREST if max(pil.size) < side else Image.Resampling.LANCZOS
    return np.asarray(pil.resize((side, side), method))


def strip(images: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """Same-height uint8 RGB images side by side, separated by white `gap`-pixel bars."""
    height = images[0].shape[0]
    bar = np.full((height, gap, 3), 255, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for image in images:
        parts += [bar, _rgb(image)] if parts else [_rgb(image)]
    return np.concatenate(parts, axis=1)


def draw_box(image: np.ndarray, box: tuple[int, int, int, int], colour=(0, 255, 0), width: int = 2) -> np.ndarray:
    """A copy of `image` (H, W, 3) with the outline of `box` (top, left, bottom, right; exclusive)."""
    out = _rgb(image).copy()
    top, left, bottom, right = box
    bottom, right = max(bottom, top + 1), max(right, left + 1)
    out[top:top + width, left:right] = colour
    out[max(top, bottom - width):bottom, left:right] = colour
    out[top:bottom, left:left + width] = colour
    out[top:bottom, max(left, right - width):right] = colour
    return out


def _rgb(image: np.ndarray) -> np.ndarray:
    array = _to_uint8(image)
    return np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array


def _fit(image: Image.Image, side: int) -> Image.Image:
    """Shrink to fit a `side` square; enlarge tiny images by a whole factor with NEAREST."""
    longest = max(image.size)
    if longest > side:
        scale = side / longest
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        return image.resize(size, Image.Resampling.LANCZOS)
    if longest < _MIN_SHOWN:
        factor = -(-_MIN_SHOWN // longest)  # ceil: 8 px -> x12 = 96 px
        return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    return image


def _to_uint8(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype.kind == "f":
        array = np.round(np.clip(array, 0.0, 1.0) * 255.0)
    return array.astype(np.uint8)
