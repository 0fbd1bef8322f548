"""Drawing to PNG files: the only module in transferlab that imports matplotlib.

Every function builds its own `matplotlib.figure.Figure` on an Agg canvas (never pyplot, so no
global figure registry, backend switch or open window), writes it atomically (temp file in the
same folder, then `os.replace`) and returns the output path. Inputs are plain data computed
elsewhere (`evaluation`, `features`, ...).
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..evaluation.curves import ema, phase_changes
from ..paths import atomic_path

_DPI = 110
_SERIES_COLOURS = {"train": "tab:blue", "val": "tab:orange"}
_OTHER_COLOURS = ("tab:green", "tab:red", "tab:purple", "tab:brown")
_PANELS = (("loss", ("loss",)), ("accuracy", ("acc", "accuracy")))


def plot_curves(
    metrics: Mapping[str, Sequence[float | str]],
    out_path: str | os.PathLike,
    title: str | None = None,
    factor: float = 0.8,
) -> Path:
    """Loss and accuracy per epoch, raw (thin, faint) and EMA-smoothed (bold), in two panels.

    Columns ending in `loss` go to the left panel, columns ending in `acc`/`accuracy` to the
    right one (train in blue, validation in orange). A `phase` column, if present, adds a
    dashed vertical line where the phase changes (e.g. head training -> fine-tuning).

    Args:
        metrics: column name -> per-epoch values, as from `evaluation.read_metrics_csv`.
        out_path: PNG file to write.
        title: figure title; a default explains the line styles.
        factor: EMA smoothing factor in [0, 1) (see `evaluation.ema`).

    Returns:
        `out_path` as a Path.
    """
    epochs = _epochs(metrics)
    fig = _new_figure(11.0, 4.4)
    for ax, (name, suffixes) in zip(fig.subplots(1, 2), _PANELS):
        _draw_panel(ax, metrics, epochs, name, suffixes, factor)
    fig.suptitle(title or f"Training curves (thin: raw, bold: EMA, factor {factor:g})")
    return _save(fig, out_path)


def plot_confusion(
    confusion: Sequence[Sequence[float]] | np.ndarray,
    class_names: Sequence[str],
    out_path: str | os.PathLike,
    normalize: bool = False,
    title: str | None = None,
) -> Path:
    """Annotated confusion-matrix heatmap (rows = true class, columns = predicted class).

    Args:
        confusion: (C, C) counts, e.g. `EvaluationResult.confusion`.
        class_names: C names, in matrix order.
        out_path: PNG file to write.
        normalize: divide each row by its total, so the diagonal reads as per-class recall.
        title: figure title; a default says whether counts or fractions are shown.

    Returns:
        `out_path` as a Path.

    Raises:
        ValueError: the matrix is not square or does not match `class_names`.
    """
    counts = np.asarray(confusion, dtype=np.float64)
    n = len(class_names)
    if counts.shape != (n, n) or n == 0:
        raise ValueError(f"confusion must be ({n}, {n}) for {n} class names, got {counts.shape}")
    values = _row_normalize(counts) if normalize else counts
    names = [_shorten(str(name), 24) for name in class_names]
    side = 2.5 + 0.42 * n + 0.07 * max(len(name) for name in names)
    fig = _new_figure(side + 1.2, side)
    ax = fig.subplots()
    vmax = 1.0 if normalize else max(float(values.max()), 1.0)
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax)
    _label_matrix_axes(ax, names)
    _annotate_cells(ax, values, vmax, normalize)
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of true class" if normalize else "count")
    default = "Confusion matrix (rows normalised)" if normalize else "Confusion matrix (counts)"
    ax.set_title(title or default)
    return _save(fig, out_path)


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
    fig = _new_figure(2.3 * ncols, 2.5 * nrows + (0.4 if title else 0.0))
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).reshape(-1)
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < len(images):
            _draw_image(ax, images[i], titles[i] if titles is not None else None)
    if title:
        fig.suptitle(title)
    return _save(fig, out_path)


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
    labels = [_shorten(str(name), 32) for name in names]
    fig = _new_figure(7.5, 1.3 + 0.32 * len(labels))
    ax = fig.subplots()
    bars = ax.barh(np.arange(len(labels)), np.nan_to_num(data, nan=0.0), color="tab:blue")
    ax.bar_label(bars, labels=[_format_value(v) for v in data], padding=3, fontsize=8)
    ax.set_yticks(np.arange(len(labels)), labels=labels, fontsize=9)
    ax.invert_yaxis()  # first name on top, like a table
    ax.set_xlim(*_bar_limits(data))
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return _save(fig, out_path)


# -- figures and files -------------------------------------------------------------------------


def _new_figure(width: float, height: float) -> Figure:
    """A Figure on its own Agg canvas: no pyplot, no global registry, nothing to close."""
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, out_path: str | os.PathLike) -> Path:
    """Write `fig` as PNG atomically, then drop its artists so memory goes back at once."""
    out = Path(out_path)
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png")  # tmp ends in .tmp, so the format must be explicit
    finally:
        fig.clear()
    return out


# -- curves ------------------------------------------------------------------------------------


def _epochs(metrics: Mapping[str, Sequence[float | str]]) -> list[float]:
    """The `epoch` column if numeric, else 1..N for the longest numeric column."""
    epoch = metrics.get("epoch")
    if epoch is not None and _is_numeric(epoch):
        return [float(v) for v in epoch]
    lengths = [len(v) for v in metrics.values() if _is_numeric(v)]
    return [float(i) for i in range(1, max(lengths, default=0) + 1)]


def _draw_panel(
    ax: Axes,
    metrics: Mapping[str, Sequence[float | str]],
    epochs: list[float],
    name: str,
    suffixes: tuple[str, ...],
    factor: float,
) -> None:
    """One panel: raw and smoothed series for every column ending in one of `suffixes`."""
    columns = [c for c in metrics if c.endswith(suffixes) and _is_numeric(metrics[c])]
    for index, column in enumerate(columns):
        _draw_series(ax, column, metrics[column], epochs, factor, index)
    if "phase" in metrics:
        _draw_phase_lines(ax, metrics["phase"], epochs)
    if not columns:
        ax.text(0.5, 0.5, f"no {name} columns", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(fontsize=8)
    ax.set_xlabel("epoch")
    ax.set_ylabel(name)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def _draw_series(
    ax: Axes, column: str, values: Sequence[float], epochs: list[float], factor: float, index: int
) -> None:
    """A raw series (thin, faint, dotted with markers) and its EMA (bold), one colour."""
    n = min(len(values), len(epochs))
    x, y = epochs[:n], [float(v) for v in values[:n]]
    label = _series_label(column)
    colour = _SERIES_COLOURS.get(label, _OTHER_COLOURS[index % len(_OTHER_COLOURS)])
    ax.plot(x, y, color=colour, lw=1.0, alpha=0.35, marker="o", ms=3, label=f"{label} (raw)")
    ax.plot(x, ema(y, factor), color=colour, lw=2.2, label=f"{label} (EMA)")


def _draw_phase_lines(ax: Axes, phases: Sequence[float | str], epochs: list[float]) -> None:
    """Dashed lines halfway between the last epoch of a phase and the first of the next."""
    names = [str(p) for p in phases[: len(epochs)]]
    for k, i in enumerate(phase_changes(names)):
        x = (epochs[i - 1] + epochs[i]) / 2
        ax.axvline(x, color="dimgray", ls="--", lw=1, label="phase change" if k == 0 else None)
        ax.text(x, 0.98, f" {names[i]}", transform=ax.get_xaxis_transform(), va="top",
                fontsize=8, color="dimgray")


def _series_label(column: str) -> str:
    """`train_loss` -> `train`, `val_acc` -> `val`; a bare `loss` stays `loss`."""
    for suffix in ("_accuracy", "_acc", "_loss"):
        if column.endswith(suffix) and len(column) > len(suffix):
            return column[: -len(suffix)]
    return column


def _is_numeric(values: Sequence[float | str]) -> bool:
    return len(values) > 0 and all(
        isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in values
    )


# -- confusion matrix --------------------------------------------------------------------------


def _row_normalize(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its sum; rows with no samples stay zero."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def _label_matrix_axes(ax: Axes, names: list[str]) -> None:
    n = len(names)
    size = max(6.0, min(10.0, 240.0 / n))
    ax.set_xticks(np.arange(n), labels=names, rotation=45, ha="right", rotation_mode="anchor",
                  fontsize=size)
    ax.set_yticks(np.arange(n), labels=names, fontsize=size)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")


def _annotate_cells(ax: Axes, values: np.ndarray, vmax: float, normalize: bool) -> None:
    """Write each cell's value in it, white on dark cells; short formats for many classes."""
    n = values.shape[0]
    size = max(6.5, min(11.0, 200.0 / n))
    for (row, col), value in np.ndenumerate(values):
        text = _cell_text(value, normalize, compact=n > 12)
        colour = "white" if value > 0.5 * vmax else "black"
        # Cells sit inside the axes; leaving them out of the layout saves a second text pass.
        ax.text(col, row, text, ha="center", va="center", fontsize=size, color=colour,
                in_layout=False)


def _cell_text(value: float, normalize: bool, compact: bool) -> str:
    if not normalize:
        return str(int(round(value)))
    if value == 0.0:
        return "" if compact else "0"  # many empty cells read faster than a sea of zeros
    if value == 1.0:
        return "1"
    text = f"{value:.2f}"
    return text[1:] if compact else text  # "0.83" -> ".83" keeps small cells readable


# -- images and bars ---------------------------------------------------------------------------


def _draw_image(ax: Axes, image: np.ndarray, caption: str | None) -> None:
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


def _bar_limits(data: np.ndarray) -> tuple[float, float]:
    """x-limits that include 0 and leave room right of the longest bar for its label."""
    finite = data[np.isfinite(data)]
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = max(0.0, float(finite.max())) if finite.size else 1.0
    span = (high - low) or 1.0
    return low - (0.12 * span if low < 0 else 0.0), high + 0.12 * span


def _format_value(value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.4g}"


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
