"""Sections that look inside the trained network, computed by `viz`: where the model looked on
its worst mistakes (Grad-CAM), what its layers output (activation maps), what its first layer
learned (filters), and which images excite each class most (with receptive fields).

Sizes are kept small so the report stays a matter of seconds on a CPU; `transferlab` viz
commands (and the `viz` API) go further on any image and layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from ...errors import BadImageError, TransferlabError
from ...strategies.registry import FROZEN_BASE
from ...viz import (activation_maps, class_activation_maps, conv_filters, default_layer, heatmap_overlay,
                    plot_filters, prepare_image, receptive_fields)
from ...viz.layers import spatial_stages
from ...viz.sources import model_device
from ..collect import RunData
from ..document import Block, Figures, Text
from ..images import draw_box, figure_from_array, fit_square, render_figure, strip
from .model import meta_copy

GRADCAM_IMAGES = 8  # top losses explained
ACTIVATION_CHANNELS = 12  # per layer, the most active
MAP_TILE = 88  # pixels per activation map
CLASS_CANDIDATES = 8  # validation images of a class scored to find its representatives
CLASS_IMAGES = 2  # representatives shown per class
MAX_CLASSES = 10
TILE = 160  # pixels per image tile


@contextlib.contextmanager
def _evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """`model` in eval mode (BatchNorm and dropout fixed), each module's own flag restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def gradcam(run: RunData) -> list[Block] | None:
    """Grad-CAM of the worst validation predictions: evidence for the predicted and the true class."""
    rows = (run.evaluation("val") or {}).get("top_losses") or []
    if not rows:
        return None
    classifier, pre = run.model
    kept, prepared = _readable(rows, pre, limit=GRADCAM_IMAGES)
    if not prepared:
        return [Text("The top-loss images can no longer be read (moved or deleted).", tone="warning")]
    inputs = torch.stack([p.tensor for p in prepared]).to(model_device(classifier))
    with _evaluating(classifier):
        layer = _gradcam_layer(run, classifier, inputs[:1])
        predicted = class_activation_maps(classifier, inputs, layer, [r["predicted"] for r in kept], "gradcam")
        true = class_activation_maps(classifier, inputs, layer, [r["true"] for r in kept], "gradcam")
    names = run.classes
    figures = [_cam_figure(row, image.display, p, t, names) for row, image, p, t in zip(kept, prepared, predicted, true)]
    intro = Text(f"Grad-CAM at layer {layer}: red marks the regions whose activations raised the score of a "
                 f"class. Each strip: the input as the network saw it, the evidence for the predicted class, "
                 f"and (for mistakes) the evidence for the true class.")
    return [intro, Figures(tuple(figures), columns=2)]


def _readable(rows: list[dict], pre, limit: int | None = None) -> tuple[list[dict], list]:
    """The rows whose image can be read (at most `limit`), and those images prepared for the model."""
    kept, prepared = [], []
    for row in rows:
        if limit is not None and len(kept) >= limit:
            break
        try:
            prepared.append(prepare_image(row["path"], pre))
            kept.append(row)
        except BadImageError:
            continue
    return kept, prepared


def _cam_figure(row: dict, display, predicted, true, names: list[str]):
    def name(index: int) -> str:
        return names[index] if 0 <= index < len(names) else str(index)

    tiles = [display, heatmap_overlay(display, predicted.heatmap)]
    wrong = row["true"] != row["predicted"]
    caption = f"{'✗' if wrong else '✓'} true {name(row['true'])}: evidence for {name(row['predicted'])} " \
              f"(p {predicted.probability:.2f})"
    if wrong:
        tiles.append(heatmap_overlay(display, true.heatmap))
        caption += f", then for {name(row['true'])} (p {true.probability:.2f})"
    tiles = [fit_square(t, TILE) for t in tiles]
    return figure_from_array(strip(tiles), caption, side=TILE * len(tiles) + 8, source=row["path"])


