"""The learning-rate range test: loss against rate on a log axis, the suggested rate marked."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ._figure import new_figure, save


def plot_lr_find(
    rates: Sequence[float],
    losses: Sequence[float],
    suggestion: float,
    out_path: str | os.PathLike,
    raw_losses: Sequence[float] | None = None,
    rule: str = "suggestion",
    title: str | None = None,
) -> Path:
    """Smoothed loss (bold) and raw mini-batch loss (faint) by rate, with a line at `suggestion`.

    Args:
        rates: the rate at each step (increasing).
        losses: the smoothed loss at each step.
        suggestion: the rate to mark.
        out_path: PNG file to write.
        raw_losses: the mini-batch losses, drawn faint behind the smoothed curve.
        rule: how the suggestion was chosen, for the legend.
        title: figure title.

    Returns:
        `out_path` as a Path.
    """
    fig = new_figure(6.4, 4.2)
    ax = fig.subplots()
    if raw_losses is not None:
        ax.plot(rates, raw_losses, color="tab:blue", lw=1.0, alpha=0.3, label="mini-batch loss")
    ax.plot(rates, losses, color="tab:blue", lw=2.2, label="smoothed loss (EMA 0.98)")
    ax.axvline(suggestion, color="tab:red", ls="--", lw=1.2, label=f"{rule}: {suggestion:.2g}")
    ax.set_xscale("log")
    # the last points explode: the range stops at 4x the smoothed minimum, so the descent stays readable
    low, high = min([*losses, *(raw_losses or ())]), min(max(losses), 4 * min(losses))
    if high > low:
        margin = 0.05 * (high - low)
        ax.set_ylim(low - margin, high + margin)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "Learning-rate range test")
    return save(fig, out_path)
