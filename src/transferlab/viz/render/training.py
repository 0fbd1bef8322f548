"""Training results: loss/accuracy curves (raw and EMA-smoothed) and the confusion matrix."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from ...evaluation.curves import ema, phase_changes
from ._figure import new_figure, save, shorten

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
    fig = new_figure(11.0, 4.4)
    for ax, (name, suffixes) in zip(fig.subplots(1, 2), _PANELS):
        _draw_panel(ax, metrics, epochs, name, suffixes, factor)
    fig.suptitle(title or f"Training curves (thin: raw, bold: EMA, factor {factor:g})")
    return save(fig, out_path)


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
    names = [shorten(str(name), 24) for name in class_names]
    side = 2.5 + 0.42 * n + 0.07 * max(len(name) for name in names)
    fig = new_figure(side + 1.2, side)
    ax = fig.subplots()
    vmax = 1.0 if normalize else max(float(values.max()), 1.0)
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax)
    _label_matrix_axes(ax, names)
    _annotate_cells(ax, values, vmax, normalize)
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of true class" if normalize else "count")
    default = "Confusion matrix (rows normalised)" if normalize else "Confusion matrix (counts)"
    ax.set_title(title or default)
    return save(fig, out_path)


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