def activations(run: RunData) -> list[Block] | None:
    """Feature maps of a shallow, a middle and the deepest spatial stage for one validation image."""
    rows = (run.evaluation("val") or {}).get("top_losses") or []
    classifier, pre = run.model
    kept, prepared = _readable(list(reversed(rows)), pre, limit=1)  # the most confident listed image
    if not prepared:
        return None
    image = prepared[0]
    inputs = image.tensor[None].to(model_device(classifier))
    with _evaluating(classifier):
        stages = [name for name, _ in spatial_stages(classifier, inputs)]
        if not stages:
            return [Text("No layer of this model keeps spatial maps at its input size.")]
        layers = list(dict.fromkeys([stages[0], stages[(len(stages) - 1) // 2], stages[-1]]))
        grids = activation_maps(classifier, image.tensor, layers, count=ACTIVATION_CHANNELS)
    label = kept[0].get("true_name", kept[0]["true"])
    intro = Text(f"What the layers output for one validation image of class {label}: the "
                 f"{ACTIVATION_CHANNELS} most active channels of a shallow, a middle and the deepest stage, each "
                 f"map on its own colour scale (yellow high). Shallow layers respond to edges, colours and "
                 f"textures; deeper ones to larger, more specific patterns, on coarser maps.")
    source = Figures((figure_from_array(image.display, f"input ({label})", side=MAP_TILE, source=image.path),))
    return [intro, source, *(_channel_maps(grid) for grid in grids)]


def _channel_maps(grid) -> Figures:
    """One layer's maps as a row of thumbnails, coloured with viridis."""
    tiles = []
    for channel, strength, fmap in zip(grid.channels, grid.strengths, grid.maps):
        low, high = float(fmap.min()), float(fmap.max())
        scaled = (fmap - low) / (high - low) if high > low else np.zeros_like(fmap)
        blank = np.zeros((*fmap.shape, 3), dtype=np.uint8)
        coloured = heatmap_overlay(blank, scaled, alpha=1.0, cmap="viridis")  # the colour map alone
        tiles.append(figure_from_array(fit_square(coloured, MAP_TILE), f"ch {channel} ({strength:.2g})",
                                       side=MAP_TILE, source=grid.layer))
    channels, height, width = grid.shape
    return Figures(tuple(tiles), title=f"{grid.layer}: {channels} channels of {height}x{width}",
                   columns=len(tiles))


def filters(run: RunData) -> list[Block] | None:
    """The kernels of the first convolution, the one that looks at the pixels."""
    classifier, _ = run.model
    bank = conv_filters(classifier)
    frozen = run.strategy in FROZEN_BASE
    origin = " They are the pretrained weights, unchanged: the base was frozen." if frozen else ""
    figure = render_figure(lambda out: plot_filters(bank, out), f"Filters of {bank.layer} ({bank.kind}).",
                           source=bank.layer)
    return [Text(f"The first convolution's filters: {bank.total_filters} kernels of "
                 f"{bank.weights.shape[-2]}x{bank.weights.shape[-1]} pixels, the edge, colour and texture "
                 f"detectors everything else is built on.{origin}"), Figures((figure,))]


def class_images(run: RunData) -> list[Block] | None:
    """Per class, the validation images with the highest score for it: where the evidence is, and
    the receptive field of a mid-level unit at its peak."""
    classifier, pre = run.model
    names = run.classes[:MAX_CLASSES]
    kept, prepared = _class_candidates(run, pre, len(names))
    if not prepared:
        return None
    device = model_device(classifier)
    with _evaluating(classifier):
        logits = _logits(classifier, [p.tensor for p in prepared], device)  # (N, K)
        picked = _best_per_class(logits, kept, len(names))
        inputs = torch.stack([prepared[i].tensor for i, _ in picked]).to(device)
        layer = _gradcam_layer(run, classifier, inputs[:1])
        cams = class_activation_maps(classifier, inputs, layer, [c for _, c in picked], "gradcam")
        unit_layer, field, grid = _unit_layer(classifier, pre, inputs[:1])
    boxes = [_box_at_peak(cam.heatmap, field, grid, pre.input_size) for cam in cams]
    figures = [_representative_figure(prepared[i].display, prepared[i].path, cam, box, names[c])
               for (i, c), cam, box in zip(picked, cams, boxes)]
    more = f" (first {MAX_CLASSES} classes)" if len(run.classes) > MAX_CLASSES else ""
    intro = Text(f"For each class{more}, the validation images of that class (of its first {CLASS_CANDIDATES}) "
                 f"with the highest score for it, overlaid with the class's Grad-CAM at {layer}. The green box is "
                 f"the receptive field of the {unit_layer} unit at the peak of that evidence: the "
                 f"{field.describe()}-pixel part of the image one unit of that layer sees.")
    return [intro, Figures(tuple(figures), columns=2 * CLASS_IMAGES)]


def _unit_layer(model: nn.Module, pre, probe: torch.Tensor):
    """The deepest stage whose units see at most half the image: (name, receptive field, (h, w)).

    Deep units see the whole image (their box would be the whole image); a unit of this stage
    shows how large a part of the image one mid-level feature looks at.
    """
    fields = {row.name: row.field for row in receptive_fields(meta_copy(model), pre.input_size, len(pre.mean))}
    stages = [(name, shape) for name, shape in spatial_stages(model, probe) if fields.get(name) is not None]
    if not stages:
        raise TransferlabError("no stage of this model has a traceable receptive field")
    small = [stage for stage in stages if max(fields[stage[0]].size) <= pre.input_size // 2]
    name, shape = (small or stages[:1])[-1]
    return name, fields[name], (int(shape[-2]), int(shape[-1]))


def _box_at_peak(heatmap, field, grid: tuple[int, int], side: int) -> tuple[int, int, int, int]:
    """The receptive field of the unit whose centre is nearest the heatmap's maximum."""
    row, col = divmod(int(heatmap.argmax()), heatmap.shape[1])
    unit = [min(max(round((pixel - start) / jump), 0), size - 1)
            for pixel, start, jump, size in zip((row, col), field.start, field.jump, grid)]
    return field.box(unit[0], unit[1], side, side)


def _class_candidates(run: RunData, pre, count: int) -> tuple[list[int], list]:
    """The first CLASS_CANDIDATES readable validation images of each of the first `count` classes."""
    val = _validation_images(run)
    rows = []
    for index in range(count):
        paths = [p for p, label in zip(val.paths, val.labels) if label == index][:CLASS_CANDIDATES]
        rows += [{"path": p, "label": index} for p in paths]
    kept, prepared = _readable(rows, pre)
    return [row["label"] for row in kept], prepared


def _validation_images(run: RunData):
    from ...data import load_splits

    source = run.config.get("data")
    if not source:
        raise TransferlabError("config.yaml is missing, so the validation images are unknown")
    return load_splits(str(source), run.config.get("val_fraction", 0.2), run.config.get("seed", 0)).val


@torch.no_grad()
def _logits(model: nn.Module, tensors: list[torch.Tensor], device: torch.device, batch: int = 32) -> torch.Tensor:
    chunks = [model(torch.stack(tensors[i:i + batch]).to(device)).float().cpu() for i in range(0, len(tensors), batch)]
    return torch.cat(chunks)


def _best_per_class(logits: torch.Tensor, labels: list[int], count: int) -> list[tuple[int, int]]:
    """(candidate index, class) of the CLASS_IMAGES highest-scoring images of each class, best first."""
    picked = []
    for index in range(count):
        members = [i for i, label in enumerate(labels) if label == index]
        members.sort(key=lambda i: -float(logits[i, index]))
        picked += [(i, index) for i in members[:CLASS_IMAGES]]
    return picked


def _gradcam_layer(run: RunData, model: nn.Module, probe: torch.Tensor) -> str:
    """The Grad-CAM layer, found once per report (it costs a forward pass)."""
    if "gradcam_layer" not in run.memo:
        run.memo["gradcam_layer"] = default_layer(model, "gradcam", probe)
    return run.memo["gradcam_layer"]


def _representative_figure(display, path: str, cam, box, name: str):
    scale = TILE / display.shape[0]  # the box is drawn after resizing so its line keeps its width
    top, left, bottom, right = (round(v * scale) for v in box)
    tile = draw_box(fit_square(heatmap_overlay(display, cam.heatmap, alpha=0.3), TILE), (top, left, bottom, right))
    caption = f"{name}: p {cam.probability:.2f}, logit {cam.score:.3g}"
    return figure_from_array(tile, caption, side=TILE, alt=f"{path}: {caption}", source=path)
