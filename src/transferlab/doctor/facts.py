"""What `advise` measures about the data (imbalance, image sizes, grey/colour mix), as notes."""

from __future__ import annotations

import numpy as np

from ..advise.dataset import DatasetFacts, dataset_facts, grey_share
from ..advise.decide import IMBALANCED
from ..data import DataSplits, decode_images

GREY_SAMPLE = 256  # images decoded (small) to measure the grey share
_GREY_SIDE = 32  # decode size for the grey test: channel equality does not need detail
MIXED_GREY = (0.05, 0.95)  # grey shares between these mean a mix of grey and colour images


def measure_facts(splits: DataSplits, seed: int = 0) -> DatasetFacts:
    """Counts, sizes and modes of the training split, and the grey share of a decoded sample."""
    rng = np.random.default_rng(seed)
    train = splits.train
    rows = rng.choice(len(train), size=min(GREY_SAMPLE, len(train)), replace=False)
    decoded, _ = decode_images([train.paths[i] for i in sorted(rows)], _GREY_SIDE)
    return dataset_facts(splits.name, train, splits.val, splits.val_from_train, grey_share(decoded.images), seed)


def fact_notes(facts: DatasetFacts, input_size: int) -> list[str]:
    """One sentence per property worth acting on: imbalance, images smaller than the network's
    input, a mix of grey and colour images."""
    notes = []
    if facts.imbalance >= IMBALANCED:
        name, count = facts.smallest_class
        notes.append(f"classes are imbalanced {facts.imbalance:.1f}:1 (smallest: '{name}' with {count} images); "
                     f"train with class weights or collect more of the small classes")
    smallest = min(facts.widths.get("min", input_size), facts.heights.get("min", input_size))
    if smallest < input_size / 2:
        notes.append(f"some images are tiny: the smallest side is {smallest:.0f} px, under half the network's "
                     f"{input_size} px input, so they are enlarged a lot")
    if facts.grey_share is not None and MIXED_GREY[0] < facts.grey_share < MIXED_GREY[1]:
        notes.append(f"{facts.grey_share:.0%} of the sampled images are grey and the rest in colour: if colour "
                     f"differs by class the model can learn it instead of the content")
    return notes
