"""The augmentation preview: one row per source image, its eval crop then augmented views."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._figure import draw_image, new_figure, save, shorten


def plot_augment_grid(
    rows: Sequence[Sequence[np.ndarray]],
    row_labels: Sequence[str],
    out_path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """Draw what the network sees: each row a source image, first column as evaluated, then views.

    Args:
        rows: per source image, displayable arrays (S, S, 3) uint8 or (S, S) grey: the image after
            eval preprocessing first, then its augmented versions.
        row_labels: one label per row (class and file name), written left of the row.
        out_path: PNG file to write.
        title: optional title (e.g. the augmentation spec).

    Returns:
        `out_path` as a Path.

    Raises:
        ValueError: no rows, rows of different lengths, or a label count that does not match.
    """
    if not rows or any(len(row) != len(rows[0]) for row in rows) or not len(rows[0]):
        raise ValueError("plot_augment_grid needs rows of equal, non-zero length")
    if len(row_labels) != len(rows):
        raise ValueError(f"got {len(row_labels)} row labels for {len(rows)} rows")
    nrows, ncols = len(rows), len(rows[0])
    fig = new_figure(1.7 * ncols + 0.6, 1.75 * nrows + (0.45 if title else 0.2))
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False))
    for r, (row, label) in enumerate(zip(rows, row_labels)):
        for c, image in enumerate(row):
            ax = axes[r, c]
            draw_image(ax, np.asarray(image), None)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("original" if c == 0 else f"view {c}", fontsize=9)
            if c == 0:
                ax.set_ylabel(shorten(label, 28), fontsize=8)
        for spine in axes[r, 0].spines.values():  # the un-augmented column stands apart
            spine.set_edgecolor("tab:blue")
            spine.set_linewidth(2)
    if title:
        fig.suptitle(shorten(title, 150), fontsize=10)
    return save(fig, out_path)
