"""The augmentation preview: one row per source image, its eval crop then augmented views;
below them, when batch mixing is on, one row of MixUp/CutMix examples per source image."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from ._figure import draw_image, new_figure, save, shorten


def plot_augment_grid(
    rows: Sequence[Sequence[np.ndarray]],
    row_labels: Sequence[str],
    out_path: str | os.PathLike,
    title: str | None = None,
    mixed: Sequence[tuple[str, Sequence[tuple[np.ndarray, str]]]] = (),
) -> Path:
    """Draw what the network sees: each row a source image, first column as evaluated, then views.

    Args:
        rows: per source image, displayable arrays (S, S, 3) uint8 or (S, S) grey: the image after
            eval preprocessing first, then its augmented versions.
        row_labels: one label per row (class and file name), written left of the row.
        out_path: PNG file to write.
        title: optional title (e.g. the augmentation spec).
        mixed: rows of batch-mixed examples drawn after `rows`: per row a label (what is mixed
            with what) and its cells, each a displayable array and its caption (the soft label);
            at most one cell fewer than the rows above have columns.

    Returns:
        `out_path` as a Path.

    Raises:
        ValueError: no rows, rows of different lengths, a label count that does not match, or a
            mixed row longer than the views.
    """
    if not rows or any(len(row) != len(rows[0]) for row in rows) or not len(rows[0]):
        raise ValueError("plot_augment_grid needs rows of equal, non-zero length")
    if len(row_labels) != len(rows):
        raise ValueError(f"got {len(row_labels)} row labels for {len(rows)} rows")
    if any(len(cells) >= len(rows[0]) for _, cells in mixed):
        raise ValueError("a mixed row has more cells than the grid has views")
    nrows, ncols = len(rows) + len(mixed), len(rows[0])
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
    for r, (label, cells) in enumerate(mixed, start=len(rows)):
        _draw_mixed_row(axes[r], label, cells)
    if title:
        fig.suptitle(shorten(title, 150), fontsize=10)
    return save(fig, out_path)


def _draw_mixed_row(axes: Sequence[Axes], label: str, cells: Sequence[tuple[np.ndarray, str]]) -> None:
    """The row's label where the original would be, then each mixed image under its soft label."""
    axes[0].axis("off")
    axes[0].text(0.5, 0.5, shorten(label, 60).replace(" + ", "\n+ "), ha="center", va="center", fontsize=8,
                 transform=axes[0].transAxes, wrap=True)
    for ax, (image, caption) in zip(axes[1:], cells):
        draw_image(ax, np.asarray(image), caption)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[1 + len(cells):]:
        ax.axis("off")
