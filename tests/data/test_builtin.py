"""Built-in datasets: written offline under the tmp cache once, then reused as folders."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from transferlab.data import BUILTIN_DATASETS, builtin_folder, load_splits
from transferlab.errors import DataError, UnknownNameError


def _refuse_to_load():
    raise AssertionError("the built-in loader ran again instead of reusing the folder")


def test_lfw_faces_offline_into_the_cache(tmp_path):
    splits = load_splits("lfw-faces")
    root = tmp_path / "cache" / "datasets" / "lfw-faces"
    assert builtin_folder("lfw-faces") == root
    assert splits.name == "lfw-faces" and splits.classes == ("face", "non_face")
    assert splits.val_from_train and splits.test is not None
    for part in (splits.train, splits.val, splits.test):
        assert min(part.counts().values()) > 0
    assert len(splits.train) + len(splits.val) + len(splits.test) == 200
    assert splits.test.counts() == {"face": 20, "non_face": 20}
    assert all(p.startswith(str(root)) and p.endswith(".png") for p in splits.train.paths)
    assert not list(root.parent.glob(".lfw-faces.*"))  # no staging folder left behind


def test_second_call_reuses_the_folder(monkeypatch):
    first = load_splits("lfw-faces")
    sample = first.train.paths[0]
    mtime = os.stat(sample).st_mtime_ns
    monkeypatch.setitem(BUILTIN_DATASETS, "lfw-faces", (_refuse_to_load, "must not run"))
    second = load_splits("lfw-faces")
    assert os.stat(sample).st_mtime_ns == mtime
    assert second.train.paths == first.train.paths and second.test.paths == first.test.paths


def test_digits(tmp_path):
    splits = load_splits("digits")
    assert splits.classes == tuple(str(i) for i in range(10))
    assert len(splits.train) + len(splits.val) + len(splits.test) == 1797
    with Image.open(splits.test.paths[0]) as image:
        assert image.size == (8, 8) and image.mode == "L"
    assert (tmp_path / "cache" / "datasets" / "digits" / "test" / "0").is_dir()


@pytest.mark.slow
def test_mnist5k():
    splits = load_splits("mnist5k")
    assert len(splits.classes) == 10
    assert splits.test.counts() == {str(i): 100 for i in range(10)}
    with Image.open(splits.train.paths[0]) as image:
        assert image.size == (28, 28)


def test_unknown_builtin_name_suggests_close_names():
    with pytest.raises(UnknownNameError, match="did you mean digits"):
        builtin_folder("digitz")


def test_unknown_source_is_a_data_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="no such folder, CSV file or built-in"):
        load_splits("not-a-dataset")


def test_a_local_folder_wins_over_a_builtin_name(tmp_path, monkeypatch, image_folder):
    monkeypatch.chdir(tmp_path)
    image_folder.rename(tmp_path / "digits")
    monkeypatch.setitem(BUILTIN_DATASETS, "digits", (_refuse_to_load, "must not run"))
    assert load_splits("digits").classes == ("blue", "red")
