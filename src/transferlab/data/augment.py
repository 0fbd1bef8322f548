"""Training augmentation: a registry of operations, presets, and YAML specs (torchvision.transforms.v2).

An operation is a name, a parameter schema with valid ranges, and a factory that builds one
v2 transform on uint8 (3, H, W) tensors. A spec is a list of operations; it comes from a
preset name (`none`, `light`, `medium`, `heavy`), a YAML file, or inline YAML on the command
line, each item either a bare name (`- hflip`) or a mapping (`- {op: rotate, degrees: 20}`).

Every pipeline starts by resizing the shorter side to the preprocessing's resize size (a
no-op for images decoded at the working size; tiny images are upscaled, never rejected) and
ends with a centre crop to the input size and the model's normalisation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import yaml
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from ..backbones.preprocessing import Preprocessing
from ..errors import TransferlabError, UnknownNameError, unknown_name
from .transforms import eval_transform, interpolation_mode, to_model_input


class AugmentSpecError(TransferlabError):
    """An augmentation spec with an unknown operation, parameter or an out-of-range value."""


@dataclass(frozen=True)
class Param:
    """One parameter of an operation: a number (or a [low, high] pair) in [low, high]."""

    low: float
    high: float
    default: float | tuple[float, float]
    pair: bool = False
    help: str = ""

    def describe(self) -> str:
        kind = "[a, b], a <= b, each" if self.pair else "number"
        return f"{kind} in [{_num(self.low)}, {_num(self.high)}]"

    def check(self, op: str, name: str, value) -> float | tuple[float, float]:
        """`value` as a float (or a pair of floats), or an error naming op, parameter and range."""
        if self.pair:
            if isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_number(v) for v in value):
                low, high = float(value[0]), float(value[1])
                if self.low <= low <= high <= self.high:
                    return (low, high)
            raise AugmentSpecError(
                f"augment op '{op}': {name} must be [a, b] with "
                f"{_num(self.low)} <= a <= b <= {_num(self.high)}, got {_show(value)}")
        if _is_number(value) and self.low <= float(value) <= self.high:
            return float(value)
        raise AugmentSpecError(
            f"augment op '{op}': {name} must be in [{_num(self.low)}, {_num(self.high)}], got {_show(value)}")


@dataclass(frozen=True)
class OpDef:
    """A registered operation: its parameters and the factory of its v2 transform."""

    name: str
    summary: str
    params: dict[str, Param]
    factory: Callable[..., v2.Transform]


_OPS: dict[str, OpDef] = {}


def register_op(name: str, summary: str, **params: Param) -> Callable:
    """Register `factory(pre, **params) -> v2.Transform` as operation `name`."""

    def decorate(factory: Callable[..., v2.Transform]) -> Callable[..., v2.Transform]:
        _OPS[name] = OpDef(name, summary, params, factory)
        return factory

    return decorate


def list_ops() -> list[str]:
    """Names of every registered operation."""
    return list(_OPS)


def get_op(name: str) -> OpDef:
    """The operation called `name` (an unknown name lists the closest ones)."""
    if name not in _OPS:
        raise unknown_name("augment op", str(name), list_ops())
    return _OPS[name]


@dataclass(frozen=True)
class AugmentOp:
    """One resolved operation: its name and every parameter's value (defaults filled in)."""

    name: str
    params: tuple[tuple[str, float | tuple[float, float]], ...]

    def build(self, pre: Preprocessing) -> v2.Transform:
        return get_op(self.name).factory(pre, **dict(self.params))

    def to_dict(self) -> dict:
        return {"op": self.name, **{k: list(v) if isinstance(v, tuple) else v for k, v in self.params}}


@dataclass(frozen=True)
class AugmentSpec:
    """A named, validated list of operations applied in order."""

    name: str
    ops: tuple[AugmentOp, ...]

    def to_list(self) -> list[dict]:
        """Plain data (what a YAML spec file holds), for run summaries and `augment.yaml`."""
        return [op.to_dict() for op in self.ops]

    def canonical(self) -> str:
        """A one-line inline spec (JSON, which is also YAML) that resolves back to these ops."""
        return json.dumps(self.to_list(), separators=(",", ":"))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_list(), sort_keys=False, default_flow_style=None)


