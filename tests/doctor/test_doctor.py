"""The data checkup on tiny planted folders (tiny_cnn) and on synthetic features."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
from conftest import write_image
from PIL import Image

from transferlab.backbones import BackboneChoice
from transferlab.doctor import EXACT, LABEL, NEAR, OUTLIER, DoctorOptions, checkup, clean_rows, write_clean
from transferlab.doctor.duplicates import exact_duplicates, is_near, near_duplicates
from transferlab.doctor.labels import label_issues
from transferlab.doctor.outliers import outlier_scores, outliers
from transferlab.doctor.pool import Pool
from transferlab.data import load_splits
from transferlab.features import ExtractionOptions

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


@pytest.fixture
def planted(split_folder):
    """split_folder with a train image copied into val, a red image filed as blue, a checkerboard in green."""
    shutil.copyfile(split_folder / "train" / "red" / "0.png", split_folder / "val" / "red" / "copy.png")
    write_image(split_folder / "train" / "blue" / "flipped.png", COLOURS["red"], seed=77)
    board = (np.indices((24, 24)).sum(axis=0) // 3 % 2 * 255).astype(np.uint8)
    Image.fromarray(np.stack([board] * 3, axis=2)).save(split_folder / "train" / "green" / "odd.png")
    return split_folder


def _check(folder, tiny_weights):
    return checkup(str(folder), BackboneChoice("tiny_cnn", tiny_weights, 32),
                   DoctorOptions(extraction=ExtractionOptions(device="cpu")))


def test_planted_faults_are_found_and_the_leak_is_loud(planted, tiny_weights, caplog):
    with caplog.at_level(logging.WARNING, logger="transferlab"):
        result = _check(planted, tiny_weights)
    leak = result.findings[EXACT][0]
    assert leak.leak and leak.splits == ("train", "val") and leak.paths[1].endswith("copy.png")
    assert result.leaks[0] == leak and "LEAK" in caplog.text
    flipped = result.findings[LABEL][0]
    assert flipped.paths[0].endswith("flipped.png") and flipped.suggested == "red" and flipped.labels == ("blue",)
    assert result.findings[OUTLIER][0].paths[0].endswith("odd.png")
    assert result.images == {"train": 32, "val": 13}
    assert result.threshold_check.copies == 16


def test_write_clean_leaves_the_findings_out_or_relabels(planted, tiny_weights, tmp_path):
    result = _check(planted, tiny_weights)
    splits = load_splits(str(planted))
    kinds = (EXACT, LABEL, OUTLIER)  # tiny_cnn finds every pair of same-colour noise images near-identical
    target = write_clean(clean_rows(result, splits, drop=kinds), planted / "clean.csv")
    text = target.read_text()
    assert text.startswith("path,label,split\n") and "train/red/0.png,red,train" in text
    assert "copy.png" not in text and "flipped.png" not in text and "odd.png" not in text
    relabelled = write_clean(clean_rows(result, splits, drop=[LABEL], relabel=True), tmp_path / "out" / "c.csv")
    assert "flipped.png,red,train" in relabelled.read_text() and "copy.png" in relabelled.read_text()
    removed = {f.paths[-1] for kind in kinds for f in result.findings[kind]}
    cleaned = load_splits(str(planted / "clean.csv"))  # train reads it like the folder
    assert len(cleaned.train) + len(cleaned.val) == len(splits.train) + len(splits.val) - len(removed)


def _pool(features, labels, splits=None) -> Pool:
    n = len(labels)
    return Pool(tuple(f"/d/{i}.png" for i in range(n)), tuple(splits or ["train"] * n),
                np.asarray(labels, dtype=np.int64), ("a", "b"), np.asarray(features, dtype=np.float32))


def test_near_duplicates_above_the_threshold_only_and_leaks_first():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(8, 16))
    features[1] = features[0] + 0.01 * rng.normal(size=16)  # within train
    features[5] = features[4] + 0.01 * rng.normal(size=16)  # train / val
    pool = _pool(features, [0, 0, 0, 0, 1, 1, 1, 1], ["train"] * 5 + ["val"] + ["train"] * 2)
    hashes, thumbs = [str(i) for i in range(8)], np.zeros((8, 4))
    found = near_duplicates(pool, hashes, thumbs)
    assert [f.paths for f in found] == [("/d/4.png", "/d/5.png"), ("/d/0.png", "/d/1.png")]
    assert found[0].leak and not found[1].leak and found[0].kind == NEAR
    assert near_duplicates(pool, ["same"] * 2 + hashes[2:], thumbs)[1:] == []  # an exact pair is not also near
    exact = exact_duplicates(pool, ["same"] * 2 + hashes[2:])
    assert [f.paths for f in exact] == [("/d/0.png", "/d/1.png")] and exact[0].score == 1.0


def test_thumbnails_count_only_where_the_features_agree():
    assert is_near(0.95, 0.0)  # features alone
    assert is_near(0.7, 0.99) and not is_near(0.3, 0.99)  # same layout, and the features agree (or not)
    assert not is_near(0.7, 0.9)


def test_label_issue_needs_a_confident_other_class():
    pool = _pool(np.zeros((4, 2)), [0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9], [0.45, 0.55]])
    found = label_issues(pool, probabilities)
    assert [f.paths[0] for f in found] == ["/d/1.png"] and found[0].suggested == "b"
    assert found[0].score == pytest.approx(0.6)


def test_outlier_is_far_from_every_class():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=16), rng.normal(size=16)
    features = np.stack([a + 0.1 * rng.normal(size=16) for _ in range(10)]
                        + [b + 0.1 * rng.normal(size=16) for _ in range(10)] + [5 * rng.normal(size=16)])
    pool = _pool(features, [0] * 10 + [1] * 11)
    scores = outlier_scores(pool)
    assert scores.argmax() == 20 and np.median(scores[:20]) < 1.5
    assert [f.paths[0] for f in outliers(pool, scores)][:1] == ["/d/20.png"]


def test_a_rule_that_pairs_much_of_the_data_announces_no_leak():
    from transferlab.doctor.checkup import _discriminating

    pairs = tuple(_finding(f"t{i}.png", f"v{i}.png") for i in range(10))
    kept, note = _discriminating(pairs, images=1000)  # 20 of 1,000 images: copies, trusted
    assert kept == pairs and note is None and all(f.leak for f in kept)
    demoted, note = _discriminating(pairs, images=100)  # 20 % of the images: look-alikes
    assert not any(f.leak for f in demoted) and "not discriminating" in note
    assert [f.paths for f in demoted] == [f.paths for f in pairs]


def _finding(train: str, val: str):
    from transferlab.doctor.findings import Finding

    return Finding(NEAR, (train, val), ("train", "val"), ("a", "a"), 0.95)
