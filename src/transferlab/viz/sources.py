"""What to look inside: a trained run or a named network, its class names, and images prepared for it.

Every `visualize` command accepts a run directory (its classifier, class names and
preprocessing) or a name: a registered backbone (ImageNet weights and class names by default),
a recipe or a scratch spec (random weights). `load_subject` is the one place that tells them apart.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2

from ..backbones import Preprocessing, imagenet_class_names, list_backbones
from ..data.decode import resize_shorter
from ..data.images import open_rgb
from ..data.transforms import to_model_input
from ..errors import TransferlabError, WeightsError, unknown_name
from ..paths import RunDir
from .layers import layer_root

logger = logging.getLogger(__name__)

LITE_BACKBONES = "efficientnet_lite0/1/2"


@dataclass(frozen=True)
class VizSubject:
    """A network ready to be looked inside.

    Attributes:
        model: in eval mode; a normalised batch (B, C, S, S) -> logits (B, K).
        classes: K class names (ImageNet's descriptions for an ImageNet head).
        preprocessing: how images are prepared for `model`.
        label: a short description for figure titles ("runs/ft (finetune)", "vgg16, imagenet weights").
        run_dir: the run directory, if the subject came from one.
        data: the run's training data source (folder, CSV or built-in name), if known.
    """

    model: nn.Module
    classes: tuple[str, ...]
    preprocessing: Preprocessing
    label: str
    run_dir: Path | None = None
    data: str | None = None

    @property
    def root(self) -> nn.Module:
        """The module that layer names are relative to."""
        return layer_root(self.model)

    @property
    def input_size(self) -> int:
        return self.preprocessing.input_size

    @property
    def in_channels(self) -> int:
        return len(self.preprocessing.mean)

    def layer_names(self) -> list[str]:
        """Every layer name, usable with `--layer`."""
        return [name for name, _ in self.root.named_modules() if name]

    def blank_input(self, batch: int = 1) -> torch.Tensor:
        """Zeros (B, C, S, S) on the model's device, for probing shapes."""
        side = self.input_size
        return torch.zeros(batch, self.in_channels, side, side, device=model_device(self.model))


@dataclass(frozen=True)
class PreparedImage:
    """An image as the network sees it.

    Attributes:
        path: the file it came from.
        display: (S, S, 3) uint8, the resized centre crop, before normalisation.
        tensor: (C, S, S) float, the normalised network input.
    """

    path: str
    display: np.ndarray
    tensor: torch.Tensor


def is_run_dir(source: str | os.PathLike) -> bool:
    """True for a directory written by `transferlab train` (it holds model.json)."""
    return Path(source).is_dir() and RunDir(source).has_model()


def load_subject(
    source: str | os.PathLike, weights: str | None = None, input_size: int | None = None
) -> VizSubject:
    """A run directory, or a backbone / recipe / spec name, as a `VizSubject`.

    Args:
        source: a run directory, or a name as `transferlab summary` takes it.
        weights: for a name: "imagenet", "none" or a file; None means "imagenet" for a
            registered backbone and "none" for recipes and specs. Ignored for a run.
        input_size: for a name: the square input side (default: the network's own).

    Raises:
        TransferlabError: a folder that is not a finished run, an unknown name (closest listed),
            or weights that are not available offline (the message says what to pass instead).
    """
    path = Path(source)
    if is_run_dir(path):
        if input_size is not None:
            raise TransferlabError(f"{path} is a run: it keeps its own input size; drop --input-size")
        return _run_subject(path)
    if path.is_dir():
        raise TransferlabError(f"{path} is a folder but not a finished run (no model.json): train it first")
    return _named_subject(str(source), weights, input_size)


def _run_subject(run_dir: Path) -> VizSubject:
    from ..config import TrainConfig
    from ..models.artifacts import load_model

    loaded = load_model(run_dir)
    config_path = RunDir(run_dir).config
    data = TrainConfig.load(config_path).data if config_path.is_file() else None
    meta = loaded.description
    label = f"{run_dir.name} ({meta.get('strategy')}, {meta.get('model') or meta.get('backbone')})"
    return VizSubject(loaded.classifier.eval(), loaded.classes, loaded.preprocessing, label, run_dir, data)


def _named_subject(name: str, weights: str | None, input_size: int | None) -> VizSubject:
    from ..models.lookup import build_named_model

    is_backbone = name in list_backbones()
    weights = weights or ("imagenet" if is_backbone else "none")
    try:
        model = build_named_model(name, weights=weights, include_top=True, input_size=input_size)
    except WeightsError as exc:
        if not is_backbone or str(weights).lower() != "imagenet" or "--weights none" in str(exc):
            raise
        raise WeightsError(
            f"{exc}; or pass --weights none for random weights (offline, only {LITE_BACKBONES} "
            "have ImageNet weights)"
        ) from None
    if str(weights).lower() == "none":
        logger.warning("%s has random weights: the pictures show an untrained network", name)
    classes = _class_names(model.num_classes, pretrained=is_backbone and str(weights).lower() != "none")
    label = f"{name}, {'random' if str(weights).lower() == 'none' else Path(str(weights)).name} weights"
    return VizSubject(model.eval(), classes, model.preprocessing, label)


def _class_names(num_classes: int, pretrained: bool) -> tuple[str, ...]:
    if pretrained and num_classes == 1000:
        return imagenet_class_names(1000)
    return tuple(f"class {i}" for i in range(num_classes))


def resolve_class(classes: tuple[str, ...] | list[str], wanted: str | int) -> int:
    """The index of a class given by index, name, or (for long names) an unambiguous part of it.

    ImageNet descriptions list synonyms ("tabby, tabby cat"): each synonym matches exactly,
    and a fragment such as "tabby" or "espresso" matches if only one class contains it.

    Raises:
        TransferlabError: an index out of range, or a name that matches no class or several
            (the message lists them).
    """
    text = str(wanted).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < len(classes):
            raise TransferlabError(f"class index {index} is out of range: the model has {len(classes)} classes")
        return index
    lowered = text.lower()
    exact = [i for i, name in enumerate(classes) if lowered in _synonyms(name)]
    if len(exact) == 1:
        return exact[0]
    partial = exact or [i for i, name in enumerate(classes) if lowered in name.lower()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        shown = "; ".join(f"{i} {classes[i]}" for i in partial[:8])
        more = f" (+{len(partial) - 8} more)" if len(partial) > 8 else ""
        raise TransferlabError(f"class '{text}' is ambiguous: {shown}{more}; give more of the name or the index")
    raise unknown_name("class", text, classes)


def _synonyms(name: str) -> set[str]:
    return {name.lower(), *(part.strip().lower() for part in name.split(","))}


def prepare_image(path: str | os.PathLike, preprocessing: Preprocessing) -> PreparedImage:
    """Decode `path` and prepare it exactly as evaluation does (resize, centre crop, normalise).

    Raises:
        BadImageError: the file is missing or cannot be decoded (one line naming it).
    """
    pre = preprocessing
    image = resize_shorter(open_rgb(path, min_side=pre.resize_size), pre.resize_size, pre.interpolation)
    array = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)  # (3, H, W)
    crop = v2.CenterCrop(pre.input_size)(array)  # (3, S, S) uint8
    tensor = v2.Compose(to_model_input(pre))(crop)  # (C, S, S) float
    return PreparedImage(str(path), crop.permute(1, 2, 0).numpy().copy(), tensor)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")
