"""`transferlab predict RUN_DIR IMAGE_OR_FOLDER...`: a trained run's classes, folders expanded."""

from __future__ import annotations

import json

import pytest

from transferlab.cli.main import main

TINY = ["--backbone", "tiny_cnn", "--weights", "none", "--input-size", "32"]


@pytest.fixture
def linear_run(image_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(image_folder), "--strategy", "linear", *TINY, "--out", str(out), "--quiet",
                 "--val-fraction", "0.25", "--device", "cpu"]) == 0
    capsys.readouterr()
    return out


def test_predict_with_a_run_uses_its_classes_and_expands_folders(linear_run, image_folder, capsys):
    code = main(["predict", str(linear_run), str(image_folder / "red"), str(image_folder / "blue" / "blue_0.png"),
                 "--top", "1", "--json", "--device", "cpu"])
    assert code == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert len(results) == 13  # 12 reds from the folder, then the one blue file
    predicted = {r["image"].split("/")[-2]: r["predictions"][0]["label"] for r in results}
    assert predicted == {"red": "red", "blue": "blue"}
    assert all(len(r["predictions"]) == 1 and 0.5 < r["predictions"][0]["probability"] <= 1 for r in results)


def test_predict_reports_an_unreadable_file_and_exits_one(linear_run, image_folder, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    code = main(["predict", str(linear_run), str(broken), str(image_folder / "red" / "red_1.png"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert "red_1.png" in captured.out and "1." in captured.out
    assert [line for line in captured.err.splitlines() if str(broken) in line]


def test_predict_a_run_without_images_is_one_clear_error(linear_run, capsys):
    assert main(["predict", str(linear_run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("transferlab: error: ") and "give the images" in err[-1]


def test_predict_and_evaluate_record_the_test_time_augmentation(linear_run, image_folder, capsys):
    image = str(image_folder / "red" / "red_0.png")
    assert main(["predict", str(linear_run), image, "--tta", "flip", "--json", "--quiet"]) == 0
    flipped = json.loads(capsys.readouterr().out)
    assert main(["predict", str(linear_run), image, "--json", "--quiet"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert flipped["tta"] == "flip" and plain["tta"] == "none"
    assert flipped["results"][0]["predictions"][0]["label"] == "red"
    assert main(["evaluate", str(linear_run), str(image_folder), "--tta", "crops", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["tta"] == "crops"


def test_a_run_trained_with_test_time_views_predicts_and_evaluates_with_them(image_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(image_folder), "--strategy", "linear", *TINY, "--out", str(out), "--quiet",
                 "--val-fraction", "0.25", "--device", "cpu", "--tta", "flip"]) == 0
    capsys.readouterr()
    image = str(image_folder / "red" / "red_0.png")
    assert main(["predict", str(out), image, "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["tta"] == "flip"  # the run's own
    assert main(["evaluate", str(out), str(image_folder), "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["tta"] == "flip"
    assert main(["evaluate", str(out), str(image_folder), "--tta", "none", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["tta"] == "none"  # the command line's wins