# --- operations --------------------------------------------------------------------------------
# Geometry uses bilinear sampling (torchvision's affine warps support nearest and bilinear).
_P = Param(0.0, 1.0, 0.5, help="probability")
_BILINEAR = v2.InterpolationMode.BILINEAR


@register_op("hflip", "mirror left-right", p=_P)
def _hflip(pre: Preprocessing, p: float) -> v2.Transform:
    return v2.RandomHorizontalFlip(p)


@register_op("vflip", "mirror top-bottom (textures, aerial and microscope images)", p=_P)
def _vflip(pre: Preprocessing, p: float) -> v2.Transform:
    return v2.RandomVerticalFlip(p)


@register_op("crop", "random resized crop: a random area and aspect ratio, resized to the input size",
             scale=Param(0.05, 1.0, (0.5, 1.0), pair=True, help="fraction of the image area kept"),
             ratio=Param(0.25, 4.0, (0.75, 4 / 3), pair=True, help="aspect ratio of the crop"))
def _crop(pre: Preprocessing, scale: tuple, ratio: tuple) -> v2.Transform:
    mode = interpolation_mode(pre.interpolation)
    return v2.RandomResizedCrop(pre.input_size, scale=scale, ratio=ratio, interpolation=mode, antialias=True)


@register_op("corner", "the input-size square at one corner of the resized image (0 top-left, 1 top-right, "
                       "2 bottom-left, 3 bottom-right): the corner views of `--tta crops`",
             at=Param(0.0, 3.0, 0.0, help="which corner"))
def _corner(pre: Preprocessing, at: float) -> Callable:
    return _Corner(pre.input_size, int(at))


class _Corner:
    """The `size` square at corner `at` of a (C, H, W) image, in `five_crop`'s order (as `tta_views` takes it)."""

    def __init__(self, size: int, at: int):
        self.size, self.at = size, at

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return F.five_crop(image, self.size)[self.at]


@register_op("zoom", "zoom in or out by up to `amount` (scale drawn in [1 - amount, 1 + amount])",
             amount=Param(0.0, 0.9, 0.2))
def _zoom(pre: Preprocessing, amount: float) -> v2.Transform:
    return v2.RandomAffine(0, scale=(1 - amount, 1 + amount), interpolation=_BILINEAR)


@register_op("rotate", "rotate by an angle drawn in [-degrees, degrees]", degrees=Param(0.0, 180.0, 15.0))
def _rotate(pre: Preprocessing, degrees: float) -> v2.Transform:
    return v2.RandomRotation(degrees, interpolation=_BILINEAR)


@register_op("translate", "shift by up to `fraction` of the width and height", fraction=Param(0.0, 0.5, 0.1))
def _translate(pre: Preprocessing, fraction: float) -> v2.Transform:
    return v2.RandomAffine(0, translate=(fraction, fraction), interpolation=_BILINEAR)


@register_op("shear", "shear along x by an angle drawn in [-degrees, degrees]", degrees=Param(0.0, 45.0, 10.0))
def _shear(pre: Preprocessing, degrees: float) -> v2.Transform:
    return v2.RandomAffine(0, shear=(-degrees, degrees), interpolation=_BILINEAR)


@register_op("affine", "rotation, translation, zoom and shear in one warp (cheaper than four)",
             degrees=Param(0.0, 180.0, 10.0), translate=Param(0.0, 0.5, 0.1),
             zoom=Param(0.0, 0.9, 0.0), shear=Param(0.0, 45.0, 0.0))
def _affine(pre: Preprocessing, degrees: float, translate: float, zoom: float, shear: float) -> v2.Transform:
    return v2.RandomAffine(degrees, translate=(translate, translate) if translate else None,
                           scale=(1 - zoom, 1 + zoom) if zoom else None,
                           shear=(-shear, shear) if shear else None, interpolation=_BILINEAR)


def _jitter_one(pre: Preprocessing, amount: float, channel: str) -> v2.Transform:
    return v2.ColorJitter(**{channel: amount})


