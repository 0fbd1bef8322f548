"""`auto`: measure the data (`advise`), then run the strategy the measurements recommend.

The decision (quadrant, signals, candidates with their CV scores, reasons, budget and what it
gave up) is kept in `summary.json["details"]["decision"]`; the depth sweep's plot goes into the
run directory as `sweep.png`. Auto decides the strategy and its settings (the backbone, measured
among those at hand unless `--backbone` names one; layer, epochs, views, augmentation, unfreeze
depth, class weights); every other option (learning rate, batch size, optimizer, seed...)
passes through. Without a budget it spends `DEFAULT_BUDGET` (10 minutes).

Where the advice asks for a fine-tuning trial (frozen features that leave headroom, on small
data or large), auto fine-tunes on all of train except the CV's first held-out fold, scores it
on that fold, and keeps fine-tuning only if it beats the frozen pick's score on the same images:
it then fine-tunes on all of train where as many epochs still fit the budget, and otherwise
keeps the trial's model. The validation split that the run reports is never used to choose.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits

from ..advise import Advice, AdviseOptions, advise
from ..advise.backbone_choice import alternative_backbones
from ..advise.candidates import Candidate
from ..advise.core import NO_FLIP
from ..advise.flips import TTA_TRIED, paired_gain, ranked_views
from ..advise.budget import DEFAULT_BUDGET, format_seconds
from ..advise.plan import MAX_TRIAL_EPOCHS, trial_margin
from ..advise.sweep import cv_folds
from ..backbones import BackboneChoice
from ..config import TrainConfig
from ..data import ImageSet
from ..engine.callbacks import Ahead
from ..engine.distributed import current_world, on_main
from ..data.decode import decode_images
from ..data.transforms import TTA_VIEW_COUNTS
from ..evaluation.calibration import CENTROID_IMAGES
from ..evaluation.predictions import score_images
from ..paths import RunDir
from ..viz.render.advise import plot_depth_sweep
from .common import RunContext, StrategyOutcome
from .finetune import run_finetune
from .registry import FIXED_RUNNERS

log = logging.getLogger(__name__)

ROUNDING = 1e-9  # a margin of whole images met exactly counts as met


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
    trials = _run_trials(ctx, advice, config, deadline)
    trial = _best(trials)
    outcome, tta = None, "none"
    if trial is not None and trial.record["kept"]:
        chosen = config.replace(strategy="finetune", backbone=advice.backbone, layer=None, budget=None,
                                **_unless_given(trial.record["settings"], config))
        retrain = on_main(lambda: _retrain_seconds(ctx, trial.record, chosen.epochs))
        if on_main(lambda: ctx.now() + retrain > deadline):  # one decision for every rank
            outcome, retrain = _keep_trial_model(ctx, trial), 0.0
        tta, why = on_main(lambda: _test_time_views(ctx, trial.record, deadline - ctx.now() - retrain))
        ctx.notes.extend([f"auto: {why}"] if why else [])
    if trials:
        _forget_trial(ctx)
    sentence = advice.reasons[-1] if trial is None else trial.record["sentence"]
    ctx.notes.append(f"auto chose {chosen.strategy}: {sentence}")
    ctx.notes.extend(f"auto gave up {item}" for item in advice.budget.get("given_up", []))
    on_main(lambda: _plot_sweep(ctx, advice))
    if outcome is None:
        run_ctx = dataclasses.replace(ctx, config=chosen, deadline=deadline)
        if (trial is not None and not trial.record["kept"] and advice.sweep.samples < len(ctx.splits.train)
                and not on_main(lambda: _frozen_fits(ctx, advice, deadline))):
            run_ctx = _on_swept_images(run_ctx, advice)
        # One BLAS thread for numpy/scipy (the probes' small matrix products), not for torch's kernels.
        with threadpool_limits(1, user_api="blas"):
            outcome = FIXED_RUNNERS[chosen.strategy](run_ctx)
    kept = trial is not None and trial.record["kept"]
    # the user's views, else the trial's measured ones, else the frozen plan's (as the run's scoring takes them)
    outcome.tta = config.tta or (tta if kept else chosen.tta) or "none"
    spent = ctx.now() - start
    ctx.notes.append(_budget_sentence(spent, budget))
    record = None if trial is None else trial.record
    decision = {**advice.decision(), "trial": record, "strategy": chosen.strategy, "tta": outcome.tta,
                "config": {k: v for k, v in chosen.to_dict().items() if v != config.to_dict().get(k)}}
    decision["budget"] = {**decision["budget"], "spent_seconds": round(spent, 1)}
    if len(trials) > 1:
        decision["trials"] = [t.record for t in trials]
    if record is not None and record["kept"]:
        decision["settings"] = {"backbone": advice.backbone, **trial.record["settings"]}
        decision["reasons"] = [*decision["reasons"], f"Trial: {record['sentence']}."]
    outcome.details = {**outcome.details, "decision": decision, "chosen_strategy": chosen.strategy}
    return outcome


class Trial(NamedTuple):
    """A fine-tuning trial: what it measured (`record`, kept in summary.json) and what it trained."""

    record: dict
    outcome: StrategyOutcome
    notes: list[str]
    folder: Path


def _run_trials(ctx: RunContext, advice: Advice, config: TrainConfig, deadline: float) -> list[Trial]:
    """The advice's trials in turn; one after a trial that ended before its planned time (an early
    stop) gets the epochs that time buys (`_lengthened`)."""
    trials, start = [], ctx.now()
    due = start  # when each trial is planned to start: back to back from now
    for k, candidate in enumerate(advice.trials, start=1):
        now = on_main(ctx.now)
        # the time before it that earlier trials left unused, and no more than fits before its own deadline
        slack = min(due - now, deadline - candidate.reserve_seconds - now - candidate.estimated_seconds)
        single = not current_world().active  # a distributed trial has no deadline callback to stop it
        longer = _lengthened(candidate, slack, config) if now > start and single else candidate
        if longer is not candidate:
            ctx.notes.append(f"auto: trial {k} lengthened from {candidate.settings['epochs']} to "
                             f"{longer.settings['epochs']} epochs: the trials before it ended early")
        due += longer.estimated_seconds
        trials.append(_maybe_trial(ctx, advice, longer, config, deadline, ctx.files.trial / str(k)))
    return trials


def _lengthened(candidate: Candidate, slack: float, config: TrainConfig) -> Candidate:
    """`candidate` with the epochs `slack` more seconds buy at its planned pace (its setup counted
    in, so an underestimate), up to `MAX_TRIAL_EPOCHS`; as it is without slack or where each epoch
    trains on a share of train (the budget already cut it short, or the user chose it)."""
    settings = candidate.settings
    per_epoch = candidate.estimated_seconds / settings["epochs"]
    if slack <= 0 or per_epoch <= 0 or settings.get("epoch_images") or config.epoch_images:
        return candidate
    epochs = min(MAX_TRIAL_EPOCHS, settings["epochs"] + int(slack / per_epoch))
    if epochs == settings["epochs"]:
        return candidate
    return dataclasses.replace(candidate, settings={**settings, "epochs": epochs},
                               estimated_seconds=candidate.estimated_seconds + (epochs - settings["epochs"]) * per_epoch)


def _best(trials: list[Trial]) -> Trial | None:
    """The most accurate trial that beat the frozen pick (ties: the first run); else the first."""
    kept = [t for t in trials if t.record["kept"]]
    if kept:
        return max(kept, key=lambda t: t.record["finetune_accuracy"])
    return trials[0] if trials else None


def _maybe_trial(ctx: RunContext, advice: Advice, candidate: Candidate, config: TrainConfig, deadline: float,
                 out: Path) -> Trial:
    """Fine-tune on train but fold 0's held-out images (where the sweep ran on a subsample, the
    rest of train as well); compare with the frozen pick on those held-out images.

    The trial may run until the advice's reserve before `deadline` (the frozen pick's run, or
    scoring the trial's model), and once it leads the frozen pick by the margin on the held-out
    fold, until the reserve a winning trial needs: its model then stands in for the frozen pick.
    Where it wins and a retrain on all of train would not fit as many epochs, its model is the
    final one.
    """
    start, frozen = time.perf_counter(), advice.chosen
    swept = _swept(ctx.splits.train, advice.sweep.paths)
    _, held = cv_folds(np.asarray(swept.labels), config.seed)[0]  # the sweep's and candidates' first fold
    held_out = swept.subset(held.tolist())
    # the frozen pick as it would run: with its test-time views
    baseline, margin = frozen.fold_scores[0] + _views_gain(advice, config), trial_margin(len(held_out))
    stop, ahead = deadline - candidate.reserve_seconds, _ahead(candidate, baseline + margin, deadline)
    splits = dataclasses.replace(ctx.splits, train=ctx.splits.train.without(set(held_out.paths)), val=held_out,
                                 test=None, val_from_train=True)
    trial_config = config.replace(strategy="finetune", backbone=advice.backbone, layer=None, budget=None,
                                  **_unless_given(candidate.settings, config))
    out.mkdir(parents=True, exist_ok=True)
    trial_ctx = dataclasses.replace(ctx, config=trial_config, out=out, splits=splits, resume=False, notes=[],
                                    deadline=stop, ahead=ahead)
    with threadpool_limits(1, user_api="blas"):
        outcome = run_finetune(trial_ctx)
    led = _led_after(outcome.history, ahead)
    # it led the frozen pick by the margin and trained on into the fallback's time: no fallback fits now
    overran = led is not None and on_main(lambda: ctx.now() > stop)
    right, seconds = on_main(lambda: _held_out_scores(outcome.classifier, splits.val, config, ("none",)))
    accuracy, scored = float(right["none"].mean()), len(right["none"])
    kept = _beats(accuracy, baseline, margin) or overran
    trained = time.perf_counter() - start  # training and scoring as it is: what a retrain would repeat
    if kept and config.tta is None and candidate.settings.get("augment") != NO_FLIP:
        views = on_main(lambda: _held_out_scores(outcome.classifier, splits.val, config, TTA_TRIED))
        right, seconds = {**right, **views[0]}, {**seconds, **views[1]}
    verdict = "fine-tuning kept" if kept else f"{frozen.strategy} kept"
    if overran and not _beats(accuracy, baseline, margin):
        verdict += (f" (its best epoch led by the margin during training and it trained on into the time kept "
                    f"back for {frozen.strategy})")
    sentence = (f"fine-tuning trial on {len(splits.train)} training images scored {accuracy:.4f} on {scored} held-out "
                f"ones against {baseline:.4f} for {frozen.strategy}{_with_views(advice, config)} (needs +{margin:.4f}): "
                f"{verdict}")
    log.info("auto: %s", sentence)
    epochs = [row["seconds"] for row in outcome.history if row["phase"] == "finetune"]
    record = {"finetune_accuracy": accuracy, "frozen_strategy": frozen.strategy, "frozen_accuracy": baseline,
              "margin": margin, "train_images": len(splits.train), "held_out_images": int(scored), "kept": kept,
              "epochs_run": len(epochs), "epoch_seconds": round(float(np.mean(epochs)), 2) if epochs else None,
              "seconds": round(trained, 1), "sentence": sentence, "settings": candidate.settings,
              "final": "retrained on all of train" if kept else None, "tta": _tta_record(right, seconds),
              "led_after_epoch": led, "trained_into_reserve": overran}
    return Trial(record, outcome, trial_ctx.notes, out)


def _frozen_views(advice: Advice, config: TrainConfig) -> str:
    """The test-time mode the frozen plan would run with: the user's, else the plan's."""
    return config.tta or advice.plan.settings.get("tta") or "none"


def _views_gain(advice: Advice, config: TrainConfig) -> float:
    """What the frozen plan's test-time views add on the CV's first fold (the mirror test's probe's gain)."""
    return dict(advice.views_gains).get(_frozen_views(advice, config), 0.0)


def _with_views(advice: Advice, config: TrainConfig) -> str:
    return f" with its {_frozen_views(advice, config)} views" if _views_gain(advice, config) else ""


def _ahead(candidate: Candidate, needed: float, deadline: float) -> Ahead | None:
    """The later deadline a trial earns by reaching `needed` on its held-out fold: `deadline` less
    what a winning trial must leave; None where that is no later than its first deadline."""
    if candidate.reserve_ahead_seconds is None or candidate.reserve_ahead_seconds >= candidate.reserve_seconds:
        return None
    return Ahead(needed - ROUNDING, deadline - candidate.reserve_ahead_seconds)


def _led_after(history: list[dict], ahead: Ahead | None) -> int | None:
    """The first fine-tuning epoch (from 1) in `history` whose validation accuracy reached `ahead`'s
    (the trial earned the later deadline there); None if none did or there was no `ahead`."""
    if ahead is None:
        return None
    rows = [row for row in history if row["phase"] == "finetune"]
    return next((k for k, row in enumerate(rows, start=1) if row["val_acc"] >= ahead.accuracy), None)


def _beats(accuracy: float, baseline: float, margin: float) -> bool:
    """Whether `accuracy` beats `baseline` by `margin`; a margin of whole images met exactly counts
    (188/190 against 186/190 + 2/190 once lost to rounding: plant_leaves' every-layer trial)."""
    return accuracy >= baseline + margin - ROUNDING


def _retrain_seconds(ctx: RunContext, record: dict, epochs: int) -> float:
    """Seconds of fine-tuning on the whole training split for `epochs` at the trial's measured
    pace: its setup scaled to the split's size, its epochs to the images each trains on (all, or
    the settings' `epoch_images`)."""
    if not record["epoch_seconds"]:
        return 0.0
    train, trial = len(ctx.splits.train), max(1, record["train_images"])
    per_epoch = record["settings"].get("epoch_images") or train
    setup = max(0.0, record["seconds"] - record["epoch_seconds"] * record["epochs_run"]) * train / trial
    return setup + epochs * record["epoch_seconds"] * min(train, per_epoch) / min(trial, per_epoch)


def _frozen_fits(ctx: RunContext, advice: Advice, deadline: float) -> bool:
    """Whether the frozen plan's run on all of train (its test-time views included), as estimated, ends before `deadline`."""
    return ctx.now() + advice.plan.estimated_seconds <= deadline


def _on_swept_images(ctx: RunContext, advice: Advice) -> RunContext:
    """`ctx` training on the sweep's images alone (their features are cached): a lost trial left too
    little time for a pass over the rest of train."""
    swept = _swept(ctx.splits.train, advice.sweep.paths)
    ctx.notes.append(f"auto trained {ctx.config.strategy} on the depth sweep's {len(swept):,} training images, whose "
                     f"features were cached: a pass over all {len(ctx.splits.train):,} would have ended past the budget "
                     f"after the fine-tuning trial")
    return dataclasses.replace(ctx, splits=dataclasses.replace(ctx.splits, train=swept))


def _keep_trial_model(ctx: RunContext, trial: Trial) -> StrategyOutcome:
    """The trial's model as the run's: its curves become the run's (their validation is the held-out fold)."""
    record = trial.record
    record["final"] = "the trial's model"
    record["sentence"] += (f"; the trial's model is the final one (a retrain on all {len(ctx.splits.train)} training "
                           f"images for as many epochs would end past the budget at the trial's pace)")
    ctx.notes.extend(trial.notes)
    ctx.notes.append(f"the curves' validation is the trial's {record['held_out_images']} held-out training images; "
                     "the run's validation split is scored only at the end")
    if current_world().is_main and trial.folder.joinpath(RunDir.METRICS).is_file():
        shutil.move(trial.folder / RunDir.METRICS, ctx.files.metrics)
    return trial.outcome


def _forget_trial(ctx: RunContext) -> None:
    """The trial's folder (its weights are in memory or not the run's; its numbers are in the record)."""
    if current_world().is_main:
        shutil.rmtree(ctx.files.trial, ignore_errors=True)


def _budget_sentence(spent: float, budget: float) -> str:
    """How much of the budget the advice, the trial and the run took together (the final evaluation aside)."""
    if spent <= budget:
        return f"auto spent {format_seconds(spent)} of its {format_seconds(budget)} budget"
    return f"auto spent {format_seconds(spent)}, {format_seconds(spent - budget)} over its {format_seconds(budget)} budget"


def _unless_given(settings: dict, config: TrainConfig) -> dict:
    """`settings` without the rates, input side, test-time views and epoch length the user chose
    (`--lr`, `--lr-mult`, `--input-size`, `--tta`, `--epoch-images`): those pass through."""
    given = {"lr": config.lr is not None, "lr_mult": config.lr_mult is not None,
             "input_size": config.input_size is not None, "tta": config.tta is not None,
             "epoch_images": config.epoch_images is not None}
    return {k: v for k, v in settings.items() if not given.get(k, False)}


def _swept(train: ImageSet, paths: tuple[str, ...]) -> ImageSet:
    """The training images the sweep cross-validated, in its order (all of train, or its subsample)."""
    row = {p: i for i, p in enumerate(train.paths)}
    return train.subset([row[p] for p in paths])


def _held_out_scores(classifier, images: ImageSet, config: TrainConfig,
                     modes: tuple[str, ...]) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Which of the readable `images` `classifier` gets right with each test-time mode in `modes`
    ("none": as they are), and the seconds each scoring took (decoded once)."""
    pre = classifier.preprocessing
    decoded, _ = decode_images(list(images.paths), pre.resize_size, pre.interpolation)
    label_of = dict(zip(images.paths, images.labels))
    labels = np.array([label_of[p] for p in decoded.paths])
    right, seconds = {}, {}
    for mode in modes:
        start = time.perf_counter()
        probs, _ = score_images(classifier, decoded.images, pre, device=config.device, engine=config.engine, tta=mode)
        seconds[mode], right[mode] = time.perf_counter() - start, probs.argmax(1) == labels
    return right, seconds


def _tta_record(right: dict[str, np.ndarray], seconds: dict[str, float]) -> dict:
    """Per test-time mode: held-out accuracy, images it gets right that plain scoring gets wrong
    minus the reverse (the paired gain), and seconds per image."""
    plain, count = right["none"], max(1, len(right["none"]))
    return {mode: {"accuracy": round(float(hits.mean()), 4), "gain": paired_gain(hits, plain),
                   "seconds_per_image": seconds[mode] / count} for mode, hits in right.items()}


def _test_time_views(ctx: RunContext, record: dict, seconds_left: float) -> tuple[str, str]:
    """The test-time mode the final scoring and the saved model use, and why: the first of
    `ranked_views` (the most more of the trial's held-out images right than plain scoring,
    `TTA_MIN_GAIN` at least; ties: the fewer views) whose scoring of val and test fits
    `seconds_left` beside the scoring without views (val, test and the calibration's training
    images, at the trial's measured pace); else "none"."""
    measured = {mode: row for mode, row in record.get("tta", {}).items() if mode != "none"}
    if not measured:
        return "none", ""
    images = len(ctx.splits.val) + (len(ctx.splits.test) if ctx.splits.test is not None else 0)
    plain = record["tta"]["none"]["seconds_per_image"] * (images + min(len(ctx.splits.train), CENTROID_IMAGES))
    held = f"{record['held_out_images']} held-out images"
    ranked = ranked_views({mode: row["gain"] for mode, row in measured.items()})
    if not ranked:
        return "none", f"test-time views left out: none beat plain scoring on the trial's {held}"
    for mode in ranked:
        row = measured[mode]
        if plain + row["seconds_per_image"] * images <= seconds_left:
            return mode, (f"predictions average over test-time views ({mode}, {TTA_VIEW_COUNTS[mode]} per image): "
                          f"they got {row['gain']} more of the trial's {held} right than plain scoring "
                          f"({row['accuracy']:.4f})")
    return "none", (f"test-time views ({', '.join(ranked)}) left out: they got more of the trial's {held} right, "
                    f"but scoring val and test with them would end past the budget")


def _plot_sweep(ctx: RunContext, advice: Advice) -> None:
    sweep = advice.sweep
    if sweep is None:
        return
    rows = sweep.rows
    plot_depth_sweep([r.label for r in rows], [r.cv_mean for r in rows], [r.cv_std for r in rows],
                     [r.dim for r in rows], ctx.files.sweep, chosen=advice.plan.settings.get("layer", None),
                     title=f"Depth sweep - {ctx.splits.name} ({advice.backbone})")
