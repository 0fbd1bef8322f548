"""The ladder in one figure: every rung's validation curve, and the final accuracies against the notes'."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from ._figure import new_figure, save

_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
            "tab:olive", "tab:cyan", "tab:gray")


def plot_ladder(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    finals: Sequence[Mapping[str, object]],
    out_path: str | os.PathLike,
    title: str | None = None,
    reference: tuple[str, float] | None = None,
) -> Path:
    """Two panels: validation accuracy per epoch for each rung, and each rung's final accuracies.

    A rung with a single point (a closed-form probe) is drawn as a dashed level across the left
    panel. On the right, bars give validation accuracy (and hatched bars test accuracy where
    there is one), black diamonds the notes' figure, a dotted line the `reference`.

    Args:
        curves: rung -> {"epoch": [...], "val_acc": [...]} (same lengths; NaN points skipped).
        finals: one mapping per rung, in ladder order: name, val, test (or None), notes (or None).
        out_path: PNG file to write.
        title: figure title.
        reference: (label, accuracy) drawn on the right panel, e.g. the Kaggle winner.

    Returns:
        `out_path` as a Path.
    """
    names = [str(f["name"]) for f in finals]
    colours = {name: _COLOURS[i % len(_COLOURS)] for i, name in enumerate(names)}
    fig = new_figure(12.0, 4.8)
    left, right = fig.subplots(1, 2, width_ratios=(1.35, 1.0))
    _draw_curves(left, curves, names, colours)
    _draw_finals(right, finals, colours, reference)
    fig.suptitle(title or "Ladder: validation accuracy per rung")
    return save(fig, out_path)


def _draw_curves(ax: Axes, curves: Mapping[str, Mapping[str, Sequence[float]]], names: list[str],
                 colours: dict[str, str]) -> None:
    longest = max((len(c.get("epoch", ())) for c in curves.values()), default=1)
    for name in names:
        curve = curves.get(name)
        if not curve:
            continue
        x, y = _finite_points(curve.get("epoch", ()), curve.get("val_acc", ()))
        if len(x) == 1:
            ax.axhline(y[0], color=colours[name], ls="--", lw=1.4, label=f"{name} ({y[0]:.3f})")
        elif len(x) > 1:
            ax.plot(x, y, color=colours[name], lw=1.8, marker="o", ms=3, label=f"{name} (best {max(y):.3f})")
    ax.set_xlabel("epoch (0: head on the frozen base)")
    ax.set_ylabel("validation accuracy")
    ax.set_xlim(left=-0.3, right=max(1.0, longest + 0.3))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8, loc="lower right")
    ax.set_title("validation curves", fontsize=10)


def _draw_finals(ax: Axes, finals: Sequence[Mapping[str, object]], colours: dict[str, str],
                 reference: tuple[str, float] | None) -> None:
    rows = np.arange(len(finals))[::-1]  # first rung on top
    values, labelled = [], set()

    def once(label: str) -> str | None:  # each legend entry once
        if label in labelled:
            return None
        labelled.add(label)
        return label

    for row, final in zip(rows, finals):
        name, val, test, notes = final["name"], final.get("val"), final.get("test"), final.get("notes")
        if _is_number(val):
            ax.barh(row + 0.18, val, height=0.36, color=colours[name], label=once("validation"))
            ax.text(val, row + 0.18, f" {val:.3f}", va="center", fontsize=7)
            values.append(val)
        if _is_number(test):
            ax.barh(row - 0.18, test, height=0.36, color=colours[name], alpha=0.45, hatch="//", label=once("test"))
            ax.text(test, row - 0.18, f" {test:.3f}", va="center", fontsize=7)
            values.append(test)
        if _is_number(notes):
            ax.plot([notes], [row], marker="D", color="black", ms=5, ls="none", label=once("the notes (dogs/cats)"))
            values.append(notes)
    if reference is not None:
        ax.axvline(reference[1], color="dimgray", ls=":", lw=1.2, label=f"{reference[0]} {reference[1]:.3f}")
        values.append(reference[1])
    ax.set_yticks(rows, labels=[str(f["name"]) for f in finals])
    low = min(values, default=0.0)
    ax.set_xlim(max(0.0, math.floor((low - 0.05) * 20) / 20), 1.04)
    ax.set_xlabel("accuracy")
    ax.grid(axis="x", alpha=0.3)
    # Below the axes: inside, it would hide the bars of the lowest rung.
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=4, frameon=False)
    ax.set_title("final accuracy", fontsize=10)


def _finite_points(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    pairs = [(float(x), float(y)) for x, y in zip(xs, ys) if _is_number(x) and _is_number(y)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value)
