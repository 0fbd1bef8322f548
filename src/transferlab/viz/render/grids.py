"""Grids of images with captions, and labelled horizontal bar charts."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._figure import draw_image, format_value, new_figure, save, shorten


def plot_image_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None,
    out_path: str | os.PathLike,
    ncols: int = 4,
    title: str | None = None,
) -> Path:
    """Images in a grid, each with a short caption (top losses, augmentation previews, ...).

    Args:
        images: arrays (H, W, 3) uint8; (H, W) grey and float images in [0, 1] also work.
        titles: one caption per image (wrapped to three lines), or None for no captions.
        out_path: PNG file to write.
        ncols: images per row (fewer if there are fewer images).
        title: optional title above the grid.

    Returns:
        `out_path` as a Path.

    Raises:
        ValueError: no images, or a caption count that does not match.
    """
    if not images:
        raise ValueError("plot_image_grid needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    ncols = max(1, min(ncols, len(images)))
    nrows = math.ceil(len(images) / ncols)
    fig = new_figure(2.3 * ncols, 2.5 * nrows + (0.4 if title else 0.0))
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).reshape(-1)
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < len(images):
            draw_image(ax, images[i], titles[i] if titles is not None else None)
    if title:
        fig.suptitle(title)
    return save(fig, out_path)


def plot_bar_table(
    names: Sequence[str],
    values: Sequence[float],
    out_path: str | os.PathLike,
    xlabel: str = "",
    title: str | None = None,
) -> Path:
    """Horizontal bars, one per name, top to bottom in the given order, labelled with values.

    Args:
        names: bar labels (e.g. class names, layer names).
        values: one number per name; NaN draws no bar and reads "n/a".
        out_path: PNG file to write.
        xlabel: what the values are (e.g. "F1", "validation accuracy").
        title: figure title.

    Returns:
        `out_path` as a Path.

    Raises:
        ValueError: no names, or names and values of different lengths.
    """
    if not names or len(names) != len(values):
        raise ValueError(f"need as many values as names (>= 1); got {len(names)} and {len(values)}")
    data = np.asarray(values, dtype=np.float64)
    labels = [shorten(str(name), 32) for name in names]
    fig = new_figure(7.5, 1.3 + 0.32 * len(labels))
    ax = fig.subplots()
    bars = ax.barh(np.arange(len(labels)), np.nan_to_num(data, nan=0.0), color="tab:blue")
    ax.bar_label(bars, labels=[format_value(v) for v in data], padding=3, fontsize=8)
    ax.set_yticks(np.arange(len(labels)), labels=labels, fontsize=9)
    ax.invert_yaxis()  # first name on top, like a table
    ax.set_xlim(*_bar_limits(data))
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return save(fig, out_path)



def _bar_limits(data: np.ndarray) -> tuple[float, float]:
    """x-limits that include 0 and leave room right of the longest bar for its label."""
    finite = data[np.isfinite(data)]
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = max(0.0, float(finite.max())) if finite.size else 1.0
    span = (high - low) or 1.0
    return low - (0.12 * span if low < 0 else 0.0), high + 0.12 * span
