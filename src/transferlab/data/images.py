"""Decoding one image file safely: any mode to RGB, EXIF orientation, bombs refused, small decode."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import BadImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
MAX_PIXELS = 89_478_485  # Pillow's own default bomb limit (~0.25 GiB of RGBA)


def is_image_name(path: str | os.PathLike) -> bool:
    """True for a visible file whose suffix is an image format transferlab reads."""
    name = Path(path).name
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES


def open_rgb(path: str | os.PathLike, min_side: int | None = None) -> Image.Image:
    """Decode `path` into an 8-bit RGB image.

    Args:
        path: the image file.
        min_side: if given, JPEGs much larger than this are decoded at a reduced DCT scale
            (draft mode), never below `min_side` on the shorter side.

    Raises:
        BadImageError: the file is missing, empty, not an image, truncated, or too large.
    """
    path = Path(path)
    with _reasons_for(path), warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            _refuse_bombs(image)
            if min_side and image.format == "JPEG":
                image.draft("RGB", _draft_size(image.size, min_side))
            image.load()
            return to_rgb(ImageOps.exif_transpose(image))


def read_header(path: str | os.PathLike) -> tuple[tuple[int, int], str]:
    """Size and mode of `path` from its header alone (nothing decoded).

    Raises:
        BadImageError: as `open_rgb`, for what a header shows (missing, empty, not an image, too large).
    """
    path = Path(path)
    with _reasons_for(path), warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            _refuse_bombs(image)
            return image.size, image.mode


@contextlib.contextmanager
def _reasons_for(path: Path) -> Iterator[None]:
    """Pillow's exceptions as one `BadImageError` naming `path` and the reason."""
    try:
        yield
    except BadImageError:
        raise
    except FileNotFoundError:
        raise BadImageError(f"{path}: file not found") from None
    except UnidentifiedImageError:
        reason = "empty file" if path.stat().st_size == 0 else "not an image Pillow can read"
        raise BadImageError(f"{path}: {reason}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImageError(f"{path}: refused, too many pixels ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadImageError(f"{path}: cannot decode ({exc})") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode (L, P, RGBA, CMYK, I;16, F, ...) to 8-bit RGB."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(array.max()), 1.0)
        array = np.clip(array / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(array, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _refuse_bombs(image: Image.Image) -> None:
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise BadImageError(
            f"{image.filename}: refused, {width}x{height} pixels exceeds the limit of {MAX_PIXELS}"
        )
    if width < 1 or height < 1:
        raise BadImageError(f"{image.filename}: image has no pixels")


def _draft_size(size: tuple[int, int], min_side: int) -> tuple[int, int]:
    """The draft request that keeps the shorter side at least `min_side` after DCT scaling."""
    width, height = size
    scale = min_side / min(width, height)
    return max(1, int(width * scale)), max(1, int(height * scale))
