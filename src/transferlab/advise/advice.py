"""The result of `advise`: measurements, the quadrant, the plan, and the reasons for it."""

from __future__ import annotations

from dataclasses import dataclass, field

from .backbone_choice import BackboneScore
from .candidates import Candidate
from .cost import Throughput
from .dataset import DatasetFacts
from .similarity import Similarity
from .sweep import SweepResult


@dataclass(frozen=True)
class Plan:
    """The recommended strategy, the `TrainConfig` fields it sets, and its estimated run time."""

    strategy: str
    settings: dict
    estimated_seconds: float

    def to_dict(self) -> dict:
        return {"strategy": self.strategy, "settings": dict(self.settings),
                "estimated_seconds": round(self.estimated_seconds, 1)}


@dataclass(frozen=True)
class Advice:
    """Everything `advise` measured and decided. `plan` is what `train --strategy auto` runs."""

    data: str
    backbone: str
    weights: str
    facts: DatasetFacts
    plan: Plan
    reasons: tuple[str, ...]
    quadrant: dict | None = None
    votes: dict = field(default_factory=dict)
    similarity: Similarity | None = None
    sweep: SweepResult | None = None
    candidates: tuple[Candidate, ...] = ()
    throughput: Throughput | None = None
    budget: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    too_small: bool = False
    backbones: tuple[BackboneScore, ...] = ()  # compared by `choose_backbone`; empty: fixed
    # per test-time mode: what it adds on the CV's first fold (a share), the mirror test's probe
    # standing in for the frozen pick
    views_gains: tuple[tuple[str, float], ...] = ()

    @property
    def trial(self) -> Candidate | None:
        """Fine-tuning to try against the plan on a held-out fold (`train --strategy auto` runs it)."""
        return next((c for c in self.candidates if c.status == "trial"), None)

    @property
    def trials(self) -> tuple[Candidate, ...]:
        """Every fine-tuning trial, in the order `train --strategy auto` runs them."""
        return tuple(c for c in self.candidates if c.status == "trial")

    @property
    def chosen(self) -> Candidate | None:
        return next((c for c in self.candidates if c.status == "chosen"), None)

    def config_changes(self) -> dict:
        """The `TrainConfig` fields to set for the recommended run (strategy included)."""
        return {"strategy": self.plan.strategy, "backbone": self.backbone, **self.plan.settings}

    def decision(self) -> dict:
        """The compact record `train --strategy auto` keeps in summary.json["details"]["decision"]."""
        return {
            "quadrant": self.quadrant,
            "signals": self.signals(),
            "strategy": self.plan.strategy,
            "settings": {"backbone": self.backbone, **self.plan.settings},
            "reasons": list(self.reasons),
            "candidates": [c.to_dict() for c in self.candidates],
            "backbones": [b.to_dict() for b in self.backbones],
            "budget": {**self.budget, "estimated_run_seconds": round(self.plan.estimated_seconds, 1)},
            "warnings": list(self.warnings),
            "advice_seconds": round(self.seconds, 1),
        }

    def signals(self) -> dict:
        """The numbers behind the quadrant."""
        facts = self.facts
        signals = {"train_images": facts.train_images, "per_class_median": facts.per_class_median,
                   "smallest_class": list(facts.smallest_class), "imbalance": round(facts.imbalance, 3),
                   "similarity_votes": self.votes}
        if self.similarity is not None:
            signals["similarity"] = self.similarity.to_dict()
        if self.sweep is not None:
            signals["sweep"] = {row.label: round(row.cv_mean, 4) for row in self.sweep.rows}
        return signals

    def to_dict(self) -> dict:
        """Everything, for `advise --json`."""
        return {
            "data": self.data, "backbone": self.backbone, "weights": self.weights, "too_small": self.too_small,
            "dataset": self.facts.to_dict(),
            "similarity": self.similarity.to_dict() if self.similarity else None,
            "sweep": self.sweep.to_dict() if self.sweep else None,
            "throughput": self.throughput.to_dict() if self.throughput else None,
            "quadrant": self.quadrant, "votes": self.votes,
            "candidates": [c.to_dict() for c in self.candidates],
            "backbones": [b.to_dict() for b in self.backbones],
            "plan": self.plan.to_dict(), "reasons": list(self.reasons), "budget": dict(self.budget),
            "warnings": list(self.warnings), "seconds": round(self.seconds, 1),
        }
