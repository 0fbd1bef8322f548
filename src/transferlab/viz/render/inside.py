"""Inside the network: activation-map grids, learned filters, and the notes' classic kernels."""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes

from ._figure import draw_image, new_figure, save, shorten

_DIVERGING = "RdBu_r"  # negative weights blue, positive red, zero white


def plot_activation_grid(
    grid,
    out_path: str | os.PathLike,
    image: np.ndarray | None = None,
    title: str | None = None,
) -> Path:
    """One layer's feature maps for one image, each with its own colour scale.

    The maps are drawn as one montage (one axes, not one per map): 32 maps render in a
    fraction of the time 32 axes take.

    Args:
        grid: an `ActivationGrid` (from `viz.activation_maps`).
        out_path: PNG file to write.
        image: the input as the network saw it (S, S, 3) uint8, shown on the left; None to leave out.
        title: figure title; the default names the layer, its output shape and the channel order.

    Returns:
        `out_path` as a Path.
    """
    count = len(grid.channels)
    ncols = min(8, max(1, math.ceil(math.sqrt(count))))
    nrows = math.ceil(count / ncols)
    tile = 1.45  # inches per map
    left = 2.6 if image is not None else 0.0
    fig = new_figure(max(4.0, left + tile * ncols + 0.3), max(2.8, (tile + 0.22) * nrows + 0.7))
    if image is not None:
        axes = fig.subplots(1, 2, width_ratios=[left, tile * ncols])
        draw_image(axes[0], image, "input")
        axes[0].set_axis_off()
        ax = axes[1]
    else:
        ax = fig.subplots()
    _draw_montage(ax, grid, ncols, nrows)
    channels, height, width = grid.shape
    which = "most active" if grid.order == "top" else "first"
    default = f"{grid.layer}: output {channels}x{height}x{width}, {count} {which} channels (each its own scale)"
    chars = int(11 * fig.get_figwidth())  # about 11 characters per inch at 10 pt
    fig.suptitle("\n".join(textwrap.wrap(title or default, max(chars, 30))), fontsize=10)
    return save(fig, out_path)


def _draw_montage(ax: Axes, grid, ncols: int, nrows: int) -> None:
    """Every map min-max scaled and coloured (viridis) into one RGB array, captions above each."""
    count, height, width = grid.maps.shape
    pad, band = max(1, width // 10), max(2, round(height * 0.22))  # gap between maps, caption room
    cell_h, cell_w = height + band + pad, width + pad
    canvas = np.ones((nrows * cell_h, ncols * cell_w - pad, 3), dtype=np.float32)
    colour = matplotlib.colormaps["viridis"]
    for k in range(count):
        row, col = divmod(k, ncols)
        top, left = row * cell_h + band, col * cell_w
        canvas[top : top + height, left : left + width] = colour(_min_max(grid.maps[k]))[..., :3]
        caption = f"ch {grid.channels[k]}  mean {grid.strengths[k]:.2g}"
        ax.text(left + width / 2, top - 0.5, caption, ha="center", va="bottom", fontsize=6.5)
    ax.imshow(canvas, interpolation="nearest")
    ax.set_axis_off()


def plot_filters(bank, out_path: str | os.PathLike, title: str | None = None) -> Path:
    """The kernels of a convolution, drawn according to `bank.kind`.

    "rgb"/"grey": one tile per filter, each scaled to its own min-max (the first layer's colour
    and edge detectors); "depthwise": one tile per filter on a diverging scale; "per-channel": a row per filter, a column per input channel, one
    diverging scale per filter (blue negative, red positive); "pointwise": 1x1 kernels as a
    filters x input-channels matrix.

    Args:
        bank: a `FilterBank` (from `viz.conv_filters`).
        out_path: PNG file to write.
        title: figure title; the default names the layer and what is shown.

    Returns:
        `out_path` as a Path.
    """
    n, i, kh, kw = bank.weights.shape
    default = f"{bank.layer}: {n} of {bank.total_filters} filters, {kh}x{kw}"
    if bank.kind in ("rgb", "grey", "depthwise"):
        fig = _filter_tiles(bank.weights, bank.kind)
    elif bank.kind == "pointwise":
        fig = _pointwise_matrix(bank.weights[:, :, 0, 0])
        default += f" (1x1: a weight per input channel, first {i} of {bank.in_channels})"
    else:
        fig = _per_channel(bank.weights)
        default += f", first {i} of {bank.in_channels} input channels"
    fig.suptitle("\n".join(textwrap.wrap(title or default, 70)), fontsize=10)
    return save(fig, out_path)


def _filter_tiles(weights: np.ndarray, kind: str):
    count = weights.shape[0]
    ncols = min(8, count)
    nrows = math.ceil(count / ncols)
    fig = new_figure(max(4.0, 1.1 * ncols + 0.4), 1.2 * nrows + 0.7)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).reshape(-1)
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k >= count:
            continue
        if kind == "depthwise":
            limit = float(np.abs(weights[k]).max()) or 1.0
            ax.imshow(weights[k, 0], cmap=_DIVERGING, vmin=-limit, vmax=limit, interpolation="nearest")
        else:
            tile = _min_max(weights[k])  # (I, kh, kw) in [0, 1]
            colour = kind == "rgb"
            ax.imshow(tile.transpose(1, 2, 0) if colour else tile[0], cmap=None if colour else "gray",
                      interpolation="nearest")
        ax.set_title(str(k), fontsize=7)
    return fig


