"""Where the evidence is: Grad-CAM overlays, class maximisation and the images that excite a class."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.patches import Rectangle

from ._figure import draw_image, new_figure, save, shorten


def heatmap_overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45, cmap: str = "jet") -> np.ndarray:
    """`heatmap` (S, S) in [0, 1] coloured with `cmap` and blended over `image` (S, S, 3) uint8.

    Returns:
        (S, S, 3) uint8, usable in any figure or HTML report.
    """
    colours = matplotlib.colormaps[cmap](np.clip(heatmap, 0.0, 1.0))[..., :3]  # (S, S, 3) in [0, 1]
    base = np.asarray(image, dtype=np.float32) / 255.0
    if base.ndim == 2:
        base = np.repeat(base[..., None], 3, axis=2)
    blended = (1.0 - alpha) * base + alpha * colours
    return np.clip(np.round(blended * 255.0), 0, 255).astype(np.uint8)


def plot_gradcam(
    image: np.ndarray,
    cams: Sequence,
    captions: Sequence[str],
    out_path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """The image, then one heatmap overlay per class explained.

    Args:
        image: (S, S, 3) uint8, the crop the network saw.
        cams: `CamResult`s for this image (e.g. predicted class, chosen class).
        captions: one caption per CAM (e.g. "predicted: tabby (62%)").
        out_path: PNG file to write.
        title: figure title; the default names the method and layer.

    Returns:
        `out_path` as a Path.
    """
    if len(captions) != len(cams) or not cams:
        raise ValueError(f"need one caption per CAM (>= 1); got {len(captions)} and {len(cams)}")
    fig = new_figure(3.0 * (len(cams) + 1), 3.5)
    axes = np.atleast_1d(fig.subplots(1, len(cams) + 1))
    draw_image(axes[0], image, "input")
    for ax, cam, caption in zip(axes[1:], cams, captions):
        draw_image(ax, heatmap_overlay(image, cam.heatmap), caption)
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(title or f"{_method_name(cams[0].method)} at {cams[0].layer}", fontsize=10)
    return save(fig, out_path)


def plot_class_maximisation(
    synthesis,
    representatives: Sequence,
    out_path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """The synthesised image of a class, then the real images that activate it most.

    On each real image a rectangle marks the receptive field of the strongest unit of the
    class activation map: the part of the image that unit sees.

    Args:
        synthesis: a `Synthesis` (from `viz.synthesise_class`), or None to show only real images.
        representatives: `Representative`s, best first (may be empty).
        out_path: PNG file to write.
        title: figure title.

    Returns:
        `out_path` as a Path.
    """
    tiles = int(synthesis is not None) + len(representatives)
    if tiles == 0:
        raise ValueError("nothing to draw: no synthesis and no representatives")
    ncols = min(4, tiles)
    nrows = -(-tiles // ncols)
    fig = new_figure(3.0 * ncols, 3.4 * nrows + 0.5)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).reshape(-1)
    index = 0
    if synthesis is not None:
        probability = f", p={synthesis.probability:.2f}" if synthesis.probability is not None else ""
        draw_image(axes[0], synthesis.image, f"synthesised ({len(synthesis.history)} steps{probability})")
        index = 1
    for ax, rep in zip(axes[index:], representatives):
        _draw_representative(ax, rep)
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(title or (synthesis.target if synthesis is not None else "images that activate the class"),
                 fontsize=10)
    return save(fig, out_path)


def _draw_representative(ax, rep) -> None:
    caption = f"{shorten(Path(rep.path).name, 22)} logit {rep.score:.3g} p={rep.probability:.2f}"
    draw_image(ax, heatmap_overlay(rep.display, rep.heatmap, alpha=0.3), caption)
    top, left, bottom, right = rep.box
    # imshow puts pixel centres at integers: pixel k spans k - 0.5 .. k + 0.5
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top,
                           fill=False, edgecolor="lime", linewidth=2.0))


def _method_name(method: str) -> str:
    return {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "hirescam": "HiResCAM"}.get(method, method)
