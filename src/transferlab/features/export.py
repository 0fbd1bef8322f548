"""Feature files for use outside transferlab (.safetensors or .npz)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..backbones import BackboneChoice
from ..data import load_splits
from ..errors import TransferlabError
from ..paths import atomic_path
from .cache import FeatureSet, cached_features
from .extract import ExtractionOptions


@dataclass(frozen=True)
class SplitFeatures:
    """One split's features and the class names they index."""

    split: str
    features: FeatureSet
    classes: tuple[str, ...]


def all_split_features(data: str, backbone: BackboneChoice, layer: str | None,
                       options: ExtractionOptions = ExtractionOptions()) -> list[SplitFeatures]:
    """Cached pooled features of every split of `data` (train, val, test where present)."""
    splits = load_splits(data)
    model = backbone.create()
    sets = (("train", splits.train), ("val", splits.val), ("test", splits.test))
    return [SplitFeatures(name, cached_features(model, images, layer, options=options), splits.classes)
            for name, images in sets if images is not None and len(images)]


def write_feature_file(out: Path, sets: list[SplitFeatures]) -> Path:
    """Write features, labels, split ids, paths and class names (atomically)."""
    if out.suffix not in (".safetensors", ".npz"):
        raise TransferlabError(f"{out}: use a .safetensors or .npz file name")
    features = np.concatenate([s.features.features for s in sets]).astype(np.float32)
    labels = np.concatenate([s.features.labels for s in sets]).astype(np.int64)
    split_ids = np.concatenate([np.full(len(s.features.labels), i, dtype=np.int64) for i, s in enumerate(sets)])
    paths = [p for s in sets for p in s.features.paths]
    meta = {"classes": list(sets[0].classes), "splits": [s.split for s in sets], "paths": paths}
    with atomic_path(out) as tmp:
        if out.suffix == ".npz":
            with open(tmp, "wb") as handle:
                np.savez(handle, features=features, labels=labels, split=split_ids,
                         paths=np.array(paths), classes=np.array(meta["classes"]))
        else:
            from safetensors.torch import save_file

            tensors = {"features": torch.from_numpy(features), "labels": torch.from_numpy(labels),
                       "split": torch.from_numpy(split_ids)}
            save_file(tensors, str(tmp), metadata={"transferlab": json.dumps(meta)})
    return out
