"""`auto`: measure the data (`advise`), then run the strategy the measurements recommend.

The decision (quadrant, signals, candidates with their CV scores, reasons, budget and what it
gave up) is kept in `summary.json["details"]["decision"]`; the depth sweep's plot goes into the
run directory as `sweep.png`. Auto decides the strategy and its settings (the backbone, measured
among those at hand unless `--backbone` names one; layer, epochs, views, augmentation, unfreeze
depth, class weights); every other option (learning rate, batch size, optimizer, seed...)
passes through. Without a budget it spends `DEFAULT_BUDGET` (10 minutes).

Where the advice asks for a fine-tuning trial (small data whose frozen features leave headroom),
auto fine-tunes on the training part of the CV's first fold, scores it on that fold's held-out
images, and fine-tunes for real only if it beats the frozen pick's score on the same images.
The validation split that the run reports is never used to choose.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time

import numpy as np
from threadpoolctl import threadpool_limits

from ..advise import Advice, AdviseOptions, advise
from ..advise.backbone_choice import alternative_backbones
from ..advise.budget import DEFAULT_BUDGET, format_seconds
from ..advise.plan import MIN_FINETUNE_EPOCHS
from ..advise.sweep import cv_folds
from ..backbones import BackboneChoice
from ..config import TrainConfig
from ..data import ImageSet
from ..engine.distributed import current_world, on_main
from ..evaluation.predictions import predict_paths
from ..viz.render.advise import plot_depth_sweep
from .common import RunContext, StrategyOutcome
from .finetune import run_finetune
from .registry import FIXED_RUNNERS

log = logging.getLogger(__name__)

# The trial must beat the frozen pick on the held-out fold by this share and this many images: its best
# epoch is chosen on that fold, which flatters it a little.
TRIAL_MARGIN, TRIAL_MIN_IMAGES = 0.01, 2


def run_auto(ctx: RunContext) -> StrategyOutcome:
    config, start = ctx.config, ctx.now()
    backbone = BackboneChoice(config.backbone, config.weights, config.input_size)
    fixed = None if config.compare_backbones is None else not config.compare_backbones
    budget = DEFAULT_BUDGET if config.budget is None else config.budget
    options = AdviseOptions(budget, config.seed, config.val_fraction, config.views, ctx.now, ctx.extraction(),
                            alternative_backbones(backbone, fixed))
    # measured by rank 0 alone, one decision for all
    advice = on_main(lambda: advise(config.data, backbone, options, splits=ctx.splits))
    chosen = config.replace(**_unless_given(advice.config_changes(), config), budget=None)
    deadline = start + budget
    trial = _maybe_trial(ctx, advice, config, deadline) if advice.trial is not None else None
    if trial is not None and trial["kept"]:
        epochs = _epochs_that_fit(ctx, trial, advice.trial.settings["epochs"], deadline)
        trial["final_epochs"] = epochs
        if epochs is None:
            trial["kept"] = False
            trial["sentence"] += (f"; but even {MIN_FINETUNE_EPOCHS} epochs on the whole training split would end "
                                  f"past the budget at the trial's measured pace: {advice.chosen.strategy} kept")
        else:
            chosen = config.replace(strategy="finetune", backbone=advice.backbone, layer=None, budget=None,
                                    **{**_unless_given(advice.trial.settings, config), "epochs": epochs})
    ctx.notes.append(f"auto chose {chosen.strategy}: {advice.reasons[-1]}" if trial is None else
                     f"auto chose {chosen.strategy}: {trial['sentence']}")
    ctx.notes.extend(f"auto gave up {item}" for item in advice.budget.get("given_up", []))
    on_main(lambda: _plot_sweep(ctx, advice))
    # One BLAS thread for numpy/scipy (the probes' small matrix products), not for torch's kernels.
    with threadpool_limits(1, user_api="blas"):
        outcome = FIXED_RUNNERS[chosen.strategy](dataclasses.replace(ctx, config=chosen, deadline=deadline))
    spent = ctx.now() - start
    ctx.notes.append(_budget_sentence(spent, budget))
    decision = {**advice.decision(), "trial": trial, "strategy": chosen.strategy,
                "config": {k: v for k, v in chosen.to_dict().items() if v != config.to_dict().get(k)}}
    decision["budget"] = {**decision["budget"], "spent_seconds": round(spent, 1)}
    if trial is not None and trial["kept"]:
        decision["settings"] = {"backbone": advice.backbone, **advice.trial.settings}
        decision["reasons"] = [*decision["reasons"], f"Trial: {trial['sentence']}."]
    outcome.details = {**outcome.details, "decision": decision, "chosen_strategy": chosen.strategy}
    return outcome


def _maybe_trial(ctx: RunContext, advice: Advice, config: TrainConfig, deadline: float) -> dict:
    """Fine-tune on fold 0's training part; compare with the frozen pick on fold 0's held-out images.

    The trial stops at half of the time left before `deadline`: it trains on at most 80 % of
    the images its final run would, so that leaves the final run its share.
    """
    start, frozen = time.perf_counter(), advice.chosen
    train = _swept(ctx.splits.train, advice.sweep.paths)
    inner, held = cv_folds(np.asarray(train.labels), config.seed)[0]  # the sweep's and candidates' first fold
    splits = dataclasses.replace(ctx.splits, train=train.subset(inner.tolist()), val=train.subset(held.tolist()),
                                 test=None, val_from_train=True)
    trial_config = config.replace(strategy="finetune", backbone=advice.backbone, layer=None, budget=None,
                                  **_unless_given(advice.trial.settings, config))
    out = ctx.files.trial
    out.mkdir(exist_ok=True)
    trial_ctx = dataclasses.replace(ctx, config=trial_config, out=out, splits=splits, resume=False, notes=[],
                                    deadline=ctx.now() + (deadline - ctx.now()) / 2)
    with threadpool_limits(1, user_api="blas"):
        outcome = run_finetune(trial_ctx)
    accuracy, scored = on_main(lambda: _held_out_accuracy(outcome.classifier, splits.val, config.device,
                                                                   config.engine))
    baseline = frozen.fold_scores[0]
    margin = max(TRIAL_MARGIN, TRIAL_MIN_IMAGES / max(1, scored))
    kept = accuracy >= baseline + margin
    if current_world().is_main:
        shutil.rmtree(out, ignore_errors=True)  # the trial's weights are not the run's; its numbers are kept below
    verdict = "fine-tuning kept" if kept else f"{frozen.strategy} kept"
    sentence = (f"fine-tuning trial on {len(inner)} training images scored {accuracy:.4f} on {scored} held-out "
                f"ones against {baseline:.4f} for {frozen.strategy} (needs +{margin:.4f}): {verdict}")
    log.info("auto: %s", sentence)
    epochs = [row["seconds"] for row in outcome.history if row["phase"] == "finetune"]
    return {"finetune_accuracy": accuracy, "frozen_strategy": frozen.strategy, "frozen_accuracy": baseline,
            "margin": margin, "train_images": int(len(inner)), "held_out_images": int(scored), "kept": kept,
            "epochs_run": len(epochs), "epoch_seconds": round(float(np.mean(epochs)), 2) if epochs else None,
            "seconds": round(time.perf_counter() - start, 1), "sentence": sentence}


def _epochs_that_fit(ctx: RunContext, trial: dict, planned: int, deadline: float) -> int | None:
    """The planned epochs, or fewer (at least `MIN_FINETUNE_EPOCHS`; else None) where the trial's
    measured pace, scaled to the whole training split, says they would end past `deadline`."""
    if not trial["epoch_seconds"]:
        return planned
    scale = len(ctx.splits.train) / max(1, trial["train_images"])
    setup = max(0.0, trial["seconds"] - trial["epoch_seconds"] * trial["epochs_run"]) * scale
    fit = int((deadline - ctx.now() - setup) // (trial["epoch_seconds"] * scale))
    if fit >= planned:
        return planned
    if fit < MIN_FINETUNE_EPOCHS:
        return None
    ctx.notes.append(f"auto gave up fine-tuning for {planned} epochs: {fit} fit the budget left at the trial's pace")
    return fit


def _budget_sentence(spent: float, budget: float) -> str:
    """How much of the budget the advice, the trial and the run took together (the final evaluation aside)."""
    if spent <= budget:
        return f"auto spent {format_seconds(spent)} of its {format_seconds(budget)} budget"
    return f"auto spent {format_seconds(spent)}, {format_seconds(spent - budget)} over its {format_seconds(budget)} budget"


def _unless_given(settings: dict, config: TrainConfig) -> dict:
    """`settings` without the rates the user chose (`--lr`, `--lr-mult`): those pass through."""
    given = {"lr": config.lr is not None, "lr_mult": config.lr_mult is not None}
    return {k: v for k, v in settings.items() if not given.get(k, False)}


def _swept(train: ImageSet, paths: tuple[str, ...]) -> ImageSet:
    """The training images the sweep cross-validated, in its order (all of train, or its subsample)."""
    row = {p: i for i, p in enumerate(train.paths)}
    return train.subset([row[p] for p in paths])


def _held_out_accuracy(classifier, images, device: str, engine: str) -> tuple[float, int]:
    """Accuracy of `classifier` on `images`, and how many could be scored."""
    probs, paths, _ = predict_paths(classifier, images.paths, classifier.preprocessing, device=device,
                                    engine=engine)
    label_of = dict(zip(images.paths, images.labels))
    return float(np.mean(np.argmax(probs, 1) == np.array([label_of[p] for p in paths]))), len(paths)


def _plot_sweep(ctx: RunContext, advice: Advice) -> None:
    sweep = advice.sweep
    if sweep is None:
        return
    rows = sweep.rows
    plot_depth_sweep([r.label for r in rows], [r.cv_mean for r in rows], [r.cv_std for r in rows],
                     [r.dim for r in rows], ctx.files.sweep, chosen=advice.plan.settings.get("layer", None),
                     title=f"Depth sweep - {ctx.splits.name} ({advice.backbone})")
