"""What each strategy will cost here: throughput measured on a few images, then extrapolated.

Nothing is assumed about the machine: decoding, the augmentation transform, a frozen forward
pass and a training step (forward + backward) are each timed on real sample images on the
device the run will use, and the estimates are sums of images x seconds per image.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial

import torch

from ..backbones import Backbone
from ..data.augment import train_transform
from ..data.transforms import eval_transform
from ..engine.device import autocast, pick_device, to_device
from ..features.extract import ExtractionOptions, extract_features
from ..features.prefix import PREFIX_VIEWS
from ..models.inference import OPENVINO_MIN_IMAGES, planned_engine

# The training step is timed at `train`'s default batch: per-image overheads make smaller batches
# slower per image (lite0, 2 cores, ms an image at batch 8/16/32: 10.2/8.6/7.5 at 96 px, 41.9/35.0/34.9
# at 224 px; a real epoch at 96 px ran at 7.1).
TRAIN_STEP_BATCH = 32
MARGINAL_BATCHES = 3  # the forward pass is timed on one batch and on this many (`_marginal`)
PROBE_SECONDS_PER_UNIT = 5e-8  # logistic probe, one BLAS thread: seconds per (sample x feature x fit), 2 cores


@dataclass(frozen=True)
class Throughput:
    """Seconds per image on `device` for each kind of work."""

    device: str
    decode: float
    augment: float
    forward: float  # eval transform + frozen forward pass, per image of a long extraction (`_marginal`)
    train: float | None = None  # forward + backward, every parameter trainable; timed only when needed

    def to_dict(self) -> dict:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def images_per_second(self) -> dict[str, float]:
        rates = {"forward": round(1 / self.forward, 1)}
        return rates if self.train is None else {**rates, "train": round(1 / self.train, 1)}

    def extraction(self, images: int, decoded: bool = False) -> float:
        """One pass of the frozen base over `images` (decoding included unless already done)."""
        return images * (self.forward + (0.0 if decoded else self.decode))

    def augmented_views(self, images: int, views: int) -> float:
        """`views` augmented passes over decoded images."""
        return views * images * (self.augment + self.forward)

    def finetune(self, train: int, val: int, epochs: int, trainable_share: float, prefix_share: float = 0.0,
                 per_epoch: int | None = None) -> float:
        """Decoding once, then `epochs` of augmented training steps (on `per_epoch` of the
        `train` images each; None: all) and a validation pass.

        A step that back-propagates through only the last `trainable_share` of the network
        costs the forward pass plus that share of the backward pass. Where the frozen prefix
        before the first trainable module is known (`prefix_share` of the forward FLOPs), the
        backward pass stops there, so its share is the rest of the FLOPs (the top groups hold
        most parameters but few FLOPs), and the prefix runs once per image and view
        (`strategies.finetune_prefix`): each epoch pays only the rest of the forward pass.
        """
        full = max(self.train or self.forward, self.forward)  # seconds per image, every parameter trainable
        prefix_share = min(1.0, max(0.0, prefix_share))
        share = 1.0 - prefix_share if prefix_share > 0 else min(1.0, max(0.0, trainable_share))
        backward = (full - self.forward) * share
        rest = self.forward * (1.0 - prefix_share)
        once = (train + val) * self.decode
        steps = min(train, per_epoch or train)  # images trained on each epoch
        if prefix_share > 0:
            views = min(epochs, PREFIX_VIEWS)
            once += views * train * (self.augment + self.forward - rest) + val * (self.forward - rest)
            return once + epochs * (steps * (rest + backward) + val * rest)
        return once + epochs * (steps * (self.augment + self.forward + backward) + val * self.forward)


def probe_seconds(samples: int, dim: int, fits: int) -> float:
    """Rough cost of `fits` logistic-regression fits (the sweep, a probe's C search)."""
    return PROBE_SECONDS_PER_UNIT * samples * max(dim, 512) * fits


def measure_throughput(backbone: Backbone, images: Sequence[torch.Tensor], decode_seconds: float,
                       options: ExtractionOptions = ExtractionOptions(), batch: int = 32) -> Throughput:
    """Time the augmentation transform on `batch` sample images, and the frozen forward pass per
    image of a long extraction (on one batch and on `MARGINAL_BATCHES`: `_marginal`).

    The forward pass is timed through `features.extract_features`, the code every extraction
    runs (its batching, precision and prefetching included). The training step is timed later,
    only if fine-tuning is considered (`measure_train_step`).

    Args:
        backbone: the conv base (left unchanged).
        images: decoded uint8 sample images (repeated if fewer than `batch`).
        decode_seconds: measured seconds per image to decode, carried into the result.
        options: the device, precision and engine extractions will run with.
    """
    target = pick_device(options.device)
    sample = [images[i % len(images)] for i in range(MARGINAL_BATCHES * batch)]
    pre = backbone.preprocessing
    augment = _per_image(lambda: [train_transform(pre, "light")(img) for img in sample[:batch]], batch)
    engine = planned_engine(options.engine, OPENVINO_MIN_IMAGES)  # as a whole extraction runs
    timed = replace(options, batch_size=batch, compile=False, engine=engine, progress=False)
    extract_features(backbone, sample[:4], None, pre, replace(timed, batch_size=4))  # warm-up, export
    one = _best_of(2, partial(extract_features, backbone, sample[:batch], None, pre, timed), 1, target)
    several = _per_image(partial(extract_features, backbone, sample, None, pre, timed), 1, target)
    return Throughput(str(target), decode_seconds, augment, _marginal(one, several, batch, len(sample)), None)


def _marginal(one: float, several: float, batch: int, images: int) -> float:
    """Seconds per image of a long extraction, from the seconds of one batch (`one`) and of
    `images` (`several`): what each batch beyond the first adds. A pass has a fixed cost that a
    whole split shares: one batch of lite0 at 96 px took 4.2 ms an image, 512 images 1.1 (at 224
    px 10.5 and 5.3; OpenVINO, 2 cores). Not below half of the longer timing's average, where
    noise shrinks the difference."""
    return max((several - one) / (images - batch), several / images / 2)


def measure_train_step(backbone: Backbone, images: Sequence[torch.Tensor], device: str = "auto",
                       batch: int = TRAIN_STEP_BATCH) -> float:
    """Seconds per image of a training step (forward + backward, every parameter trainable).

    The backbone is left unchanged: eval-mode BatchNorm, no optimizer step, gradients cleared.
    The warm-up runs the timed batch's own shape: the first step at a shape sets up its kernels
    and took about 1.7x as long as the next ones (lite0, 2 cores), which is what training runs at.
    """
    target = pick_device(device)
    sample = [images[i % len(images)] for i in range(batch)]
    transform = eval_transform(backbone.preprocessing)
    backbone.eval().to(target).to(memory_format=torch.channels_last)
    step = partial(_train_step, backbone, sample, transform, target)
    step()  # warm-up: autograd buffers and this shape's kernels
    return _best_of(2, step, batch, target)


def _train_step(backbone: Backbone, sample, transform, target: torch.device) -> None:
    flags = [p.requires_grad for p in backbone.parameters()]
    try:
        for param in backbone.parameters():
            param.requires_grad_(True)
        with autocast(target):
            maps = backbone.forward_features(to_device(torch.stack([transform(img) for img in sample]), target))
        maps.float().mean().backward()
    finally:
        for param, flag in zip(backbone.parameters(), flags):
            param.grad = None
            param.requires_grad_(flag)


def _best_of(repeats: int, work, count: int, device: torch.device) -> float:
    """The fastest of `repeats` timings: other processes only ever make a run slower."""
    return min(_per_image(work, count, device) for _ in range(repeats))


def _per_image(work, count: int, device: torch.device | None = None) -> float:
    start = time.perf_counter()
    work()
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / count
