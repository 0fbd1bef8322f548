"""Shared plumbing of every drawing module: Agg figures, atomic PNG writes, small text helpers."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ...paths import atomic_path

DPI = 110


def new_figure(width: float, height: float) -> Figure:
    """A Figure on its own Agg canvas: no pyplot, no global registry, nothing to close."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, out_path: str | os.PathLike) -> Path:
    """Write `fig` as PNG atomically, then drop its artists so memory goes back at once."""
    out = Path(out_path)
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png")  # tmp ends in .tmp, so the format must be explicit
    finally:
        fig.clear()
    return out


def draw_image(ax: Axes, image: np.ndarray, caption: str | None) -> None:
    """Show one image (uint8 RGB, grey, or float in 0-1) with an optional wrapped caption."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype.kind == "f":
        array = np.clip(array, 0.0, 1.0)
    small = max(array.shape[:2]) < 96  # tiny images: show pixels, do not blur them
    cmap = "gray" if array.ndim == 2 else None
    ax.imshow(array, cmap=cmap, interpolation="nearest" if small else "antialiased")
    if caption:
        wrapped = textwrap.wrap(caption, width=26, max_lines=3, placeholder="…")
        ax.set_title("\n".join(wrapped), fontsize=8)


def format_value(value: float) -> str:
    """A number for a label: 3 decimals when small, 4 significant digits otherwise, n/a if not finite."""
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.4g}"


def shorten(text: str, width: int) -> str:
    """`text` cut to `width` characters with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"
