"""Reliability diagrams: accuracy against confidence per bin, before and after the temperature."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from ...evaluation.calibration import ReliabilityBins
from ._figure import format_value, new_figure, save


def plot_reliability(bins: Mapping[str, tuple[ReliabilityBins, ReliabilityBins]], out_path: str | os.PathLike) -> Path:
    """One panel per split (e.g. val, test): accuracy per confidence bin, before and after calibration.

    Args:
        bins: split name -> (bins before, bins after), from `evaluation.calibration.reliability_bins`.
        out_path: PNG file to write.

    Returns:
        `out_path` as a Path.
    """
    fig = new_figure(4.6 * max(len(bins), 1), 4.4)
    axes = np.atleast_1d(fig.subplots(1, max(len(bins), 1)))
    for ax, (name, (before, after)) in zip(axes, bins.items()):
        _draw_panel(ax, name, before, after)
    fig.suptitle("Reliability: a calibrated model's bars sit on the diagonal")
    return save(fig, out_path)


def _draw_panel(ax: Axes, name: str, before: ReliabilityBins, after: ReliabilityBins) -> None:
    centres = (before.edges[:-1] + before.edges[1:]) / 2
    width = before.edges[1] - before.edges[0]
    for bins, label, colour, shift in ((before, "before", "tab:red", -0.22), (after, "after", "tab:blue", 0.22)):
        filled = bins.counts > 0
        ax.bar(centres[filled] + shift * width, bins.accuracy[filled], width=width * 0.44, color=colour,
               alpha=0.75, label=f"{label} (ECE {format_value(bins.ece)})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (top class)", ylabel="accuracy",
           title=f"{name}: {int(before.counts.sum())} images")
    ax.legend(loc="upper left", fontsize=8)