# One colour property jittered alone: (op and ColorJitter argument, summary, largest amount, default).
_JITTER_OPS = (
    ("brightness", "multiply brightness by a factor in [1 - amount, 1 + amount]", 1.0, 0.2),
    ("contrast", "scale contrast by a factor in [1 - amount, 1 + amount]", 1.0, 0.2),
    ("saturation", "scale saturation by a factor in [1 - amount, 1 + amount]", 1.0, 0.2),
    ("hue", "shift hue by up to `amount` of the colour circle", 0.5, 0.05),
)
for _channel, _summary, _high, _default in _JITTER_OPS:
    register_op(_channel, _summary, amount=Param(0.0, _high, _default))(partial(_jitter_one, channel=_channel))


@register_op("color_jitter", "brightness, contrast, saturation and hue in one step, in random order",
             brightness=Param(0.0, 1.0, 0.2), contrast=Param(0.0, 1.0, 0.2),
             saturation=Param(0.0, 1.0, 0.2), hue=Param(0.0, 0.5, 0.0))
def _color_jitter(pre: Preprocessing, brightness: float, contrast: float, saturation: float,
                  hue: float) -> v2.Transform:
    return v2.ColorJitter(brightness or None, contrast or None, saturation or None, hue or None)


@register_op("grayscale", "drop colour with probability p", p=Param(0.0, 1.0, 0.1))
def _grayscale(pre: Preprocessing, p: float) -> v2.Transform:
    return v2.RandomGrayscale(p)


@register_op("trivial_augment", "TrivialAugmentWide: one random photometric or geometric change per image, "
             "at a random strength (nothing to tune)")
def _trivial_augment(pre: Preprocessing) -> v2.Transform:
    return v2.TrivialAugmentWide(interpolation=interpolation_mode(pre.interpolation))


@register_op("randaugment", "RandAugment: `ops` random changes per image, each at strength `magnitude` of 30",
             ops=Param(1, 5, 2), magnitude=Param(0, 30, 9))
def _randaugment(pre: Preprocessing, ops: float, magnitude: float) -> v2.Transform:
    return v2.RandAugment(num_ops=round(ops), magnitude=round(magnitude),
                          interpolation=interpolation_mode(pre.interpolation))


