"""load_splits on a CSV of path,label[,split]: bad rows skipped and reported, paths kept inside."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_image

from transferlab.data import load_splits
from transferlab.errors import DataError


def _images(root: Path, n: int = 4) -> None:
    for label, colour in (("cat", (200, 50, 50)), ("dog", (50, 50, 200))):
        for i in range(n):
            write_image(root / "img" / f"{label}{i}.png", colour, size=8, seed=i)


def _csv(root: Path, lines: list[str], name: str = "labels.csv", encoding: str = "utf-8") -> Path:
    path = root / name
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def _base_rows(n: int = 4) -> list[str]:
    return [f"img/{label}{i}.png,{label}" for label in ("cat", "dog") for i in range(n)]


def test_csv_with_split_column(tmp_path):
    _images(tmp_path)
    rows = ["path,label,split"] + [f"img/{lab}{i}.png,{lab},{'val' if i == 3 else 'train'}"
                                   for lab in ("cat", "dog") for i in range(4)]
    splits = load_splits(_csv(tmp_path, rows))
    assert splits.classes == ("cat", "dog") and not splits.val_from_train
    assert splits.train.counts() == {"cat": 3, "dog": 3}
    assert splits.val.paths == (str(tmp_path / "img" / "cat3.png"), str(tmp_path / "img" / "dog3.png"))
    assert not splits.skipped


def test_missing_files_and_duplicates_are_skipped_and_reported(tmp_path):
    _images(tmp_path)
    rows = ["path,label"] + _base_rows() + ["img/ghost.png,cat", "img/cat0.png,cat", "./img/dog1.png,dog"]
    csv_path = _csv(tmp_path, rows)
    splits = load_splits(csv_path, val_fraction=0.25)
    reasons = {s.path: s.reason for s in splits.skipped}
    assert set(reasons) == {f"{csv_path}:10", f"{csv_path}:11", f"{csv_path}:12"}
    assert "not found" in reasons[f"{csv_path}:10"]
    assert "duplicate" in reasons[f"{csv_path}:11"] and "duplicate" in reasons[f"{csv_path}:12"]
    everything = splits.train.paths + splits.val.paths
    assert len(everything) == len(set(everything)) == 8


@pytest.mark.parametrize("outside", ["../elsewhere/x.png", "ABSOLUTE", "ABSOLUTE_DOTDOT"])
def test_rows_outside_the_csv_folder_are_refused_unless_allowed(tmp_path, outside):
    data = tmp_path / "data"
    _images(data)
    target = write_image(tmp_path / "elsewhere" / "x.png", (200, 50, 50), size=8)
    outside = {"ABSOLUTE": str(target),
               "ABSOLUTE_DOTDOT": f"{data}/../elsewhere/x.png"}.get(outside, outside)
    csv_path = _csv(data, ["path,label"] + _base_rows() + [f"{outside},cat"])

    refused = load_splits(csv_path)
    assert [s.path for s in refused.skipped] == [f"{csv_path}:10"]
    assert "outside" in refused.skipped[0].reason
    assert str(target) not in refused.train.paths + refused.val.paths

    allowed = load_splits(csv_path, allow_outside_root=True)
    assert not allowed.skipped
    assert str(target) in allowed.train.paths + allowed.val.paths


def test_csv_without_header_is_an_error(tmp_path):
    _images(tmp_path)
    with pytest.raises(DataError, match="header with columns path,label"):
        load_splits(_csv(tmp_path, _base_rows()))


def test_empty_csv_is_an_error(tmp_path):
    (tmp_path / "labels.csv").write_text("")
    with pytest.raises(DataError, match="header"):
        load_splits(tmp_path / "labels.csv")


def test_csv_with_byte_order_mark_is_read(tmp_path):
    # Excel's "CSV UTF-8" starts the file with a BOM, which must not hide the `path` column.
    _images(tmp_path)
    splits = load_splits(_csv(tmp_path, ["path,label"] + _base_rows(), encoding="utf-8-sig"))
    assert splits.classes == ("cat", "dog")


def test_row_without_label_is_skipped(tmp_path):
    _images(tmp_path)
    csv_path = _csv(tmp_path, ["path,label"] + _base_rows(3) + ["img/cat3.png", "img/dog3.png,  "])
    splits = load_splits(csv_path)
    assert [s.path for s in splits.skipped] == [f"{csv_path}:8", f"{csv_path}:9"]
    assert all("label" in s.reason for s in splits.skipped)


def test_unknown_split_name_is_skipped(tmp_path):
    _images(tmp_path)
    csv_path = _csv(tmp_path, ["path,label,split"] + [r + ",train" for r in _base_rows()]
                    + ["img/cat0.png,cat,holdout"])
    splits = load_splits(csv_path)
    assert [s.path for s in splits.skipped] == [f"{csv_path}:10"]
    assert "holdout" in splits.skipped[0].reason


def test_val_label_missing_from_train_is_named(tmp_path):
    _images(tmp_path)
    rows = ["path,label,split"] + [r + ",train" for r in _base_rows()] + ["img/cat0.png,bird,val"]
    with pytest.raises(DataError, match="bird"):
        load_splits(_csv(tmp_path, rows))
