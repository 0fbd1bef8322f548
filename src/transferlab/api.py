"""The library's verbs, as the command line has them (train, evaluate, predict, extract, export),
and the model object that a trained run loads into.

    import transferlab as tl
    result = tl.train("photos/", strategy="finetune", out="runs/ft", epochs=4)
    print(result.val_accuracy)
    scores = tl.evaluate("runs/ft", "photos_test/")
    rows = tl.predict("runs/ft", ["new.jpg"], top=1)
    model = tl.load("runs/ft")
    model.predict(Image.open("cat.jpg"))       # files, folders, PIL images, arrays, tensors, lists
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .backbones import BackboneChoice
from .config import TrainConfig
from .data.inputs import Inputs, as_inputs
from .data.scan import Skipped, expand_image_sources
from .data.transforms import eval_transform
from .errors import TransferlabError
from .evaluation import EvaluationResult, evaluate_predictions
from .evaluation.predictions import Scored, predict_paths, score_images, score_paths, top_k_predictions
from .models.artifacts import load_model
from .reports import write_report_safely
from .strategies import TrainResult
from .strategies import train as train_run
from .strategies.registry import FROZEN_BASE

PathLike = str | os.PathLike


@dataclass(frozen=True)
class Evaluation:
    """Scores of a trained run on labelled data, and the files that could not be read."""

    metrics: EvaluationResult
    skipped: tuple[Skipped, ...]

    @property
    def accuracy(self) -> float:
        return self.metrics.accuracy


def train(data: PathLike, strategy: str = "auto", out: PathLike | None = None, *, progress: bool = False,
          resume: bool = False, **options) -> TrainResult:
    """Train on `data` with `strategy`; `options` are `TrainConfig` fields (epochs=4, backbone=...)."""
    config = TrainConfig(data=str(data), strategy=strategy, **options)
    return train_config(config, out, progress=progress, resume=resume)


def train_config(config: TrainConfig, out: PathLike | None = None, *, progress: bool = False,
                 resume: bool = False) -> TrainResult:
    """Train as `config` says into `out` (default `runs/<data>-<strategy>`), then write the run's report.

    A report that fails is logged, never raised: the run is saved and `transferlab report` rebuilds it.
    """
    if (config.mixup or config.cutmix) and config.strategy in FROZEN_BASE:
        # heads on cached features see each image's features, not a batch of images to mix; with
        # `auto`, mixing applies when the plan fine-tunes
        raise TransferlabError(f"--mixup and --cutmix mix batches of images: they apply to finetune and scratch, "
                               f"not to {config.strategy} (which trains on cached features)")
    return train_run(config, out, progress=progress, resume=resume, on_saved=write_report_safely)


class Predictions(list):
    """The `top` classes of each image, as a list of dicts; a table in a notebook, text in a terminal.

    Each row also has `unlike_score` (how unlike the run's training images the input is) and
    `unknown` (the score is above the threshold chosen on validation); both None for a run
    trained before calibration.
    """

    def __str__(self) -> str:
        return "\n".join(f"{row['image']}: " + ", ".join(f"{p['label']} {p['probability']:.3f}"
                                                     for p in row["predictions"]) + _unknown_note(row) for row in self)

    def _repr_html_(self) -> str:
        cells = "".join(f"<tr><td>{html.escape(row['image'])}</td><td>"
                        + "<br>".join(f"{html.escape(p['label'])} {p['probability']:.3f}" for p in row["predictions"])
                        + html.escape(_unknown_note(row)) + "</td></tr>" for row in self)
        return f"<table><tr><th>image</th><th>prediction</th></tr>{cells}</table>"


def _unknown_note(row: dict) -> str:
    return f" [unknown: unlike score {row['unlike_score']:.3f}]" if row.get("unknown") else ""


class Model:
    """A trained run loaded once: predictions and explanations on any image input.

    Inputs (`x`) may be a path, a folder, a PIL image, a numpy array (H, W[, C], uint8 or float
    0-1), a torch tensor ([C,] H, W), or a list of them; each is prepared exactly as the run's
    images were. Unreadable files are logged and left out. `tta` ("none", "flip", "crops")
    averages every prediction over test-time views (None: the run's own choice, `model.json`).
    """

    def __init__(self, run_dir: PathLike, device: str = "auto", engine: str = "auto", tta: str | None = None):
        self.run_dir = Path(run_dir)
        self._loaded = load_model(run_dir)
        self.device, self.engine, self.tta = device, engine, tta or self._loaded.tta

    @property
    def classes(self) -> tuple[str, ...]:
        return self._loaded.classes

    @property
    def classifier(self):
        """The torch module: normalised (B, C, S, S) batches -> logits (before the temperature)."""
        return self._loaded.classifier

    @property
    def calibration(self):
        """The run's temperature and unknown-flag threshold (`models.calibrated.Calibration`)."""
        return self._loaded.calibration

    def predict_proba(self, x) -> np.ndarray:
        """(N, K) class probabilities (temperature applied), one row per readable image."""
        return self._scored(x).probs

    def predict(self, x, top: int = 1) -> Predictions:
        """The `top` classes of each readable image, with their probabilities and the unknown flag."""
        scored = self._scored(x)
        return Predictions(top_k_predictions(scored.probs, scored.paths, self.classes, top, scored.unlike,
                                             self.calibration.threshold))

    def explain(self, x, target: int | None = None, layer: str | None = None) -> np.ndarray:
        """(N, S, S) Grad-CAM++ maps in [0, 1] for the predicted class (or `target`)."""
        from .viz.gradcam import class_activation_maps
        from .viz.layers import default_layer

        batch = self._batch(self._inputs(x))
        classifier = self.classifier.eval()
        layer = layer or default_layer(classifier, "gradcam", torch.zeros_like(batch[:1]))
        return np.stack([cam.heatmap for cam in class_activation_maps(classifier, batch, layer, target)])

    def evaluate(self, data: PathLike, progress: bool = False) -> Evaluation:
        """Accuracy, loss, per-class scores and confusion on a labelled folder or CSV."""
        from .data.sources import labelled_images
        from .errors import DataError

        images = labelled_images(data, self.classes)
        probs, paths, skipped = predict_paths(self._loaded.calibrated(), images.paths, self._loaded.preprocessing,
                                              device=self.device, progress=progress, engine=self.engine,
                                              tta=self.tta)
        if not len(paths):
            raise DataError(f"{data}: no readable images to evaluate")
        label_of = dict(zip(images.paths, images.labels))
        labels = np.array([label_of[p] for p in paths])
        return Evaluation(evaluate_predictions(labels, probs, list(self.classes), list(paths)), tuple(skipped))

    def __repr__(self) -> str:
        meta = self._loaded.description
        return (f"Model({str(self.run_dir)!r}: {meta.get('strategy')} on {meta.get('model') or meta.get('backbone')}, "
                f"{len(self.classes)} classes)")

    def _inputs(self, x) -> Inputs:
        pre = self._loaded.preprocessing
        return as_inputs(x, pre.resize_size, pre.interpolation)

    def _scored(self, x) -> Scored:
        """Probabilities, unlike scores and image names; files only are decoded in chunks, however many."""
        items = list(x) if isinstance(x, (list, tuple)) else [x]
        pre, model = self._loaded.preprocessing, self._loaded.calibrated()
        if all(isinstance(item, (str, os.PathLike)) for item in items):
            paths = expand_image_sources([str(item) for item in items])
            return score_paths(model, paths, pre, device=self.device, engine=self.engine, tta=self.tta)
        inputs = self._inputs(items)
        probs, unlike = score_images(model, inputs.images, pre, device=self.device, engine=self.engine, tta=self.tta)
        return Scored(probs, unlike, tuple(inputs.names), [])

    def _batch(self, inputs: Inputs) -> torch.Tensor:
        transform = eval_transform(self._loaded.preprocessing)
        return torch.stack([transform(image) for image in inputs.images])


def load(run_dir: PathLike, device: str = "auto", engine: str = "auto", tta: str | None = None) -> Model:
    """The model trained in `run_dir`, ready to predict on files, folders, PIL images, arrays or tensors."""
    return Model(run_dir, device, engine, tta)


def evaluate(run_dir: PathLike, data: PathLike, device: str = "auto", progress: bool = False,
             engine: str = "auto", tta: str | None = None) -> Evaluation:
    """Accuracy, loss, per-class scores and confusion of `run_dir`'s model on a labelled folder or CSV."""
    return load(run_dir, device, engine, tta).evaluate(data, progress)


def predict(run_dir: PathLike, images, top: int = 1, device: str = "auto", tta: str | None = None) -> Predictions:
    """The `top` classes of each readable image (files, folders, PIL images, arrays, tensors)."""
    return load(run_dir, device, tta=tta).predict(images, top)


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
