"""`train`: config -> run directory with model, metrics, curves, confusion matrix and summary."""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..config import TrainConfig
from ..data import load_splits
from ..data.scan import ImageSet, recording_skips, stratified_subsample
from ..engine.device import pick_device
from ..engine.distributed import init_distributed, on_main, rank_device
from ..engine.seeding import seeded
from ..errors import TransferlabError
from ..evaluation import evaluate_predictions, top_losses
from ..evaluation.calibration import CENTROID_IMAGES, softmax
from ..evaluation.predictions import predict_paths
from ..features import cached_features
from ..features.cache import entry_path, feature_key
from ..models.artifacts import describe, save_model
from ..models.calibrated import Calibrated
from ..models.classifier import Classifier
from ..paths import RunDir, atomic_write_text
from ..viz.render import plot_confusion, plot_curves, plot_reliability
from .auto import run_auto
from .calibrate import SplitOutputs, calibration_summary, fit_calibration
from .common import RunContext, StrategyOutcome
from .registry import FIXED_RUNNERS

log = logging.getLogger(__name__)

STRATEGY_RUNNERS = {**FIXED_RUNNERS, "auto": run_auto}
# What the caller does with a saved run, as `on_saved(run_dir, classifier)` (the CLI and `api`: its report)
OnSaved = Callable[[Path, Classifier], object]


@dataclass(frozen=True)
class TrainResult:
    """What `train` produced: where, and the headline numbers."""

    out: Path
    summary: dict

    @property
    def val_accuracy(self) -> float:
        return self.summary["val"]["accuracy"]


def train(config: TrainConfig, out: str | Path | None = None, progress: bool = False, resume: bool = False,
          now: Callable[[], float] = time.perf_counter, on_saved: OnSaved | None = None) -> TrainResult:
    """Train a classifier as `config` says and write everything into a run directory.

    Args:
        config: the run's configuration.
        out: run directory (default `RunDir.default`: `runs/<data>-<strategy>`).
        progress: show progress bars.
        resume: continue the run in `out` from its last completed epoch; a finished run (its
            summary.json written last) is returned as it is, without measuring or training again.
        now: the time source `auto`'s budget is spent against (tests fix it).
        on_saved: called with the run directory and the trained classifier once the model and
            summary.json are written, by the first process alone (`api.train_config` writes the report).
    """
    started = time.perf_counter()
    out = Path(out) if out else RunDir.default(config.data, config.strategy).root
    world = init_distributed(config.device)
    with recording_skips() as skipped:  # one warning per unusable file, however often it is read
        splits = load_splits(config.data, config.val_fraction, config.seed)  # before writing anything
        fresh = not out.exists()
        on_main(lambda: _prepare_out(out, config, resume))
        finished = _finished(out) if resume else None
        if finished is not None:
            log.info("%s: the run is already finished; nothing to resume", out)
            return TrainResult(out, finished)
        ctx = RunContext(config, out, splits, rank_device(pick_device(config.device)), progress and world.is_main,
                         resume, now=now)
        try:
            outcome = _seeded_run(ctx)
        except TransferlabError:
            if world.is_main:
                _forget_failed_start(out, fresh)
            raise
        train_seconds = time.perf_counter() - started
        summary = on_main(lambda: _write_outputs(ctx, outcome, train_seconds, skipped, started, world.size,
                                                 on_saved))
    return TrainResult(out, summary)


def _seeded_run(ctx: RunContext) -> StrategyOutcome:
    """The strategy's run, with torch's global generators seeded from the config for it alone.

    Module initialisation (new heads, networks built from scratch) and dropout draw from the
    global generators, which take no `generator=`: seeding them for the run makes it reproducible,
    and forking them leaves the caller's random state as it was. Splits and data order draw from
    generators of their own; epochs and augmented views seed scopes of their own from the same seed.
    """
    with seeded(ctx.config.seed, ctx.device):
        return STRATEGY_RUNNERS[ctx.config.strategy](ctx)


