"""Activation maximisation: synthesise the input that most excites a class or a channel.

Plain gradient ascent on pixels finds high-frequency noise that excites the network but looks
like nothing. As in the feature-visualisation literature (Olah et al., "Feature
Visualization", Distill 2017), the image is instead parameterised in a decorrelated space and
regularised by transformation robustness:

* Fourier parameterisation: the optimised variables are the image's 2-D spectrum, scaled by
  1/frequency, so every frequency learns at a similar rate (natural images have a 1/f spectrum);
* colour decorrelation: the three channels are mixed by the square root of ImageNet's colour
  covariance, then squashed to [0, 1] by a sigmoid;
* at every step the image is randomly shifted, scaled and rotated, so the optimum must
  excite the network robustly, not through one pixel-exact pattern.

Everything is seeded: the same arguments give the same image on the same device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import Preprocessing, forward_until
from ..errors import TransferlabError
from .activations import check_spatial
from .layers import check_layers, layer_root
from .sources import model_device

DEFAULT_STEPS = 64
# Square root of ImageNet's RGB colour covariance (its SVD factor), as measured in the
# feature-visualisation work cited above; columns scaled so the largest has norm 1.
_COLOUR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOUR = _COLOUR_SQRT / _COLOUR_SQRT.norm(dim=0).max()


@dataclass(frozen=True)
class Synthesis:
    """An image synthesised to maximise one objective.

    Attributes:
        image: (S, S, 3) uint8 (grey models: the grey image repeated on three channels).
        target: what was maximised ("class 281: tabby, tabby cat", "blocks.2 channel 7").
        history: (steps,) the objective at each step (on the jittered image).
        final: the objective on the final, untransformed image.
        probability: for a class, its softmax probability on the final image; else None.
    """

    image: np.ndarray
    target: str
    history: np.ndarray
    final: float
    probability: float | None = None


@dataclass(frozen=True)
class SynthesisSettings:
    """How hard and how long to optimise.

    Attributes:
        steps: optimisation steps (each one forward and backward pass).
        size: side of the synthesised image (default: the model's input size).
        lr: Adam learning rate on the spectrum.
        seed: seed of the initial spectrum and of the random transformations.
        jitter: largest random shift, in pixels, per step.
    """

    steps: int = DEFAULT_STEPS
    size: int | None = None
    lr: float = 0.05
    seed: int = 0
    jitter: int = 8


def synthesise_class(
    model: nn.Module,
    preprocessing: Preprocessing,
    class_index: int,
    class_name: str = "",
    settings: SynthesisSettings = SynthesisSettings(),
) -> Synthesis:
    """The image that maximises the logit of `class_index` (the class's "representative" pattern).

    Args:
        model: logits model in eval mode.
        preprocessing: its input normalisation and size.
        class_index: the class to maximise.
        class_name: for the `target` text.
        settings: steps, size, learning rate, seed.
    """

    def objective(batch: torch.Tensor) -> torch.Tensor:
        return model(batch)[:, class_index]

    images, history = _optimise(objective, 1, preprocessing, model_device(model), settings)
    with torch.no_grad():
        logits = model(_normalise(images, preprocessing)).float()
    target = f"class {class_index}" + (f": {class_name}" if class_name else "")
    return Synthesis(
        image=_to_uint8(images[0]),
        target=target,
        history=history[:, 0],
        final=float(logits[0, class_index]),
        probability=float(logits.softmax(dim=1)[0, class_index]),
    )


def synthesise_channels(
    model: nn.Module,
    preprocessing: Preprocessing,
    layer: str,
    channels: Sequence[int],
    settings: SynthesisSettings = SynthesisSettings(),
) -> list[Synthesis]:
    """For each channel of `layer`, the image maximising its mean activation (one batch for all).

    Raises:
        UnknownNameError: an unknown layer.
        TransferlabError: the layer has no spatial output or a channel is out of range.
    """
    check_layers(model, [layer])
    root, channel_index = layer_root(model), torch.as_tensor(list(channels), dtype=torch.long)

    def objective(batch: torch.Tensor) -> torch.Tensor:
        maps = forward_until(model, batch, [layer], root, mode="through", must_reach=False).get(layer)
        check_spatial(model, layer, maps)  # (N, C, H, W)
        if int(channel_index.max()) >= maps.shape[1]:
            raise TransferlabError(f"layer '{layer}' has {maps.shape[1]} channels; channel {int(channel_index.max())} does not exist")
        rows = torch.arange(len(channel_index), device=maps.device)
        picked = maps[rows, channel_index.to(maps.device)]  # (N, H, W): image i, its own channel
        return picked.mean(dim=(1, 2))

    images, history = _optimise(objective, len(channel_index), preprocessing, model_device(model), settings)
    with torch.no_grad():
        final = objective(_normalise(images, preprocessing))
    return [
        Synthesis(_to_uint8(images[i]), f"{layer} channel {int(c)}", history[:, i], float(final[i]))
        for i, c in enumerate(channel_index)
    ]


def _optimise(
    objective: Callable[[torch.Tensor], torch.Tensor],
    batch: int,
    pre: Preprocessing,
    device: torch.device,
    settings: SynthesisSettings,
) -> tuple[torch.Tensor, np.ndarray]:
    """Gradient ascent of `objective` (B,) on a Fourier-parameterised batch; returns [0, 1] images."""
    if settings.steps < 1:
        raise TransferlabError(f"steps must be at least 1, not {settings.steps}")
    size = settings.size or pre.input_size
    generator = torch.Generator().manual_seed(settings.seed)
    image = _FourierImage(batch, len(pre.mean), size, generator, device)
    optimiser = torch.optim.Adam([image.spectrum], lr=settings.lr)
    history = np.zeros((settings.steps, batch), dtype=np.float32)
    with torch.enable_grad():
        for step in range(settings.steps):
            optimiser.zero_grad(set_to_none=True)
            moved = _random_transform(image.pixels(), generator, settings.jitter)
            values = objective(_normalise(moved, pre)).float()  # (B,)
            # Gradients for the spectrum only: no time spent on the weights' gradients.
            (image.spectrum.grad,) = torch.autograd.grad(-values.sum(), [image.spectrum])
            optimiser.step()
            history[step] = values.detach().cpu().numpy()
    with torch.no_grad():
        return image.pixels(), history


class _FourierImage:
    """A batch of images held as scaled 2-D spectra; `pixels()` gives (B, C, S, S) in [0, 1]."""

    def __init__(self, batch: int, channels: int, size: int, generator: torch.Generator, device: torch.device):
        fy = torch.fft.fftfreq(size)[:, None]
        fx = torch.fft.rfftfreq(size)[None, :]
        frequency = torch.sqrt(fx * fx + fy * fy)  # (S, S // 2 + 1)
        self.scale = (1.0 / frequency.clamp_min(1.0 / size)).to(device)  # 1/f: all frequencies learn alike
        shape = (batch, channels, size, size // 2 + 1, 2)
        self.spectrum = (0.01 * torch.randn(shape, generator=generator)).to(device).requires_grad_(True)
        self.size = size

    def pixels(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        image = torch.fft.irfft2(spectrum, s=(self.size, self.size), norm="ortho") / 4.0  # (B, C, S, S)
        if image.shape[1] == 3:
            image = torch.einsum("bchw,dc->bdhw", image, _COLOUR.to(image.device))
        return torch.sigmoid(image)


def _random_transform(images: torch.Tensor, generator: torch.Generator, jitter: int) -> torch.Tensor:
    """Each image shifted by up to `jitter` pixels, scaled by 0.95-1.05, rotated by up to 5 degrees."""
    count, _, size, _ = images.shape
    angle = (torch.rand(count, generator=generator) * 2 - 1) * math.radians(5)
    scale = 0.95 + 0.1 * torch.rand(count, generator=generator)
    shift = (torch.rand(count, 2, generator=generator) * 2 - 1) * (2 * jitter / size)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(images.device), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _normalise(images: torch.Tensor, pre: Preprocessing) -> torch.Tensor:
    mean = torch.tensor(pre.mean, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(pre.std, device=images.device).view(1, -1, 1, 1)
    return (images - mean) / std


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    """(C, S, S) in [0, 1] -> (S, S, 3) uint8."""
    array = (image.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array
