"""The built-in backbones, a table: timm where it has the architecture, torchvision otherwise.

Nothing here registers anything: `registry` reads `builtin_specs()` on its first lookup.
"""

from __future__ import annotations

from functools import partial

import timm
import torchvision
from torch import nn

from .adapters import SqueezeNetAdapter, TinyCNN
from .preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from .spec import BackboneSpec

# transferlab name -> (timm architecture, packaged weights, smallest input side)
_TIMM_BACKBONES = {
    "vgg16": ("vgg16", None, 32),
    "vgg19": ("vgg19", None, 32),
    "resnet50": ("resnet50", None, 32),
    "inception_v3": ("inception_v3", None, 75),
    "xception": ("legacy_xception", None, 71),
    "mobilenet_v2": ("mobilenetv2_100", None, 32),
    "mobilenet_v3_large": ("mobilenetv3_large_100", None, 32),
    "mobilenet_v3_small": ("mobilenetv3_small_100", None, 32),
    "efficientnet_lite0": ("tf_efficientnet_lite0", "efficientnet_lite0", 32),
    "efficientnet_lite1": ("tf_efficientnet_lite1", "efficientnet_lite1", 32),
    "efficientnet_lite2": ("tf_efficientnet_lite2", "efficientnet_lite2", 32),
}


def _build_timm(arch: str, pretrained: bool) -> nn.Module:
    return timm.create_model(arch, pretrained=pretrained)


def _timm_preprocessing(arch: str) -> Preprocessing:
    cfg = timm.models.get_pretrained_cfg(arch)
    return Preprocessing(
        input_size=int(cfg.input_size[-1]),
        crop_pct=float(cfg.crop_pct),
        interpolation=str(cfg.interpolation),
        mean=tuple(cfg.mean),
        std=tuple(cfg.std),
    )


def builtin_specs() -> tuple[BackboneSpec, ...]:
    """Every built-in backbone's spec (timm's preprocessing is read from timm's configs)."""
    timm_specs = tuple(
        BackboneSpec(name, partial(_build_timm, arch), _timm_preprocessing(arch), "timm", arch,
                     packaged_weights=packaged, min_input_size=min_size)
        for name, (arch, packaged, min_size) in _TIMM_BACKBONES.items()
    )
    return (*timm_specs, _SQUEEZENET, _TINY_CNN)


def _squeezenet1_1(pretrained: bool) -> nn.Module:
    # Weights are loaded by weights.py (offline-aware), never by torchvision here.
    del pretrained
    return SqueezeNetAdapter(torchvision.models.squeezenet1_1(weights=None))


def _tiny_cnn(pretrained: bool) -> nn.Module:
    del pretrained
    return TinyCNN()


_SQUEEZENET = BackboneSpec(
    "squeezenet1_1",
    _squeezenet1_1,
    preprocessing=Preprocessing(224, 0.875, "bilinear", IMAGENET_MEAN, IMAGENET_STD),
    source="torchvision",
    arch="squeezenet1_1",
    stages=("features.2", "features.5", "features.8", "features.12"),
    min_input_size=32,
)
_TINY_CNN = BackboneSpec(
    "tiny_cnn",
    _tiny_cnn,
    preprocessing=Preprocessing(32, 1.0, "bilinear", IMAGENET_MEAN, IMAGENET_STD),
    source="transferlab",
    arch="tiny_cnn",
    stages=("stem", "stage1", "stage2"),
    min_input_size=8,
)
