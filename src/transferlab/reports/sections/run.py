"""Sections about the run itself: overview, data, and the strategy with the reasons for it."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ...errors import BadImageError, TransferlabError
from ...paths import RunDir
from ...strategies.registry import STRATEGIES
from ..collect import RunData
from ..document import Block, Facts, Figures, Table, Text
from ..images import figure_from_file, thumbnail
from ._format import percent, scalar, seconds, value_blocks

log = logging.getLogger(__name__)

EXAMPLES_PER_CLASS = 4
MAX_EXAMPLE_CLASSES = 24
_SKIPPED_SHOWN = 20

_COMMON_KEYS = ("backbone", "weights", "input_size", "layer", "normalisation", "batch_size", "seed")


def overview(run: RunData) -> list[Block]:
    """Headline numbers of the run and any warnings recorded while training."""
    s = run.summary
    blocks: list[Block] = [Text(_headline(run))]
    facts = [("run directory", str(run.run_dir)), ("data", scalar(run.config.get("data", s.get("data", {}).get("name")))),
             ("strategy", scalar(s.get("strategy"))), ("backbone", scalar(s.get("backbone"))),
             ("weights", scalar(s.get("weights")))]
    for split, label in (("val", "validation"), ("test", "test")):
        result = run.evaluation(split)
        if result:
            facts.append((f"{label} accuracy", f"{percent(result['accuracy'])} of {result.get('num_samples', '?')} images"))
    facts += [("epochs", scalar(s.get("epochs"))), ("classes", str(len(run.classes))),
              ("total time", seconds(s.get("seconds", {}).get("total")))]
    blocks.append(Facts(tuple(facts)))
    blocks += [Text(str(note), tone="warning") for note in s.get("notes") or ()]
    return blocks


def _headline(run: RunData) -> str:
    s = run.summary
    text = f"{s.get('strategy', '?')} on {s.get('backbone', '?')} ({s.get('weights', '?')} weights)"
    val, test = run.evaluation("val"), run.evaluation("test")
    if val:
        text += f": validation accuracy {percent(val['accuracy'])}"
    if test:
        text += f", test accuracy {percent(test['accuracy'])}"
    return text + "."


def data_summary(run: RunData) -> list[Block]:
    """Images per class and split, what was skipped, and a few example images of each class."""
    data = run.summary.get("data") or {}
    counts: Mapping[str, Mapping[str, int]] = data.get("counts") or {}
    splits = [name for name in ("train", "val", "test") if name in counts]
    classes = list(data.get("classes") or run.classes)
    rows = tuple((name, *(str(counts[sp].get(name, 0)) for sp in splits)) for name in classes)
    totals = ("total", *(str(sum(counts[sp].values())) for sp in splits))
    blocks: list[Block] = [
        Facts((("dataset", scalar(data.get("name"))), ("classes", str(len(classes))),
               ("validation split", _val_origin(run, data)),
               ("images skipped", str(len(data.get("skipped") or ()))))),
        Table(("class", *splits), rows, title="Images per class", numeric=tuple(range(1, len(splits) + 1)),
              footer=totals, collapsed=len(rows) > 30),
    ]
    blocks += _imbalance(counts.get("train") or {})
    blocks += _skipped(data.get("skipped") or [])
    blocks += _examples(run, classes)
    return blocks


def _val_origin(run: RunData, data: Mapping) -> str:
    if data.get("val_from_train"):
        fraction = run.config.get("val_fraction", 0.2)
        return f"held out from train: stratified {percent(fraction)}, seed {run.config.get('seed', 0)}"
    return "given (val/ folder or CSV split)"


def _imbalance(train_counts: Mapping[str, int]) -> list[Block]:
    values = [v for v in train_counts.values()]
    if len(values) < 2 or min(values) == 0 or max(values) / min(values) < 3:
        return []
    small = min(train_counts, key=train_counts.get)
    return [Text(f"Classes are imbalanced: the largest has {max(values) / min(values):.1f}x the images of the "
                 f"smallest ('{small}', {min(values)}). Accuracy flatters the large classes; read per-class "
                 f"recall, and consider --class-weights.", tone="warning")]


def _skipped(skipped: list) -> list[Block]:
    if not skipped:
        return []
    rows = tuple((str(s.get("path", "")), str(s.get("reason", ""))) for s in skipped[:_SKIPPED_SHOWN])
    more = f" (first {_SKIPPED_SHOWN} of {len(skipped)})" if len(skipped) > _SKIPPED_SHOWN else ""
    return [Table(("path", "reason"), rows, title=f"Skipped files{more}", collapsed=True)]


def _examples(run: RunData, classes: list[str]) -> list[Block]:
    """The first few training images of each class, found by scanning the data source again."""
    source = run.config.get("data")
    if not source:
        return []
    from ...data import load_splits  # scanning is cheap; imported here to keep this module light

    try:
        splits = load_splits(str(source), run.config.get("val_fraction", 0.2), run.config.get("seed", 0))
    except (TransferlabError, OSError) as exc:
        return [Text(f"Example images are not shown: the data source cannot be read now ({exc}).")]
    shown = classes[:MAX_EXAMPLE_CLASSES]
    picked = {name: [] for name in shown}
    for path, label in zip(splits.train.paths, splits.train.labels):
        name = splits.train.classes[label]
        if name in picked and len(picked[name]) < EXAMPLES_PER_CLASS:
            picked[name].append(path)
    figures = []
    for name, paths in picked.items():
        for path in paths:
            try:
                figures.append(thumbnail(path, caption=name, side=112, alt=f"training image of class {name}"))
            except BadImageError as exc:
                log.debug("example image skipped: %s", exc)
    more = f" (first {MAX_EXAMPLE_CLASSES} classes)" if len(classes) > MAX_EXAMPLE_CLASSES else ""
    title = f"Training images, {EXAMPLES_PER_CLASS} per class{more}"
    return [Figures(tuple(figures), title=title, columns=2 * EXAMPLES_PER_CLASS)] if figures else []


def strategy(run: RunData) -> list[Block]:
    """The strategy, why it suits (the notes' guide), its settings, details and any auto decision."""
    name = run.strategy
    details = dict(run.summary.get("details") or {})
    details.pop("chosen_strategy", None)
    decision = details.pop("decision", None) or run.summary.get("decision")
    how = " (chosen by --strategy auto)" if decision or run.summary.get("strategy") == "auto" else ""
    known = STRATEGIES.get(name)
    why = (known.why if known else None) or "No description for this strategy."
    blocks: list[Block] = [Text(f"Strategy: {name}{how}. {why}")]
    if known and known.frozen_base and str(run.summary.get("weights", "")).lower() == "none":
        blocks.append(Text("The frozen base has random weights (--weights none): its features are random "
                           "projections, nothing was transferred. Fine for a smoke test, not for a model.",
                           tone="warning"))
    if decision:
        blocks += _decision_blocks(decision)
    sweep = run.path(RunDir.SWEEP)
    if sweep is not None:
        blocks.append(Figures((figure_from_file(sweep, "Depth sweep: validation score of a linear probe on the "
                                                       "features of each tapped layer."),)))
    chosen = decision.get("config", {}) if isinstance(decision, Mapping) else {}
    config = {**run.config, **chosen}  # auto's choices override the options it was given
    keys = _COMMON_KEYS + (known.settings if known else ())
    settings = tuple((k.replace("_", " "), "(strategy default)" if config.get(k) is None else scalar(config[k]))
                     for k in keys if k in config)
    if settings:
        blocks.append(Facts(settings, title="Settings"))
    if details:
        blocks += value_blocks(details, title="What the strategy recorded")
    return blocks


def _decision_blocks(decision) -> list[Block]:
    """`--strategy auto`'s decision: a sentence, or a mapping of measurements and reasons."""
    if isinstance(decision, Mapping):
        return value_blocks(decision, title="Why this strategy (automatic choice)")
    return [Text(f"Why this strategy (automatic choice): {scalar(decision)}")]
