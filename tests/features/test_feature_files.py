"""Feature files for use elsewhere: .npz and .safetensors round-trips, and the split features."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import load_file

from transferlab.backbones import BackboneChoice
from transferlab.errors import TransferlabError
from transferlab.features import ExtractionOptions
from transferlab.features.cache import FeatureSet
from transferlab.features.export import SplitFeatures, all_split_features, write_feature_file

CLASSES = ("cat", "dog")


def _sets() -> list[SplitFeatures]:
    rng = np.random.default_rng(0)
    train = FeatureSet(rng.normal(size=(5, 4)).astype(np.float32), np.array([0, 1, 0, 1, 1]),
                       tuple(f"/data/train/{i}.png" for i in range(5)), ())
    val = FeatureSet(rng.normal(size=(2, 4)).astype(np.float32), np.array([1, 0]),
                     ("/data/val/a.png", "/data/val/ü.png"), ())
    return [SplitFeatures("train", train, CLASSES), SplitFeatures("val", val, CLASSES)]


def _expected():
    sets = _sets()
    return (np.concatenate([s.features.features for s in sets]), [0, 1, 0, 1, 1, 1, 0], [0] * 5 + [1] * 2,
            [p for s in sets for p in s.features.paths])


def test_npz_round_trip(tmp_path):
    out = write_feature_file(tmp_path / "feats.npz", _sets())
    features, labels, split, paths = _expected()
    with np.load(out, allow_pickle=False) as data:
        np.testing.assert_array_equal(data["features"], features)
        assert data["features"].dtype == np.float32
        assert data["labels"].tolist() == labels and data["split"].tolist() == split
        assert data["paths"].tolist() == paths and data["classes"].tolist() == list(CLASSES)


def test_safetensors_round_trip(tmp_path):
    out = write_feature_file(tmp_path / "feats.safetensors", _sets())
    features, labels, split, paths = _expected()
    tensors = load_file(str(out))
    np.testing.assert_array_equal(tensors["features"].numpy(), features)
    assert tensors["labels"].tolist() == labels and tensors["split"].tolist() == split
    with safe_open(str(out), framework="pt") as handle:
        meta = json.loads(handle.metadata()["transferlab"])
    assert meta == {"classes": list(CLASSES), "splits": ["train", "val"], "paths": paths}


def test_other_suffix_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(TransferlabError, match=r"\.safetensors or \.npz"):
        write_feature_file(tmp_path / "feats.csv", _sets())
    assert list(tmp_path.iterdir()) == []


def test_all_split_features_follow_the_folder_splits(split_folder):
    sets = all_split_features(str(split_folder), BackboneChoice("tiny_cnn", "none", 32), None,
                              ExtractionOptions(device="cpu"))
    assert [s.split for s in sets] == ["train", "val"]
    assert [len(s.features.labels) for s in sets] == [30, 12]
    assert sets[0].classes == ("blue", "green", "red") and sets[0].features.features.shape == (30, 32)
    assert all("/val/" in p for p in sets[1].features.paths)
