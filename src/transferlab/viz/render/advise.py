"""The depth sweep: cross-validated probe accuracy by depth, best and chosen layers marked."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._figure import new_figure, save


def plot_depth_sweep(
    layers: Sequence[str],
    means: Sequence[float],
    stds: Sequence[float],
    dims: Sequence[int],
    out_path: str | os.PathLike,
    chosen: str | None = "",
    title: str | None = None,
) -> Path:
    """Accuracy by depth (mean +- std over folds), shallow to deep, with the best layer starred.

    Args:
        layers: layer labels shallow to deep (`end` for the end of the conv base).
        means: mean CV accuracy per layer.
        stds: standard deviation over folds per layer.
        dims: feature size per layer (shown under the names).
        out_path: PNG file to write.
        chosen: the layer a decision picked (None: the end); "" marks nothing extra.
        title: figure title.

    Returns:
        `out_path` as a Path.

    Raises:
        ValueError: the sequences differ in length or are empty.
    """
    if not layers or not len(layers) == len(means) == len(stds) == len(dims):
        raise ValueError("plot_depth_sweep needs one mean, std and dim per layer, and at least one layer")
    x, m, s = np.arange(len(layers)), np.asarray(means, float), np.asarray(stds, float)
    fig = new_figure(max(6.0, 0.9 * len(layers) + 2.0), 4.2)
    ax = fig.subplots()
    ax.fill_between(x, m - s, m + s, color="tab:blue", alpha=0.15, label="+- 1 std over folds")
    ax.plot(x, m, "o-", color="tab:blue", label="CV accuracy (logistic probe)")
    best = int(np.argmax(m))
    ax.plot([best], [m[best]], marker="*", markersize=16, color="tab:orange", linestyle="none",
            label=f"best: {layers[best]} ({m[best]:.4f})")
    if chosen != "":
        label = "end" if chosen is None else chosen
        if label in layers and layers.index(label) != best:
            pick = layers.index(label)
            ax.plot([pick], [m[pick]], marker="D", markersize=9, color="tab:green", linestyle="none",
                    label=f"chosen: {label} ({m[pick]:.4f}, within one standard error)")
    ax.set_xticks(x, [f"{name}\n{dim}" for name, dim in zip(layers, dims)], fontsize=8)
    ax.set_xlabel("layer (shallow to deep) and feature size")
    ax.set_ylabel("cross-validated accuracy on train")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or "Depth sweep: which layer to cut at")
    return save(fig, out_path)
