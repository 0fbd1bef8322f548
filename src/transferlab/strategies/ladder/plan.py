"""The plan of a ladder: each rung's final configuration, what was reduced and why, time estimates."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ...advise.budget import format_seconds
from ...config import TrainConfig
from ...data import DataSplits
from .costs import Costs, measure_costs, rung_cost
from .rungs import LadderOptions, Rung, rung_config, scratch_input_size

log = logging.getLogger(__name__)

_SEARCH_STEPS = 40


@dataclass(frozen=True)
class PlannedRung:
    """A rung ready to train.

    Attributes:
        rung: the rung.
        config: the configuration it trains with.
        reductions: what was cut from its full settings and why (`epochs 30 -> 4 (budget 3m)`).
        estimate: seconds it should take (when a budget was planned), else None.
        earlier: the configuration comes from an earlier run of this ladder (`--resume`).
    """

    rung: Rung
    config: TrainConfig
    reductions: tuple[str, ...] = ()
    estimate: float | None = None
    earlier: bool = False

    def to_dict(self) -> dict:
        return {"rung": self.rung.name, "strategy": self.rung.strategy, "config": self.config.to_dict(),
                "reductions": list(self.reductions), "estimate_seconds": _round(self.estimate),
                "earlier_config": self.earlier}


@dataclass(frozen=True)
class Plan:
    """Every rung's plan, and what the budget planning found."""

    rungs: tuple[PlannedRung, ...]
    budget_seconds: float | None = None
    estimate_seconds: float | None = None
    costs: Costs | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"rungs": [r.to_dict() for r in self.rungs], "budget_seconds": self.budget_seconds,
                "estimate_seconds": _round(self.estimate_seconds), "warnings": list(self.warnings),
                "seconds_per_image": self.costs.to_dict() if self.costs else None}


def plan_ladder(options: LadderOptions, rungs: tuple[Rung, ...], splits: DataSplits,
                earlier: dict[str, TrainConfig] | None = None) -> Plan:
    """Final configurations for `rungs`: full settings, scaled by `epochs_scale`, then fitted to the budget.

    Args:
        options: the ladder's options.
        rungs: the rungs to run, in order.
        splits: the dataset (its sizes drive the budget; its images the scratch input side).
        earlier: rung name -> configuration of a run already started in the ladder's folder;
            those rungs keep it (resuming needs the same configuration) and stay out of the budget.
    """
    earlier = earlier or {}
    side = _scratch_side(options, rungs, splits, earlier)
    planned = [PlannedRung(r, earlier[r.name], (), None, True) if r.name in earlier
               else _scaled(r, rung_config(r, options, side), options.epochs_scale) for r in rungs]
    if options.budget_seconds is None:
        return Plan(tuple(planned))
    return _fit_budget(planned, options.budget_seconds, splits)


def _scratch_side(options: LadderOptions, rungs, splits: DataSplits, earlier) -> int | None:
    models = {getattr(options, r.scratch_model) for r in rungs if r.scratch_model and r.name not in earlier}
    if options.scratch_size or not models:
        return options.scratch_size
    # One side for both scratch rungs, so they differ only in dropout and augmentation.
    return max(scratch_input_size(model, splits) for model in sorted(models))


def _scaled(rung: Rung, config: TrainConfig, scale: float) -> PlannedRung:
    if rung.scales in (None, "budget") or scale == 1.0:  # auto plans its own epochs
        return PlannedRung(rung, config)
    full = getattr(config, rung.scales)
    value = max(1, round(full * scale))
    note = f"{rung.scales} {full} -> {value} (epochs scale {scale:g})"
    return PlannedRung(rung, config.replace(**{rung.scales: value}), (note,) if value != full else ())


def _fit_budget(planned: list[PlannedRung], budget: float, splits: DataSplits) -> Plan:
    todo = [p for p in planned if not p.earlier]
    if not todo:
        return Plan(tuple(planned), budget)
    costs = measure_costs([p.config for p in todo], splits)
    counts = {"train": len(splits.train), "val": len(splits.val),
              "test": len(splits.test) if splits.test is not None else 0}
    extracted: set[str] = set()
    parts = {p.rung.name: rung_cost(p.config, costs, counts, extracted) for p in todo}
    # Only what costs time is cut: 40 epochs of a head on cached features take milliseconds.
    scalable = {p.rung.name for p in todo if p.rung.scales and parts[p.rung.name][1] > 0}

    def units(name: str, factor: float) -> int:
        full = parts[name][2]
        return max(1, round(full * factor)) if name in scalable else full

    def total(factor: float) -> float:
        return sum(fixed + per * units(name, factor) for name, (fixed, per, _) in parts.items())

    factor = _largest_factor(total, budget)
    warnings = ()
    if total(factor) > budget:
        warnings = (f"budget {format_seconds(budget)} is below the estimated minimum {format_seconds(total(0.0))} "
                    f"(one epoch or view per rung): every rung runs its minimum",)
        log.warning("%s", warnings[0])
    label = format_seconds(budget)
    result = []
    for p in planned:
        if p.earlier:
            result.append(p)
            continue
        fixed, per, full = parts[p.rung.name]
        value = units(p.rung.name, factor)
        result.append(_within_budget(p, value, full, fixed + per * value, label))
    return Plan(tuple(result), budget, total(factor), costs, warnings)


def _within_budget(planned: PlannedRung, value: int, full: int, estimate: float, label: str) -> PlannedRung:
    """The rung cut to `value` epochs or views; `auto` gets its share as its own budget instead."""
    config, notes, scales = planned.config, planned.reductions, planned.rung.scales
    if scales == "budget":
        config = config.replace(budget=round(estimate, 1))
        notes += (f"budget {format_seconds(estimate)}, its share of {label}",)
    elif value != full:
        config = config.replace(**{scales: value})
        notes += (f"{scales} {full} -> {value} (budget {label})",)
    return PlannedRung(planned.rung, config, notes, estimate)


def _largest_factor(total, budget: float) -> float:
    """Largest factor in [0, 1] whose rounded plan fits the budget (0 when none does)."""
    if total(1.0) <= budget:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(_SEARCH_STEPS):
        middle = (low + high) / 2
        low, high = (middle, high) if total(middle) <= budget else (low, middle)
    return low


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
