"""Result sections: training curves, validation/test metrics with confusion matrices, top losses."""

from __future__ import annotations

import logging
import math

import numpy as np

from ...errors import BadImageError
from ...paths import RunDir
from ...viz.render import plot_confusion, plot_curves
from ..collect import RunData
from ..document import Block, Bullets, Facts, Figure, Figures, Table, Text
from ..images import figure_from_file, render_figure, thumbnail
from ._format import number, percent, scalar

log = logging.getLogger(__name__)

CURVE_COLUMNS = ("epoch", "phase", "train_loss", "train_acc", "val_loss", "val_acc")
OVERFIT_GAP = 0.10  # train accuracy this far above validation accuracy earns a warning
CONFUSED_PAIRS = 5
_CURVES_CAPTION = ("Loss and accuracy per epoch: thin lines raw, bold lines EMA-smoothed (factor 0.8); "
                   "a dashed line marks a change of phase.")
_SPLIT_NAMES = {"val": "validation", "test": "test"}


def curves(run: RunData) -> list[Block]:
    """The curves plot (the run's curves.png, or drawn from metrics.csv), best epoch, epoch table."""
    metrics = run.metrics
    blocks: list[Block] = []
    png = run.path(RunDir.CURVES)
    if png is not None:
        blocks.append(Figures((figure_from_file(png, _CURVES_CAPTION),)))
    elif metrics and len(metrics["epoch"]) >= 2:
        columns = {k: metrics[k] for k in CURVE_COLUMNS if k in metrics}
        blocks.append(Figures((render_figure(lambda p: plot_curves(columns, p), _CURVES_CAPTION, RunDir.METRICS),)))
    if not metrics:
        return blocks + [Text(_no_epochs_text(run))]
    blocks += _epoch_facts(metrics)
    blocks.append(_epoch_table(metrics))
    return blocks


def _no_epochs_text(run: RunData) -> str:
    if run.strategy == "linear":
        return ("A linear probe has no training epochs, hence no curves: the classifier is fitted in one go "
                "for each C and the C with the best validation score is kept (see Strategy).")
    return "No per-epoch metrics were recorded for this run (metrics.csv is missing or empty)."


def _epoch_facts(metrics: dict) -> list[Block]:
    val_acc = metrics.get("val_acc")
    if not val_acc or all(math.isnan(v) for v in val_acc):
        return []
    best = int(np.nanargmax(val_acc))
    last = len(val_acc) - 1
    facts = [("best validation accuracy", f"{percent(val_acc[best])} at epoch {int(metrics['epoch'][best])}"),
             ("last epoch", f"{int(metrics['epoch'][last])}: validation accuracy {percent(val_acc[last])}, "
                            f"loss {number(metrics.get('val_loss', [math.nan] * (last + 1))[last])}")]
    blocks: list[Block] = [Facts(tuple(facts))]
    train_acc = metrics.get("train_acc")
    if train_acc and train_acc[last] - val_acc[last] > OVERFIT_GAP:
        blocks.append(Text(f"Training accuracy ({percent(train_acc[last])}) is well above validation accuracy "
                           f"({percent(val_acc[last])}) at the end: the model is overfitting. More data, "
                           f"augmentation, dropout or weight decay, or fewer epochs, would help.", tone="warning"))
    return blocks


