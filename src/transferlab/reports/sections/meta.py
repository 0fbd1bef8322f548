"""Timings and environment: where the time went and what the run ran on."""

from __future__ import annotations

import math
from collections import defaultdict

from ... import __version__
from ...paths import RunDir
from ..collect import RunData
from ..document import Block, Code, Facts, Table
from ._format import scalar, seconds


def timings(run: RunData) -> list[Block] | None:
    """Wall-clock seconds of the run's parts, and of each training phase from metrics.csv."""
    recorded = run.summary.get("seconds") or {}
    details = run.summary.get("details") or {}
    facts = [(name, seconds(value)) for name, value in (
        ("total (train + evaluate)", recorded.get("total")), ("training", recorded.get("train")),
        ("evaluation (validation and test)", recorded.get("evaluate"))) if value is not None]
    if "extract_seconds" in details:
        cached = " (read from the feature cache)" if details.get("features_from_cache") else ""
        facts.append(("feature extraction", seconds(details["extract_seconds"]) + cached))
    blocks: list[Block] = [Facts(tuple(facts))] if facts else []
    phases = _phase_seconds(run.metrics)
    if phases:
        rows = tuple((phase, str(n), seconds(total), seconds(total / n)) for phase, (n, total) in phases.items())
        blocks.append(Table(("phase", "epochs", "time", "per epoch"), rows, title="Training epochs",
                            numeric=(1, 2, 3)))
    return blocks or None


def _phase_seconds(metrics: dict | None) -> dict[str, tuple[int, float]]:
    if not metrics or "seconds" not in metrics:
        return {}
    phases = metrics.get("phase") or ["train"] * len(metrics["seconds"])
    totals: dict[str, list[float]] = defaultdict(list)
    for phase, value in zip(phases, metrics["seconds"]):
        if isinstance(value, float) and not math.isnan(value):
            totals[str(phase)].append(value)
    return {phase: (len(values), sum(values)) for phase, values in totals.items()}


def environment(run: RunData) -> list[Block]:
    """Device and versions, and the full configuration (config.yaml) to reproduce the run."""
    env = run.summary.get("environment") or {}
    facts = [("device", scalar(run.summary.get("device"))),
             *((name, scalar(value)) for name, value in env.items()),
             ("transferlab (report)", __version__)]
    blocks: list[Block] = [Facts(tuple(facts))]
    config = run.path(RunDir.CONFIG)
    if config is not None:
        blocks.append(Code(config.read_text(encoding="utf-8"), title=RunDir.CONFIG, collapsed=True))
    blocks.append(Code(f"transferlab report {run.run_dir}", title="Rebuild this report"))
    return blocks
