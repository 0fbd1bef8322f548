"""The library's verbs, as the command line has them: train, evaluate, predict, extract, export.

    import transferlab as tl
    result = tl.train("photos/", strategy="finetune", out="runs/ft", epochs=4)
    print(result.val_accuracy)
    scores = tl.evaluate("runs/ft", "photos_test/")
    rows = tl.predict("runs/ft", ["new.jpg"], top=1)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backbones import BackboneChoice
from .config import TrainConfig
from .data.scan import Skipped
from .evaluation import EvaluationResult, evaluate_predictions
from .evaluation.predictions import predict_paths, top_k_predictions
from .strategies import TrainResult, load_model
from .strategies import train as train_config

PathLike = str | os.PathLike


@dataclass(frozen=True)
class Evaluation:
    """Scores of a trained run on labelled data, and the files that could not be read."""

    metrics: EvaluationResult
    skipped: tuple[Skipped, ...]

    @property
    def accuracy(self) -> float:
        return self.metrics.accuracy


def train(data: PathLike, strategy: str = "linear", out: PathLike | None = None, *, progress: bool = False,
          resume: bool = False, **options) -> TrainResult:
    """Train on `data` with `strategy`; `options` are `TrainConfig` fields (epochs=4, backbone=...)."""
    config = TrainConfig(data=str(data), strategy=strategy, **options)
    return train_config(config, out, progress=progress, resume=resume)


def evaluate(run_dir: PathLike, data: PathLike, device: str = "auto", progress: bool = False,
             engine: str = "auto") -> Evaluation:
    """Accuracy, loss, per-class scores and confusion of `run_dir`'s model on a labelled folder or CSV."""
    from .data.sources import labelled_images
    from .errors import DataError

    loaded = load_model(run_dir)
    images = labelled_images(data, loaded.classes)
    probs, paths, skipped = predict_paths(loaded.classifier, images.paths, loaded.preprocessing,
                                          device=device, progress=progress, engine=engine)
    if not len(paths):
        raise DataError(f"{data}: no readable images to evaluate")
    label_of = dict(zip(images.paths, images.labels))
    labels = np.array([label_of[p] for p in paths])
    return Evaluation(evaluate_predictions(labels, probs, list(loaded.classes), list(paths)), tuple(skipped))


def predict(run_dir: PathLike, images: list[PathLike], top: int = 1, device: str = "auto") -> list[dict]:
    """The `top` classes of each readable image (unreadable ones are logged and left out)."""
    loaded = load_model(run_dir)
    probs, paths, _ = predict_paths(loaded.classifier, [str(p) for p in images], loaded.preprocessing,
                                    device=device)
    return top_k_predictions(probs, paths, loaded.classes, top)


def extract(data: PathLike, out: PathLike, backbone: BackboneChoice = BackboneChoice(), layer: str | None = None,
            device: str = "auto") -> Path:
    """Pooled features of every split of `data` written to a .safetensors or .npz file."""
    from .features import ExtractionOptions
    from .features.export import all_split_features, write_feature_file

    sets = all_split_features(str(data), backbone, layer, ExtractionOptions(device=device))
    return write_feature_file(Path(out), sets)


def export(run_dir: PathLike, onnx: PathLike, opset: int = 17) -> Path:
    """`run_dir`'s classifier as ONNX, preprocessing and class names in its metadata."""
    from .strategies.export import export_onnx

    return export_onnx(run_dir, onnx, opset)