def _write_outputs(ctx: RunContext, outcome: StrategyOutcome, train_seconds: float, skipped: dict,
                   started: float, processes: int, on_saved: OnSaved | None) -> dict:
    """Model, evaluation, summary.json, then `on_saved` (rank 0 of a distributed run only)."""
    summary = _finish(ctx, outcome, train_seconds)
    # files that scanned fine but failed to decode were left out too: count and list them
    scanned = {item.path for item in ctx.splits.skipped}
    found_later = [item for path, item in skipped.items() if path not in scanned]
    summary["data"] = ctx.splits.drop_unreadable(found_later).summary()
    summary["seconds"]["total"] = round(time.perf_counter() - started, 2)
    summary["processes"] = processes
    atomic_write_text(ctx.files.summary, json.dumps(summary, indent=2, default=_jsonable))
    if on_saved is not None:
        on_saved(ctx.out, outcome.classifier)
    return summary


def _prepare_out(out: Path, config: TrainConfig, resume: bool) -> None:
    config_path = RunDir(out).config
    if resume and config_path.is_file():
        saved = _saved_config(config_path)
        if saved != config:
            changed = sorted(k for k, v in config.to_dict().items() if saved.to_dict()[k] != v)
            raise TransferlabError(f"{out}: --resume with a different config ({', '.join(changed)}); "
                                   f"use the same options or another --out")
    elif out.exists() and any(p.name not in RunDir.START_FILES for p in out.iterdir()):
        # START_FILES alone are a start that failed before training (bad data path, unknown
        # backbone...): the corrected command may reuse the directory.
        raise TransferlabError(f"{out} already holds a run: pass --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    config.save(config_path)


def _finished(out: Path) -> dict | None:
    """The summary of a finished run in `out` (its last file written), or None."""
    path = RunDir(out).summary
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None  # unreadable: train again, the summary is rewritten at the end


def _saved_config(path: Path) -> TrainConfig:
    """The config of the run being resumed; a file that is not one (garbled, edited...) is one clear error."""
    try:
        return TrainConfig.load(path)
    except TransferlabError:
        raise
    except Exception as exc:  # yaml.safe_load refuses python object tags; anything else is not our file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TransferlabError(f"{path}: not a config transferlab wrote ({first}); restore it or use another --out") from None


def _forget_failed_start(out: Path, fresh: bool) -> None:
    """A new run that failed before training anything (no readable image, unknown model...) leaves no folder."""
    if fresh and {p.name for p in out.iterdir()} <= RunDir.START_FILES:
        for name in RunDir.START_FILES:
            (out / name).unlink(missing_ok=True)
        out.rmdir()


def _finish(ctx: RunContext, outcome: StrategyOutcome, train_seconds: float) -> dict:
    classifier, classes = outcome.classifier, ctx.splits.classes
    tta = ctx.config.tta or outcome.tta or "none"  # the user's, else the strategy's
    eval_start = time.perf_counter()
    outputs = {name: _outputs(ctx, classifier, images) for name, images in
               (("train", _centroid_images(ctx, classifier)), ("val", ctx.splits.val), ("test", ctx.splits.test))
               if images is not None and len(images)}
    calibration, reason = fit_calibration(outputs["train"], outputs["val"], len(classes))
    save_model(classifier, ctx.out, describe(classifier, classes, ctx.config.strategy, ctx.config.model, tta),
               calibration)
    scored = {name: out for name, out in outputs.items() if name != "train"}
    calibration_entry, bins = calibration_summary(calibration, reason, scored)
    evaluations = {name: _evaluate(ctx, out, calibration.temperature) if tta == "none"
                   else _evaluate_with_views(ctx, Calibrated(classifier, calibration), out, tta)
                   for name, out in scored.items()}
    val = evaluations["val"]
    plot_confusion(val["result"].confusion, list(classes), ctx.files.confusion)
    plot_reliability(bins, ctx.files.reliability)
    if sum(1 for row in outcome.history if row["phase"] not in ("head", "linear")) >= 2:
        plot_curves(_columns(outcome.history), ctx.files.curves, title=f"{ctx.config.strategy} - {ctx.splits.name}")
    return {
        "strategy": ctx.config.strategy,
        "backbone": classifier.backbone.name,
        "weights": classifier.backbone.weights_id,
        "layer": ctx.config.layer,
        "epochs": sum(1 for row in outcome.history if row["epoch"] >= 0),
        "tta": tta,
        "best_val_accuracy": val["result"].accuracy,
        "classes": list(classes),
        "data": ctx.splits.summary(),
        "details": outcome.details,
        "notes": ctx.notes,
        **{name: {**e["result"].to_dict(), "top_losses": e["top_losses"]} for name, e in evaluations.items()},
        "calibration": calibration_entry,
        "seconds": {"train": round(train_seconds, 2), "evaluate": round(time.perf_counter() - eval_start, 2)},
        "device": str(ctx.device),
        "inference": {"engine": ctx.config.engine, "precision": ctx.config.precision},  # as asked; the log says what ran
        "environment": {"torch": torch.__version__, "python": platform.python_version()},
    }


def _centroid_images(ctx: RunContext, classifier: Classifier) -> ImageSet:
    """The training images the calibration's class centroids come from: all where their features
    are cached (a frozen base), else a stratified `CENTROID_IMAGES` of them."""
    train = ctx.splits.train
    key = feature_key(classifier.backbone, classifier.layer, classifier.preprocessing, train,
                      replace(ctx.extraction(), progress=False))
    if entry_path(key).is_file():
        return train
    return train.subset(stratified_subsample(np.asarray(train.labels), CENTROID_IMAGES, ctx.config.seed).tolist())


def _outputs(ctx: RunContext, classifier: Classifier, images) -> SplitOutputs:
    """Logits and pooled features of one split, from the feature cache (keyed by the parameters:
    a fine-tuned base gets entries of its own, a frozen one reuses training's)."""
    feats = cached_features(classifier.backbone, images, classifier.layer, classifier.preprocessing,
                            replace(ctx.extraction(), progress=False))
    if classifier.head is not None:
        head = classifier.head.eval()
        with torch.no_grad():
            x = torch.as_tensor(feats.features).to(next(head.parameters()).device)
            logits = head(x).float().cpu().numpy()
        return SplitOutputs(logits, feats.features, feats.labels, tuple(feats.paths))
    # a scratch CNN's top belongs to its backbone: its logits need the whole network; log-probabilities
    # are logits up to a per-image constant, which neither softmax nor the temperature sees
    probs, paths, _ = predict_paths(classifier, feats.paths, classifier.preprocessing, device=ctx.config.device,
                                    progress=ctx.progress, engine=ctx.config.engine)
    row_of = {path: i for i, path in enumerate(feats.paths)}
    rows = [row_of[p] for p in paths]
    logits = np.log(np.clip(probs, 1e-30, None))
    return SplitOutputs(logits, feats.features[rows], feats.labels[rows], tuple(paths))


def _evaluate(ctx: RunContext, out: SplitOutputs, temperature: float) -> dict:
    """Metrics and top losses of one split, on the calibrated probabilities later predictions give."""
    probs, classes, paths = softmax(out.logits, temperature), list(ctx.splits.classes), list(out.paths)
    result = evaluate_predictions(out.labels, probs, classes, paths)
    return {"result": result, "top_losses": top_losses(out.labels, probs, paths, k=12, class_names=classes)}


def _evaluate_with_views(ctx: RunContext, model: Calibrated, out: SplitOutputs, tta: str) -> dict:
    """`_evaluate` with the probabilities averaged over the test-time views `tta`, exactly as the
    saved model's predictions average them (the calibration was fitted without views)."""
    probs, paths, _ = predict_paths(model, list(out.paths), model.classifier.preprocessing, device=ctx.config.device,
                                    progress=ctx.progress, engine=ctx.config.engine, tta=tta)
    label_of = dict(zip(out.paths, out.labels))
    labels, classes = np.array([label_of[p] for p in paths]), list(ctx.splits.classes)
    result = evaluate_predictions(labels, probs, classes, list(paths))
    return {"result": result, "top_losses": top_losses(labels, probs, list(paths), k=12, class_names=classes)}


def _columns(history: list[dict]) -> dict[str, list]:
    rows = [row for row in history if row["epoch"] >= 0]
    return {key: [row[key] for row in rows] for key in ("epoch", "phase", "train_loss", "train_acc", "val_loss", "val_acc")}


def _jsonable(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