def _epoch_table(metrics: dict) -> Table:
    columns = [c for c in ("epoch", "phase", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
               if c in metrics]
    rows = tuple(tuple(_cell(c, metrics[c][i]) for c in columns) for i in range(len(metrics["epoch"])))
    numeric = tuple(i for i, c in enumerate(columns) if c != "phase")
    return Table(tuple(c.replace("_", " ") for c in columns), rows, title="Every epoch (metrics.csv)",
                 numeric=numeric, collapsed=True)


def _cell(column: str, value) -> str:
    if column == "epoch":
        return str(int(value))
    if column == "lr":
        return f"{value:.3g}"
    return number(value, 3 if column == "seconds" else 4) if not isinstance(value, str) else value


def validation(run: RunData) -> list[Block] | None:
    """Validation metrics, per-class scores and confusion matrix."""
    return _evaluation(run, "val", run.path(RunDir.CONFUSION))


def test(run: RunData) -> list[Block] | None:
    """Test metrics, when the data had a test split."""
    return _evaluation(run, "test", None)


def _evaluation(run: RunData, split: str, png) -> list[Block] | None:
    result = run.evaluation(split)
    if result is None:
        return None
    macro = result.get("macro") or {}
    facts = (("accuracy", percent(result["accuracy"])), ("loss (cross-entropy)", number(result.get("loss"))),
             ("macro precision / recall / F1", " / ".join(number(macro.get(k), 3) for k in ("precision", "recall", "f1"))),
             ("images", scalar(result.get("num_samples"))))
    per_class = result.get("per_class") or {}
    rows = tuple((name, number(m.get("precision"), 3), number(m.get("recall"), 3), number(m.get("f1"), 3),
                  scalar(m.get("support"))) for name, m in per_class.items())
    footer = ("macro average", *(number(macro.get(k), 3) for k in ("precision", "recall", "f1")),
              scalar(result.get("num_samples")))
    blocks: list[Block] = [Facts(facts), Table(("class", "precision", "recall", "F1", "support"), rows,
                                              title="Per class", numeric=(1, 2, 3, 4), footer=footer,
                                              collapsed=len(rows) > 30)]
    confusion, names = result.get("confusion"), result.get("class_names") or run.classes
    if confusion:
        blocks.append(Figures((_confusion_figure(confusion, names, png, _SPLIT_NAMES[split]),)))
        blocks += _confused_pairs(np.asarray(confusion), names)
    return blocks


def _confusion_figure(confusion, names, png, split_name: str) -> Figure:
    caption = f"Confusion matrix on the {split_name} images: rows are the true class, columns the prediction."
    if png is not None:
        return figure_from_file(png, caption)
    return render_figure(lambda p: plot_confusion(confusion, names, p), caption, source=RunDir.SUMMARY)


def _confused_pairs(confusion: np.ndarray, names: list[str]) -> list[Block]:
    off = confusion.astype(np.float64).copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:CONFUSED_PAIRS]
    items = []
    for flat in order:
        true, pred = np.unravel_index(flat, off.shape)
        count, total = int(off[true, pred]), int(confusion[true].sum())
        if count == 0:
            break
        items.append(f"{names[true]} taken for {names[pred]}: {count} of {total} images ({percent(count / total)})")
    return [Bullets(tuple(items), title="Most frequent confusions")] if items else []


def top_losses(run: RunData) -> list[Block] | None:
    """The images the model got most wrong (highest cross-entropy), as captioned thumbnails."""
    blocks: list[Block] = []
    for split in ("val", "test"):
        rows = (run.evaluation(split) or {}).get("top_losses") or []
        if rows:
            blocks += _loss_gallery(rows, run.classes, _SPLIT_NAMES[split])
    if not blocks:
        return None
    intro = Text("Sorted by loss, highest first. Each caption: ✗ wrong or ✓ right, the true class, the "
                 "predicted class with its probability, the probability given to the true class, and the "
                 "loss -log p(true).")
    return [intro, *blocks]


def _loss_gallery(rows: list[dict], classes: list[str], split_name: str) -> list[Block]:
    figures, missing = [], []
    for row in rows:
        true, pred = _name(row, "true", classes), _name(row, "predicted", classes)
        mark = "✓" if row.get("true") == row.get("predicted") else "✗"
        caption = (f"{mark} true {true} · predicted {pred} ({row.get('prob_predicted', math.nan):.2f}) · "
                   f"p(true) {row.get('prob_true', math.nan):.3f} · loss {row.get('loss', math.nan):.2f}")
        try:
            figures.append(thumbnail(row["path"], caption, alt=f"{row['path']}: {caption}"))
        except BadImageError:
            missing.append(str(row["path"]))
    blocks: list[Block] = [Figures(tuple(figures), title=f"Top losses, {split_name} images")] if figures else []
    if all(row.get("true") == row.get("predicted") for row in rows):
        blocks.insert(0, Text(f"Every {split_name} image shown is classified correctly: these are the "
                              f"least confident right answers."))
    if missing:
        blocks.append(Text(f"{len(missing)} of these images can no longer be read (moved or deleted): "
                           + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""), tone="warning"))
    return blocks


def _name(row: dict, key: str, classes: list[str]) -> str:
    if f"{key}_name" in row:
        return str(row[f"{key}_name"])
    index = row.get(key)
    return classes[index] if isinstance(index, int) and 0 <= index < len(classes) else str(index)
