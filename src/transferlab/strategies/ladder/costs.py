"""How long a rung will take: per-image costs measured on this machine, and a model of each strategy.

A budget is wall time, so it has to be grounded in a measurement: `measure_costs` times a few
batches of the actual networks (decoding real training images, the frozen base forward, a
fine-tuning step with the rung's unfrozen blocks, a step of each scratch CNN) on the device
the ladder will use. `rung_cost` turns those into seconds for a rung: a fixed part (decoding,
feature extraction, final evaluation) and a part per epoch (or per augmented view) that a
budget can shrink. Early stopping can only make a rung faster than its estimate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ...backbones import Preprocessing, create_backbone
from ...config import TrainConfig
from ...data import DataSplits
from ...data.augment import train_transform
from ...data.decode import decode_images
from ...engine.device import autocast, pick_device
from ...models.freezing import apply_bn_policy, freeze_except, trainable_groups
from ...models.lookup import build_scratch_classifier
from ..registry import FROZEN_BASE

log = logging.getLogger(__name__)

DECODE_SAMPLE = 8  # training images decoded to time decoding
CALIBRATION_BATCH = 16
OVERHEAD = 2.0  # seconds per rung: building the model, writing the run directory, plots
# Epochs (views for features-aug) a strategy runs when the config leaves them to it.
DEFAULT_UNITS = {"scratch": 20, "linear": 1, "features": 40, "features-aug": 5, "finetune": 5, "auto": 5}


@dataclass(frozen=True)
class Costs:
    """Seconds per image, measured for one ladder on one machine.

    Attributes:
        decode: decoding and resizing one training image.
        augment: one augmented view of a decoded image (the `medium` preset).
        base_infer: the frozen base's forward pass.
        base_train: a fine-tuning step (forward and backward with the rung's unfrozen blocks).
        scratch: scratch model -> (training step, forward pass).
    """

    decode: float = 0.0
    augment: float = 0.0
    base_infer: float = 0.0
    base_train: float = 0.0
    scratch: tuple[tuple[str, float, float], ...] = ()

    def scratch_costs(self, model: str | None) -> tuple[float, float]:
        return next(((train, infer) for name, train, infer in self.scratch if name == model), (0.0, 0.0))

    def to_dict(self) -> dict:
        return {"decode": self.decode, "augment": self.augment, "base_infer": self.base_infer, "base_train": self.base_train,
                "scratch": {name: {"train": t, "infer": i} for name, t, i in self.scratch}}


def measure_costs(configs: list[TrainConfig], splits: DataSplits) -> Costs:
    """Time decoding and each kind of network the planned rungs use (a few seconds in all)."""
    device = pick_device(configs[0].device)
    transfer = [c for c in configs if c.strategy != "scratch"]
    scratch = {c.model: c for c in configs if c.strategy == "scratch"}
    base_infer = base_train = 0.0
    pre = None
    if transfer:
        tuned = next((c for c in transfer if c.strategy in ("finetune", "auto")), transfer[0])
        base_infer, base_train, pre = _time_backbone(tuned, device)
    measured = tuple((model, *_time_scratch(c, len(splits.classes), device)) for model, c in scratch.items())
    if pre is None:
        pre = build_scratch_classifier(configs[0].model, configs[0].backbone, 2, configs[0].input_size).preprocessing
    decode, augment = _time_decode_and_augment(splits, pre)
    costs = Costs(decode, augment, base_infer, base_train, measured)
    log.info("measured seconds per image: %s", costs.to_dict())
    return costs


def rung_cost(config: TrainConfig, costs: Costs, counts: dict[str, int],
              extracted: set[str]) -> tuple[float, float, int]:
    """(fixed seconds, seconds per epoch or view, epochs or views asked for) of one rung.

    `extracted` gets the splits whose features the rung caches (later rungs reuse them).
    `auto` is estimated as fine-tuning, the most expensive strategy it can choose.
    """
    n_train, n_val, n_test = counts["train"], counts["val"], counts.get("test", 0)
    dec, aug, infer = costs.decode, costs.augment, costs.base_infer
    units = (config.views if config.strategy == "features-aug" else config.epochs) or DEFAULT_UNITS[config.strategy]
    if config.strategy == "scratch":
        s_train, s_infer = costs.scratch_costs(config.model)
        fixed = (n_train + n_val) * dec + (n_val + n_test) * (dec + s_infer)
        return fixed + OVERHEAD, n_train * (s_train + aug) + n_val * s_infer, units
    if config.strategy in FROZEN_BASE:
        fixed = _extraction(("train", "val", "test"), counts, costs, extracted, decoded=False)
        if config.strategy == "features-aug":
            return fixed + n_train * dec + OVERHEAD, n_train * (aug + infer), units
        return fixed + OVERHEAD, 0.0, units  # a head on cached features: milliseconds per epoch
    fixed = (n_train + n_val) * dec + _extraction(("train", "val"), counts, costs, extracted, decoded=True)
    fixed += (n_val + n_test) * (dec + infer)
    return fixed + OVERHEAD, n_train * (costs.base_train + aug) + n_val * infer, units


def _extraction(splits: tuple[str, ...], counts: dict[str, int], costs: Costs, extracted: set[str],
                decoded: bool) -> float:
    """Feature extraction of the splits not cached by an earlier rung (which share the cache)."""
    todo = [s for s in splits if s not in extracted and counts.get(s, 0)]
    extracted.update(todo)
    per_image = costs.base_infer + (0.0 if decoded else costs.decode)
    return sum(counts[s] for s in todo) * per_image


def _time_decode_and_augment(splits: DataSplits, pre: Preprocessing) -> tuple[float, float]:
    paths = list(splits.train.paths[:DECODE_SAMPLE])
    start = time.perf_counter()
    decoded, _ = decode_images(paths, pre.resize_size, pre.interpolation)
    decode = (time.perf_counter() - start) / max(1, len(decoded.paths))
    transform = train_transform(pre, "medium")
    if not decoded.images:
        return decode, 0.0
    transform(decoded.images[0])  # warm-up: the first call builds kernels and caches
    start = time.perf_counter()
    for image in decoded.images:
        transform(image)
    return decode, (time.perf_counter() - start) / len(decoded.images)


def _time_backbone(config: TrainConfig, device: torch.device) -> tuple[float, float, Preprocessing]:
    backbone = create_backbone(config.backbone, config.weights, include_top=False, input_size=config.input_size)
    backbone.to(device).to(memory_format=torch.channels_last)
    x = _batch(len(backbone.preprocessing.mean), backbone.input_size, device)
    backbone.eval()
    with torch.no_grad():
        infer = _seconds_per_image(lambda: backbone.features(x, None, pooled=True), len(x), device)
    freeze_except(backbone, trainable_groups(backbone, config.unfreeze, config.unfreeze_from))
    backbone.train()
    apply_bn_policy(backbone, config.bn_policy)
    train = _seconds_per_image(lambda: backbone.features(x, None, pooled=True).sum().backward(), len(x), device)
    return infer, train, backbone.preprocessing


def _time_scratch(config: TrainConfig, num_classes: int, device: torch.device) -> tuple[float, float]:
    model = build_scratch_classifier(config.model, config.backbone, num_classes, config.input_size)
    model.to(device).to(memory_format=torch.channels_last)
    x = _batch(len(model.preprocessing.mean), model.backbone.input_size, device)
    model.train()
    train = _seconds_per_image(lambda: model(x).sum().backward(), len(x), device)
    model.eval()
    with torch.no_grad():
        infer = _seconds_per_image(lambda: model(x), len(x), device)
    return train, infer


def _batch(channels: int, side: int, device: torch.device) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(CALIBRATION_BATCH, channels, side, side, generator=generator)
    return x.to(device).contiguous(memory_format=torch.channels_last)


def _seconds_per_image(step: Callable[[], object], batch: int, device: torch.device, repeats: int = 2) -> float:
    """Mean time of `repeats` calls after one warm-up call, per image."""
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        with autocast(device):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return float(np.mean(times[1:])) / batch
