"""The real images that activate a class most, with the part of each image responsible.

Every image is scored by the class's logit (one batched pass, no gradients). For the best
ones, a class activation map (Grad-CAM) at a spatial layer finds the strongest unit; its
analytic receptive field, mapped back to input pixels, is the part of the image that unit sees.

A unit of the last stage of a modern CNN sees the whole image (EfficientNet-Lite0's last
stage: 851 px at 224), so its box would say nothing. So the strongest unit is found where the
class evidence is clearest, in the Grad-CAM map of the last stage with maps; the box is the
receptive field of the unit of a shallower "box layer" (by default the deepest stage whose
field is at most half the input side) centred nearest to it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..backbones import Preprocessing
from ..data.decode import decode_images
from ..data.scan import Skipped
from ..data.transforms import eval_transform
from ..engine.device import autocast
from ..errors import DataError, TransferlabError
from .gradcam import class_activation_maps
from .layers import candidate_layers, default_layer
from .receptive_field import receptive_fields
from .sources import model_device, prepare_image

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Representative:
    """One of the images that activate a class most.

    Attributes:
        path: the image file.
        display: (S, S, 3) uint8, the centre crop the network saw.
        score: the class's logit for this image (the ranking key).
        probability: the class's softmax probability.
        layer: the layer whose strongest unit is boxed.
        unit: (row, col) of that unit in the layer's map.
        box: (top, left, bottom, right) of its receptive field in `display` pixels, clipped to
            the image; bottom and right exclusive.
        heatmap: (S, S) in [0, 1], the class activation map at `heatmap_layer`.
        heatmap_layer: the Grad-CAM layer of the heatmap.
    """

    path: str
    display: np.ndarray
    score: float
    probability: float
    layer: str
    unit: tuple[int, int]
    box: tuple[int, int, int, int]
    heatmap: np.ndarray
    heatmap_layer: str

    def to_dict(self) -> dict:
        """JSON-ready description (without pixels)."""
        return {
            "image": self.path,
            "score": round(self.score, 6),
            "probability": round(self.probability, 6),
            "layer": self.layer,
            "unit": list(self.unit),
            "box": list(self.box),
            "heatmap_layer": self.heatmap_layer,
        }


def class_representatives(
    model: nn.Module,
    preprocessing: Preprocessing,
    paths: Sequence[str],
    class_index: int,
    count: int = 6,
    layer: str | None = None,
    batch_size: int = 32,
    progress: bool = False,
) -> tuple[list[Representative], list[Skipped]]:
    """The `count` images among `paths` with the largest logit for `class_index`.

    Args:
        model: logits model in eval mode.
        preprocessing: how images are prepared for it.
        paths: candidate images (e.g. the training images of a run).
        class_index: the class.
        count: how many to return, best first.
        layer: the layer whose strongest unit is boxed (default: `box_layer`).
        batch_size: images per forward pass while scoring.
        progress: show progress bars.

    Returns:
        The representatives, best first, and the files that could not be read.

    Raises:
        DataError: none of the images could be read.
    """
    scores, probs, kept, skipped = score_images(model, preprocessing, paths, class_index, batch_size, progress)
    if not kept:
        raise DataError(f"none of the {len(paths)} images could be read")
    best = np.argsort(-scores, kind="stable")[:count]
    prepared = [prepare_image(kept[i], preprocessing) for i in best]
    inputs = torch.stack([p.tensor for p in prepared]).to(model_device(model))
    side, channels = preprocessing.input_size, len(preprocessing.mean)
    layer = layer or box_layer(model, side, channels)
    heat_layer = default_layer(model, "gradcam", inputs[:1])
    cams = class_activation_maps(model, inputs, heat_layer, class_index, method="gradcam")
    fields = {row.name: row for row in receptive_fields(model, side, channels)}
    units = [_nearest_unit(fields, heat_layer, layer, cam.strongest_unit()) for cam in cams]
    box_field = fields[layer].field
    reps = [
        Representative(
            path=image.path,
            display=image.display,
            score=float(scores[i]),
            probability=float(probs[i]),
            layer=layer,
            unit=unit,
            box=box_field.box(*unit, side, side),
            heatmap=cam.heatmap,
            heatmap_layer=heat_layer,
        )
        for i, image, unit, cam in zip(best, prepared, units, cams)
    ]
    return reps, skipped


def _nearest_unit(fields: dict, from_layer: str, to_layer: str, unit: tuple[int, int]) -> tuple[int, int]:
    """The unit of `to_layer` whose field is centred nearest the centre of `unit` of `from_layer`.

    Raises:
        TransferlabError: either layer has no traceable spatial field.
    """
    for name in (from_layer, to_layer):
        if name not in fields or fields[name].field is None:
            raise TransferlabError(f"layer '{name}' has no spatial receptive field: choose a conv stage")
    source, target = fields[from_layer].field, fields[to_layer].field
    limits = fields[to_layer].output_shape[-2:]
    nearest = []
    for axis in (0, 1):
        centre = source.start[axis] + unit[axis] * source.jump[axis]
        index = round((centre - target.start[axis]) / target.jump[axis])
        nearest.append(int(min(max(index, 0), limits[axis] - 1)))
    return nearest[0], nearest[1]


def box_layer(model: nn.Module, input_size: int, in_channels: int = 3) -> str:
    """The deepest stage whose receptive field is at most half the input side (else the first stage).

    Raises:
        TransferlabError: no stage keeps spatial maps at this input size.
    """
    rows = {row.name: row for row in receptive_fields(model, input_size, in_channels)}
    spatial = [
        name for name in candidate_layers(model)
        if name in rows and rows[name].field is not None and int(np.prod(rows[name].output_shape[-2:])) > 1
    ]
    if not spatial:
        raise TransferlabError(f"no layer keeps spatial maps at input size {input_size}")
    small = [name for name in spatial if max(rows[name].field.size) <= input_size / 2]
    return small[-1] if small else spatial[0]


@torch.no_grad()
def score_images(
    model: nn.Module,
    preprocessing: Preprocessing,
    paths: Sequence[str],
    class_index: int,
    batch_size: int = 32,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list[Skipped]]:
    """Logit and probability of `class_index` for every readable image (bf16 autocast on CUDA).

    Returns:
        (logits (N,), probabilities (N,), the N readable paths, the skipped files).
    """
    pre = preprocessing
    decoded, skipped = decode_images(list(paths), pre.resize_size, pre.interpolation, progress=progress)
    transform, device = eval_transform(pre), model_device(model)
    logits, probs = [], []
    for first in range(0, len(decoded.images), batch_size):
        batch = torch.stack([transform(img) for img in decoded.images[first : first + batch_size]])
        with autocast(device):
            out = model(batch.to(device)).float()
        logits.append(out[:, class_index].cpu().numpy())
        probs.append(out.softmax(dim=1)[:, class_index].cpu().numpy())
    if not logits:
        return np.zeros(0), np.zeros(0), (), skipped
    return np.concatenate(logits), np.concatenate(probs), decoded.paths, skipped