def _per_channel(weights: np.ndarray):
    count, inputs = weights.shape[:2]
    fig = new_figure(max(4.0, 0.9 * inputs + 1.0), 0.9 * count + 0.9)
    axes = np.asarray(fig.subplots(count, inputs, squeeze=False))
    for row in range(count):
        limit = float(np.abs(weights[row]).max()) or 1.0
        for col in range(inputs):
            ax = axes[row, col]
            ax.imshow(weights[row, col], cmap=_DIVERGING, vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(f"filter {row}", fontsize=7)
            if row == 0:
                ax.set_title(f"in {col}", fontsize=7)
    return fig


def _pointwise_matrix(matrix: np.ndarray):
    count, inputs = matrix.shape
    fig = new_figure(min(12.0, max(5.0, 2.0 + 0.2 * inputs)), min(12.0, max(3.0, 1.5 + 0.2 * count)))
    ax = fig.subplots()
    limit = float(np.abs(matrix).max()) or 1.0
    image = ax.imshow(matrix, cmap=_DIVERGING, vmin=-limit, vmax=limit, interpolation="nearest", aspect="auto")
    ax.set_xlabel("input channel")
    ax.set_ylabel("filter")
    fig.colorbar(image, ax=ax, shrink=0.8, label="weight")
    return fig


def plot_kernel_gallery(
    image: np.ndarray, results: Sequence, out_path: str | os.PathLike, title: str | None = None
) -> Path:
    """The original image, then each kernel's result with the kernel's weights as its caption.

    Args:
        image: the input (H, W, 3) uint8.
        results: `FilteredImage`s (from `viz.kernel_gallery`).
        out_path: PNG file to write.
        title: figure title.

    Returns:
        `out_path` as a Path.
    """
    tiles = len(results) + 1
    ncols = min(4, tiles)
    nrows = math.ceil(tiles / ncols)
    aspect = image.shape[0] / image.shape[1]
    caption = 0.25 + 0.13 * max(r.kernel.shape[0] if max(r.kernel.shape) <= 5 else 1 for r in results)
    fig = new_figure(3.0 * ncols, (3.0 * aspect + caption) * nrows + 0.5)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).reshape(-1)
    draw_image(axes[0], image, "original")
    for ax, result in zip(axes[1:], results):
        _kernel_tile(ax, result)
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(title or "Convolution with classic kernels (result clipped to 0-255)", fontsize=10)
    return save(fig, out_path)


def _kernel_tile(ax: Axes, result) -> None:
    ax.imshow(result.display, cmap="gray" if result.display.ndim == 2 else None)
    ax.set_title(f"{shorten(result.name, 24)}\n{format_kernel(result.kernel)}", fontsize=7, family="monospace")


def format_kernel(kernel: np.ndarray, max_side: int = 5) -> str:
    """Rows of a kernel as text, with small fractions (1/9, 1/16) written as such."""
    if max(kernel.shape) > max_side:
        return f"{kernel.shape[0]}x{kernel.shape[1]} kernel"
    cells = [[_fraction(v) for v in row] for row in kernel]
    width = max(len(c) for row in cells for c in row)
    return "\n".join("[" + " ".join(c.rjust(width) for c in row) + "]" for row in cells)


def _fraction(value: float) -> str:
    exact = Fraction(float(value)).limit_denominator(64)
    if abs(float(exact) - float(value)) > 1e-6:
        return f"{value:.3g}"
    return str(exact)


def _min_max(array: np.ndarray) -> np.ndarray:
    low, high = float(array.min()), float(array.max())
    return (array - low) / (high - low) if high > low else np.zeros_like(array)