# --- presets and specs -------------------------------------------------------------------------
PRESET_SPECS: dict[str, list] = {
    "none": [],
    "light": [{"op": "crop", "scale": [0.5, 1.0]}, "hflip"],
    "light-noflip": [{"op": "crop", "scale": [0.5, 1.0]}],  # where a mirror image is another class (digits)
    "medium": [{"op": "crop", "scale": [0.3, 1.0]}, "hflip", {"op": "affine", "degrees": 10, "translate": 0.1},
               {"op": "color_jitter", "brightness": 0.2, "contrast": 0.2, "saturation": 0.2}],
    "heavy": [{"op": "crop", "scale": [0.2, 1.0]}, "hflip",
              {"op": "affine", "degrees": 20, "translate": 0.15, "shear": 10},
              {"op": "color_jitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.05}],
    "trivial": [{"op": "crop", "scale": [0.3, 1.0]}, "hflip", "trivial_augment"],  # timm/torchvision recipes
}
PRESETS = tuple(PRESET_SPECS)


def parse_op(item, where: str = "") -> AugmentOp:
    """One spec item (`"hflip"` or `{"op": "rotate", "degrees": 20}`) -> a validated `AugmentOp`."""
    prefix = f"{where}: " if where else ""
    if isinstance(item, str):
        name, given = item, {}
    elif isinstance(item, dict) and "op" in item:
        name, given = item["op"], {k: v for k, v in item.items() if k != "op"}
    else:
        raise AugmentSpecError(f"{prefix}each augment item is an op name or a mapping with 'op', got {_show(item)}")
    try:
        op = get_op(str(name))
        values = {}
        for key, value in given.items():
            if key not in op.params:
                error = unknown_name("parameter", str(key), op.params)
                raise UnknownNameError(f"augment op '{op.name}': {error}")
            values[key] = op.params[key].check(op.name, key, value)
    except (AugmentSpecError, UnknownNameError) as exc:
        raise type(exc)(prefix + str(exc)) from None
    resolved = tuple((k, values.get(k, p.default)) for k, p in op.params.items())
    return AugmentOp(op.name, resolved)


def parse_ops(items: Iterable, where: str = "") -> tuple[AugmentOp, ...]:
    """A list of spec items -> validated operations."""
    if not isinstance(items, (list, tuple)):
        prefix = f"{where}: " if where else ""
        raise AugmentSpecError(f"{prefix}an augment spec is a list of operations, got {_show(items)}")
    return tuple(parse_op(item, where) for item in items)


def resolve_augment(spec: str | list | AugmentSpec | None, default: str = "none") -> AugmentSpec:
    """A preset name, a YAML file, inline YAML (`"[hflip, {op: rotate, degrees: 10}]"`), a list or a spec.

    Raises:
        UnknownNameError: unknown preset, op or parameter (the closest names listed).
        AugmentSpecError: a value out of its range, a malformed item, bad YAML or a missing file.
    """
    if spec is None:
        spec = default
    if isinstance(spec, AugmentSpec):
        return spec
    if isinstance(spec, (list, tuple)):
        return AugmentSpec("custom", parse_ops(spec))
    text = str(spec).strip()
    if text in PRESET_SPECS:
        return AugmentSpec(text, parse_ops(PRESET_SPECS[text]))
    if text in _OPS:  # a single operation with its defaults
        return AugmentSpec(text, parse_ops([text]))
    if text.startswith(("[", "{")):
        return AugmentSpec("inline", parse_ops(_load_yaml(text, "inline augment spec")))
    path = Path(text)
    if path.suffix.lower() in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise AugmentSpecError(f"augment spec file not found: {path}")
        data = _load_yaml(path.read_text(encoding="utf-8"), str(path))
        if isinstance(data, dict) and "augment" in data:  # also accept `augment: [...]`
            data = data["augment"]
        return AugmentSpec(str(path), parse_ops(data, str(path)))
    error = unknown_name("augmentation preset", text, PRESETS)
    raise UnknownNameError(f"{error} (or a .yaml file, or an inline list such as '[hflip, rotate]')")


def train_transform(pre: Preprocessing, spec: str | list | AugmentSpec | None = "light") -> v2.Compose:
    """uint8 (3, H, W) -> augmented, normalised float (C, S, S); `spec` as `resolve_augment` takes."""
    resolved = resolve_augment(spec)
    if not resolved.ops:
        return eval_transform(pre)
    mode = interpolation_mode(pre.interpolation)
    steps = [v2.Resize(pre.resize_size, interpolation=mode, antialias=True)]  # no-op at the working size
    steps += [op.build(pre) for op in resolved.ops]
    steps.append(v2.CenterCrop(pre.input_size))  # no-op after a `crop` op
    return v2.Compose(steps + to_model_input(pre))


def describe_ops() -> list[dict]:
    """Every operation with its summary and parameters (range and default), for help and `--json`."""
    def shown(value):
        return [round(v, 4) for v in value] if isinstance(value, tuple) else round(value, 4)

    return [{"op": op.name, "summary": op.summary,
             "params": {k: {"range": p.describe(), "default": shown(p.default),
                            **({"help": p.help} if p.help else {})} for k, p in op.params.items()}}
            for op in _OPS.values()]


def undo_normalisation(image: torch.Tensor, pre: Preprocessing) -> torch.Tensor:
    """A normalised float (C, S, S) back to displayable uint8 (S, S, C)."""
    mean = torch.tensor(pre.mean, dtype=image.dtype)[:, None, None]
    std = torch.tensor(pre.std, dtype=image.dtype)[:, None, None]
    pixels = (image * std + mean).clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return pixels.permute(1, 2, 0).contiguous()


def preview_views(images: Iterable[torch.Tensor], pre: Preprocessing, spec: str | list | AugmentSpec | None,
                  views: int, seed: int = 0) -> list[list[torch.Tensor]]:
    """Per decoded uint8 image: [its eval crop, then `views` augmented versions], as uint8 (S, S, C).

    What the network sees, normalisation undone for display; the draws are fixed by `seed`.
    """
    evaluate, augment = eval_transform(pre), train_transform(pre, spec)
    # torchvision's random transforms draw from the global CPU generator only: seeded for these
    # draws, and restored afterwards
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        return [[undo_normalisation(evaluate(img), pre)] +
                [undo_normalisation(augment(img), pre) for _ in range(views)] for img in images]


def _load_yaml(text: str, where: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = " ".join(str(exc).split())
        raise AugmentSpecError(f"{where}: not valid YAML ({line})") from None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _num(value: float) -> str:
    return f"{value:g}"


def _show(value) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
