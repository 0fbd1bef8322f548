"""The state one `advise` call carries around: data, backbone, budget clock, cost model."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..backbones import Backbone, BackboneChoice
from ..data import DataSplits, ImageSet
from ..features import ExtractionOptions
from ..features.cache import entry_path, feature_key
from ..evaluation.calibration import CENTROID_IMAGES
from .budget import Clock
from .cost import Throughput

# Per (training vector x epoch) seconds of a dense head on cached features (measured on 2 cores
# with one thread: about 2.3e-5; rounded up).
HEAD_SECONDS = 3e-5


@dataclass
class Session:
    """One advice in progress."""

    data: str
    splits: DataSplits
    base: Backbone  # the network measured (a smaller one than `backbone` names if the budget says so)
    backbone: BackboneChoice  # as asked for
    seed: int
    extraction: ExtractionOptions
    views: int
    clock: Clock
    throughput: Throughput | None = None
    sample: list = field(default_factory=list)  # decoded sample images (signals and timings)
    machines: dict = field(default_factory=dict)  # (backbone, input side) -> its fine-tuning Throughput
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def train(self) -> ImageSet:
        return self.splits.train

    def held_out(self) -> list[ImageSet]:
        """Val and, where present, test: what a run extracts and evaluates besides train."""
        return [s for s in (self.splits.val, self.splits.test) if s is not None and len(s)]

    def is_cached(self, images: ImageSet, layer: str | None, view: tuple | None = None,
                  base: Backbone | None = None) -> bool:
        """Whether the feature cache already holds `images` at `layer` for this base (or `base`)."""
        base = base or self.base
        key = feature_key(base, layer, base.preprocessing, images, self.extraction, view)
        return entry_path(key).is_file()

    def extraction_seconds(self, layer: str | None, include_train: bool = True) -> float:
        """Frozen-base passes still needed at `layer` over train (optionally), val and test."""
        sets = ([self.train] if include_train else []) + self.held_out()
        return sum(self.throughput.extraction(len(s)) for s in sets if not self.is_cached(s, layer))

    def evaluation_seconds(self, throughput: Throughput | None = None) -> float:
        """The final scoring of a classifier whose features are not cached (a fine-tuned base) on
        val/test and on the training images its calibration's centroids come from (decode + forward)."""
        machine = throughput or self.throughput
        return machine.extraction(min(len(self.train), CENTROID_IMAGES)) + self.held_out_seconds(machine)

    def held_out_seconds(self, throughput: Throughput | None = None) -> float:
        """A pass over val and test (decode + forward) on `throughput`'s machine (default: the session's)."""
        machine = throughput or self.throughput
        return sum(machine.extraction(len(s)) for s in self.held_out())

    def head_seconds(self, vectors: int, epochs: int) -> float:
        return HEAD_SECONDS * vectors * epochs
