"""What a data checkup found, as data: ranked findings with their measured scores."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Kinds of finding, in the order they are shown (duplicates across splits come first regardless).
EXACT, NEAR, LABEL, OUTLIER = "exact-duplicate", "near-duplicate", "label", "outlier"
KINDS = (EXACT, NEAR, LABEL, OUTLIER)


@dataclass(frozen=True)
class Finding:
    """One suspicious image (label, outlier) or pair of images (duplicates).

    Attributes:
        kind: one of `KINDS`.
        paths: the image, or the pair (the first one is the kept copy: train before val/test).
        splits: the split of each path.
        labels: the class name of each path.
        score: what was measured (similarity, probability margin, distance ratio); higher is worse.
        suggested: for label findings, the class the probe predicts with confidence.
        detail: one sentence with the numbers behind the score.
        trusted: False where the rule that found the pair does not discriminate on this data
            (`checkup.NEAR_SHARE_LIMIT`): a pair across splits is then not a leak.
    """

    kind: str
    paths: tuple[str, ...]
    splits: tuple[str, ...]
    labels: tuple[str, ...]
    score: float
    suggested: str | None = None
    detail: str = ""
    trusted: bool = True

    @property
    def leak(self) -> bool:
        """A duplicate pair spanning two splits: the held-out copy inflates every score."""
        return self.trusted and len(set(self.splits)) > 1

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "paths": list(self.paths), "splits": list(self.splits),
                "labels": list(self.labels), "score": round(self.score, 4), "leak": self.leak}


@dataclass(frozen=True)
class ThresholdCheck:
    """How the near-duplicate rule fares on augmented copies of sample images.

    Attributes:
        threshold: the feature similarity that alone makes two images near-duplicates.
        pixel_threshold: the thumbnail similarity that does when the features agree too.
        copies: augmented copies made (re-encoded, resized, cropped).
        caught: copies the rule pairs with their original.
        min_similarity: the lowest copy-to-original feature similarity.
        min_pixel_similarity: the lowest copy-to-original thumbnail similarity.
    """

    threshold: float
    pixel_threshold: float
    copies: int
    caught: int
    min_similarity: float | None
    min_pixel_similarity: float | None


@dataclass(frozen=True)
class Checkup:
    """Every finding of one dataset, ranked within each kind (leaks first), plus the data's facts.

    Attributes:
        name: the dataset's name.
        backbone: the network whose features were compared.
        images: images checked, per split.
        findings: kind -> ranked findings.
        facts: what `advise` measures about the data (counts, imbalance, sizes, grey share).
        notes: one sentence per data fact worth acting on.
        threshold_check: the near-duplicate threshold measured on augmented copies.
        seconds: wall time of the checkup.
        from_cache: every split's features came from the cache.
    """

    name: str
    backbone: str
    images: dict[str, int]
    findings: dict[str, tuple[Finding, ...]]
    facts: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    threshold_check: ThresholdCheck | None = None
    seconds: float = 0.0
    from_cache: bool = False

    @property
    def leaks(self) -> list[Finding]:
        """Duplicates (exact or near) across splits, exact ones first."""
        return [f for kind in (EXACT, NEAR) for f in self.findings.get(kind, ()) if f.leak]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "backbone": self.backbone, "images": dict(self.images),
            "leaks": [f.to_dict() for f in self.leaks],
            "findings": {kind: [f.to_dict() for f in found] for kind, found in self.findings.items()},
            "counts": {kind: len(found) for kind, found in self.findings.items()},
            "facts": self.facts, "notes": list(self.notes),
            "threshold_check": asdict(self.threshold_check) if self.threshold_check else None,
            "seconds": round(self.seconds, 2), "from_cache": self.from_cache,
        }
