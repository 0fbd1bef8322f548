"""Tensor transforms on decoded uint8 images: eval crop + normalise, and training augmentation."""

from __future__ import annotations

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from ..backbones.preprocessing import Preprocessing

_INTERPOLATION = {
    "bicubic": v2.InterpolationMode.BICUBIC,
    "bilinear": v2.InterpolationMode.BILINEAR,
    "nearest": v2.InterpolationMode.NEAREST,
}


def interpolation_mode(name: str) -> v2.InterpolationMode:
    """torchvision's interpolation enum for a preprocessing name."""
    return _INTERPOLATION[name]


def eval_transform(pre: Preprocessing) -> v2.Compose:
    """uint8 (3, H, W) -> normalised float (C, S, S): shorter side to resize size, centre crop."""
    return v2.Compose(
        [
            v2.Resize(pre.resize_size, interpolation=interpolation_mode(pre.interpolation), antialias=True),
            v2.CenterCrop(pre.input_size),
            *to_model_input(pre),
        ]
    )


TTA_MODES = ("none", "flip", "crops")
TTA_VIEW_COUNTS = {"none": 1, "flip": 2, "crops": 6}  # views per image of each mode


def tta_views(pre: Preprocessing, mode: str = "none"):
    """uint8 (3, H, W) -> the (V, C, S, S) views test-time augmentation averages over.

    "none": the eval centre crop alone; "flip": it and its mirror image; "crops": the centre
    crop, its mirror, and the four corner crops of the resized image (6 views).
    """
    if mode not in TTA_MODES:
        from ..errors import unknown_name

        raise unknown_name("test-time augmentation", mode, TTA_MODES)
    finish = v2.Compose(to_model_input(pre))
    mode_of = interpolation_mode(pre.interpolation)

    def views(image: torch.Tensor) -> torch.Tensor:
        resized = F.resize(image, pre.resize_size, interpolation=mode_of, antialias=True)
        centre = F.center_crop(resized, pre.input_size)
        crops = [centre] + ([F.hflip(centre)] if mode != "none" else [])
        if mode == "crops":
            crops += list(F.five_crop(resized, pre.input_size)[:4])
        return torch.stack([finish(crop) for crop in crops])

    return views


def to_model_input(pre: Preprocessing) -> list:
    """The last steps of every pipeline: channels as the model expects, float, normalised."""
    steps = [v2.Grayscale(1)] if len(pre.mean) == 1 else []
    return steps + [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(pre.mean), list(pre.std))]


def eval_batch(images, pre: Preprocessing) -> torch.Tensor:
    """Decoded uint8 images (3, H, W) -> one normalised float batch (B, C, S, S).

    The same result as stacking `eval_transform(pre)` of each image, with the float work done
    once on the whole batch: resize (a no-op at the working size) and crop stay per image and
    on uint8, then one conversion and one normalisation.
    """
    mode = interpolation_mode(pre.interpolation)
    crops = [F.center_crop(F.resize(img, pre.resize_size, interpolation=mode, antialias=True), pre.input_size)
             for img in images]
    batch = torch.stack(crops)  # (B, 3, S, S) uint8
    if len(pre.mean) == 1:
        batch = F.rgb_to_grayscale(batch, num_output_channels=1)
    batch = F.to_dtype(batch, torch.float32, scale=True)
    return F.normalize(batch, list(pre.mean), list(pre.std), inplace=True)


def normalise(batch: torch.Tensor, pre: Preprocessing) -> torch.Tensor:
    """Float or uint8 batch (B, 3, S, S) -> normalised float batch."""
    if batch.dtype == torch.uint8:
        batch = batch.float().div_(255.0)
    return F.normalize(batch, list(pre.mean), list(pre.std))
