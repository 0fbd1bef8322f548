"""load_splits on folders: layouts, seeded stratified splits, junk files, links, clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import write_image

from transferlab.data import load_splits
from transferlab.data.scan import ImageSet, Skipped, stratified_split
from transferlab.errors import DataError


def _folder(root: Path, counts: dict[str, int]) -> Path:
    for label, n in counts.items():
        for i in range(n):
            write_image(root / label / f"{i}.png", (100, 100, 100), size=8, seed=i)
    return root


def test_class_folder_layout(image_folder):
    splits = load_splits(image_folder, val_fraction=0.25, seed=0)
    assert splits.classes == ("blue", "red")
    assert splits.val_from_train and splits.test is None
    assert splits.train.counts() == {"blue": 9, "red": 9}
    assert splits.val.counts() == {"blue": 3, "red": 3}
    assert set(splits.train.paths).isdisjoint(splits.val.paths)
    for path, label in zip(splits.val.paths, splits.val.labels):
        assert Path(path).parent.name == splits.classes[label]


def test_train_val_test_layout(split_folder):
    for i in range(2):
        write_image(split_folder / "test" / "green" / f"{i}.png", (30, 200, 30), seed=i)
    splits = load_splits(split_folder)
    assert splits.classes == ("blue", "green", "red")
    assert not splits.val_from_train
    assert splits.train.counts() == {"blue": 10, "green": 10, "red": 10}
    assert splits.val.counts() == {"blue": 4, "green": 4, "red": 4}
    assert splits.test.counts() == {"blue": 0, "green": 2, "red": 0}
    assert splits.test.labels == (1, 1)
    assert splits.summary()["counts"]["test"]["green"] == 2


def test_stratified_split_is_seeded_and_keeps_every_class(image_folder):
    first, again, other = (load_splits(image_folder, val_fraction=0.2, seed=s) for s in (7, 7, 8))
    assert first.val.paths == again.val.paths and first.train.paths == again.train.paths
    assert first.val.paths != other.val.paths
    for splits in (first, other):
        assert splits.val.counts() == {"blue": 2, "red": 2}  # round(12 * 0.2)
        assert len(splits.train) + len(splits.val) == 24


def test_stratified_split_proportions_and_minimum():
    images = ImageSet(tuple(f"{i}.png" for i in range(43)), (0,) * 40 + (1,) * 3, ("big", "small"))
    train, val = stratified_split(images, val_fraction=0.5, seed=0)
    assert val.counts() == {"big": 20, "small": 2}  # round(1.5) = 2, still one left for train
    assert train.counts() == {"big": 20, "small": 1}
    train, val = stratified_split(images, val_fraction=0.01, seed=0)
    assert val.counts() == {"big": 1, "small": 1}  # at least one of each class in val
    pair = ImageSet(("a.png", "b.png", "c.png", "d.png"), (0, 0, 1, 1), ("x", "y"))
    train, val = stratified_split(pair, val_fraction=0.9, seed=0)
    assert train.counts() == val.counts() == {"x": 1, "y": 1}  # never all of a class into val


def test_junk_ignored_silently_and_other_files_reported(image_folder):
    red = image_folder / "red"
    for junk in (".DS_Store", "Thumbs.db", "desktop.ini", ".hidden.png", "._red_0.png"):
        (red / junk).write_bytes(b"junk")
    write_image(red / ".thumbnails" / "t.png", (1, 2, 3))
    (red / "notes.txt").write_text("hello")
    (image_folder / ".git").mkdir()
    write_image(image_folder / ".git" / "x.png", (1, 2, 3))

    splits = load_splits(image_folder)
    assert [s.path for s in splits.skipped] == [str(red / "notes.txt")]
    assert "not an image" in splits.skipped[0].reason
    assert splits.classes == ("blue", "red")
    assert len(splits.train) + len(splits.val) == 24


def test_unusual_file_names_are_found(image_folder):
    names = ["my photo 1.png", "café ñ 猫.png", "UPPER.PNG"]
    for name in names:
        write_image(image_folder / "red" / name, (220, 30, 30))
    splits = load_splits(image_folder)
    everything = set(splits.train.paths) | set(splits.val.paths)
    assert {str(image_folder / "red" / n) for n in names} <= everything
    assert len(everything) == 27


def test_symlink_loop_does_not_hang_or_duplicate(image_folder):
    os.symlink(image_folder / "red", image_folder / "red" / "loop")  # red/loop -> red
    os.symlink(image_folder, image_folder / "blue" / "up")  # blue/up -> root
    os.symlink(image_folder / "nowhere.png", image_folder / "blue" / "dangling.png")
    splits = load_splits(image_folder)
    assert len(splits.train) + len(splits.val) == 24
    assert [s.reason for s in splits.skipped] == ["broken link or not a regular file"]


def test_empty_class_folder_reported_and_ignored(image_folder):
    (image_folder / "green").mkdir()
    splits = load_splits(image_folder)
    assert splits.classes == ("blue", "red")
    assert any(s.path == str(image_folder / "green") and "empty class folder" in s.reason
               for s in splits.skipped)


def test_single_class_is_an_error(tmp_path):
    root = _folder(tmp_path / "one", {"cat": 5})
    with pytest.raises(DataError, match="at least 2 class"):
        load_splits(root)


def test_val_class_not_in_train_is_named(split_folder):
    write_image(split_folder / "val" / "purple" / "0.png", (128, 0, 128))
    with pytest.raises(DataError, match="purple"):
        load_splits(split_folder)


def test_one_image_class_without_val_folder(tmp_path):
    root = _folder(tmp_path / "d", {"cat": 5, "dog": 1})
    with pytest.raises(DataError, match=r"class 'dog' has 1 image.*at least 2.*val/ folder"):
        load_splits(root)


def test_one_image_class_is_fine_with_a_val_folder(tmp_path):
    root = tmp_path / "d"
    _folder(root / "train", {"cat": 3, "dog": 1})
    _folder(root / "val", {"cat": 1, "dog": 1})
    splits = load_splits(root)
    assert splits.train.counts() == {"cat": 3, "dog": 1} and not splits.val_from_train


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        load_splits(tmp_path / "absent")


def test_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "d" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no training images"):
        load_splits(tmp_path / "d")


def test_drop_unreadable_removes_from_every_split(split_folder):
    splits = load_splits(split_folder)
    bad = [Skipped(splits.train.paths[0], "cannot decode"), Skipped(splits.val.paths[-1], "empty file")]
    cleaned = splits.drop_unreadable(bad)
    assert len(cleaned.train) == len(splits.train) - 1 and len(cleaned.val) == len(splits.val) - 1
    assert splits.train.paths[0] not in cleaned.train.paths
    assert cleaned.skipped[-2:] == tuple(bad)
