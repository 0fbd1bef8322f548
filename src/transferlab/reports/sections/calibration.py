"""The calibration section: temperature, ECE before/after with the reliability diagram, and the
unknown flag's threshold."""

from __future__ import annotations

import numpy as np

from ...evaluation.calibration import ReliabilityBins
from ...paths import RunDir
from ...viz.render import plot_reliability
from ..collect import RunData
from ..document import Block, Facts, Figures, Text
from ..images import figure_from_file, render_figure
from ._format import number, percent

_CAPTION = ("Accuracy per confidence bin (top-class probability), before (red) and after (blue) dividing the "
            "logits by the temperature; a calibrated model's bars sit on the dashed diagonal.")


def calibration(run: RunData) -> list[Block] | None:
    """What the run's confidences mean: its temperature, ECE before/after, and the unknown flag."""
    entry = run.summary.get("calibration")
    if not isinstance(entry, dict):
        return None  # a run from before calibration
    facts = [("temperature", number(entry.get("temperature"), 3) + (f" ({entry['not_fitted']})"
                                                                   if entry.get("not_fitted") else ""))]
    for split in ("val", "test"):
        scores = entry.get(split)
        if isinstance(scores, dict):
            facts.append((f"ECE on {split}, before / after", f"{number(scores.get('ece_before'), 3)} / "
                                                             f"{number(scores.get('ece_after'), 3)}"))
            facts.append((f"NLL on {split}, before / after", f"{number(scores.get('nll_before'), 4)} / "
                                                             f"{number(scores.get('nll_after'), 4)}"))
    blocks: list[Block] = [Facts(tuple(facts)), Text(str(entry.get("note", "")))]
    blocks.append(Figures((_reliability_figure(run, entry),)))
    return blocks + _unknown_blocks(entry)


def _reliability_figure(run: RunData, entry: dict):
    png = run.path(RunDir.RELIABILITY)
    if png is not None:
        return figure_from_file(png, _CAPTION)
    bins = {split: (_bins(entry[split]["bins_before"]), _bins(entry[split]["bins_after"]))
            for split in ("val", "test") if isinstance(entry.get(split), dict)}
    return render_figure(lambda p: plot_reliability(bins, p), _CAPTION, source=RunDir.SUMMARY)


def _bins(data: dict) -> ReliabilityBins:
    def array(values):
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    return ReliabilityBins(array(data["edges"]), array(data["confidence"]), array(data["accuracy"]),
                           np.array(data["counts"], dtype=int))


def _unknown_blocks(entry: dict) -> list[Block]:
    unknown = entry.get("unknown") or {}
    if unknown.get("threshold") is None:
        return []
    facts = [("unlike score", str(unknown.get("score"))), ("threshold", number(unknown["threshold"], 4)),
             ("rule", str(unknown.get("rule")))]
    facts += [(f"flagged unknown on {split}", percent(entry[split]["unknown_rate"]))
              for split in ("val", "test") if isinstance(entry.get(split), dict)]
    return [Facts(tuple(facts), title="The unknown flag (transferlab predict)")]
