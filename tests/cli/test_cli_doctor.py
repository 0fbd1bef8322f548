"""`transferlab doctor` in-process: text, --json, --out page, --write-clean, one-line errors."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import write_image

from transferlab.cli.main import main


@pytest.fixture
def planted(split_folder):
    """split_folder with a train image copied into val and a red image filed as blue."""
    shutil.copyfile(split_folder / "train" / "red" / "0.png", split_folder / "val" / "red" / "copy.png")
    write_image(split_folder / "train" / "blue" / "flipped.png", (220, 30, 30), seed=77)
    return split_folder


@pytest.fixture
def tiny(tiny_weights) -> list[str]:
    return ["--backbone", "tiny_cnn", "--weights", tiny_weights, "--input-size", "32", "--device", "cpu", "-q"]


def test_doctor_text_puts_the_leak_first(planted, tiny, capsys):
    assert main(["doctor", str(planted), *tiny]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert out.index("LEAK: ") < out.index("exact duplicates (same bytes): 1")
    assert "likely wrong labels" in out and "flipped.png" in out and "-> red" in out
    assert "LEAK" in captured.err  # the warning line, even with -q


def test_doctor_json_page_and_clean_csv(planted, tiny, tmp_path, capsys):
    clean = planted / "clean.csv"
    assert main(["doctor", str(planted), *tiny, "--json", "--out", str(tmp_path / "page"),
                 "--write-clean", str(clean), "--drop", "exact-duplicate,label"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"name", "backbone", "images", "leaks", "findings", "counts", "facts", "notes", "threshold_check",
            "seconds", "from_cache"} <= set(result)
    assert set(result["findings"]) == {"exact-duplicate", "near-duplicate", "label", "outlier"}
    assert result["leaks"][0]["leak"] and result["leaks"][0]["splits"] == ["train", "val"]
    assert result["findings"]["label"][0]["suggested"] == "red"
    page = (tmp_path / "page" / "doctor.html").read_text()
    assert "Data check" in page and page.count("<img") >= 2 and "flipped.png" in page
    assert json.loads((tmp_path / "page" / "doctor.json").read_text())["counts"] == result["counts"]
    rows = clean.read_text()
    assert rows.startswith("path,label,split\n") and "copy.png" not in rows and "flipped.png" not in rows


def test_doctor_bad_input_is_one_line(tmp_path, tiny, capsys):
    assert main(["doctor", str(tmp_path / "missing"), *tiny]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("transferlab: error: ")
    assert main(["doctor", str(tmp_path), *tiny, "--drop", "dupes"]) == 2
    assert "unknown finding kind(s) dupes" in capsys.readouterr().err
