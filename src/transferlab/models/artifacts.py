"""A run's model on disk: `model.safetensors` (weights) + `model.json` (how to rebuild it, its
temperature) + `calibration.safetensors` (class centroids for the unknown flag, when fitted)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..backbones import Preprocessing, create_backbone
from ..errors import TransferlabError
from ..paths import RunDir, atomic_write_text
from .calibrated import Calibrated, Calibration, load_calibration, save_calibration
from .classifier import Classifier
from .heads import Head
from .lookup import build_scratch_classifier
from .storage import load_weights, save_weights


@dataclass(frozen=True)
class LoadedModel:
    """A trained classifier with its class names, input preprocessing and calibration."""

    classifier: Classifier
    classes: tuple[str, ...]
    preprocessing: Preprocessing
    description: dict
    calibration: Calibration = field(default_factory=Calibration)

    @property
    def tta(self) -> str:
        """The test-time views the run chose for its predictions (runs before them: none)."""
        return self.description.get("tta", "none")

    def calibrated(self) -> Calibrated:
        """The classifier as predictions use it: calibrated logits and unlike scores."""
        return Calibrated(self.classifier, self.calibration).eval()


def describe(classifier: Classifier, classes, strategy: str, model: str | None, tta: str = "none") -> dict:
    """The JSON that rebuilds `classifier` with random weights before loading its safetensors, and
    the test-time views (`tta`) its predictions average over by default."""
    backbone = classifier.backbone
    return {
        "format": 1,
        "strategy": strategy,
        "backbone": backbone.name,
        "model": model,
        "weights_id": backbone.weights_id,
        "input_size": backbone.input_size,
        "layer": classifier.layer,
        "head": classifier.head.config() if classifier.head is not None else None,
        "classes": list(classes),
        "preprocessing": classifier.preprocessing.to_dict(),
        "tta": tta,
    }


def save_model(classifier: Classifier, out: Path, description: dict, calibration: Calibration = Calibration()) -> None:
    """Write model.safetensors, calibration.safetensors and model.json into `out` (each atomically)."""
    files = RunDir(out)
    description = {**description, "calibration": calibration.to_dict()}
    save_calibration(calibration, out)  # before model.json, which says whether to read it
    save_weights(classifier, files.model_weights, {"transferlab": json.dumps(description)})
    atomic_write_text(files.model_meta, json.dumps(description, indent=2))


def load_model(run_dir: str | Path) -> LoadedModel:
    """Rebuild and load the classifier saved in `run_dir`."""
    files = RunDir(run_dir)
    meta_path, weights_path = files.model_meta, files.model_weights
    if not meta_path.is_file() or not weights_path.is_file():
        raise TransferlabError(f"{files.root}: not a finished run (model.json/model.safetensors missing); train first")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TransferlabError(f"{meta_path}: corrupt ({exc}); retrain the run") from None
    classifier = _rebuild(meta)
    load_weights(classifier, weights_path)
    pre = Preprocessing.from_dict(meta["preprocessing"])
    classifier.backbone.preprocessing = pre
    return LoadedModel(classifier.eval(), tuple(meta["classes"]), pre, meta, load_calibration(run_dir, meta))


def _rebuild(meta: dict) -> Classifier:
    classes = meta["classes"]
    if meta["head"] is None:
        return build_scratch_classifier(meta["model"], meta["backbone"], len(classes), meta["input_size"])
    backbone = create_backbone(meta["backbone"], "none", include_top=False, input_size=meta["input_size"])
    backbone.weights_id = meta["weights_id"]
    return Classifier(backbone, Head(**meta["head"]), meta["layer"])
