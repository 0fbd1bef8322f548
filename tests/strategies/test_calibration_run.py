"""A finished run is calibrated: temperature and ECE in summary.json, and `predict` flags images unlike
the training data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import tiny_weights_file, write_image
from PIL import Image

from transferlab import api
from transferlab.cli.main import main
from transferlab.config import TrainConfig
from transferlab.paths import RunDir
from transferlab.strategies import train

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A linear run on three colours with 10 validation and 4 test images per class."""
    root = tmp_path_factory.mktemp("calibrated")
    with pytest.MonkeyPatch.context() as env:  # what the autouse hermetic fixture does per test
        env.setenv("TRANSFERLAB_CACHE", str(root / "cache"))
        env.setenv("TRANSFERLAB_OFFLINE", "1")
        for split, count, seed in (("train", 10, 0), ("val", 10, 100), ("test", 4, 200)):
            for label, colour in COLOURS.items():
                for i in range(count):
                    write_image(root / "data" / split / label / f"{i}.png", colour, seed=seed + i)
        weights = tiny_weights_file(root / "tiny.safetensors")
        config = TrainConfig(data=str(root / "data"), strategy="linear", backbone="tiny_cnn", weights=str(weights),
                             input_size=32, device="cpu")
        train(config, root / "run")
    return root


def _other_kind(folder, count: int = 8) -> list[str]:
    """Pictures of another kind: grey noise and black-and-white checkerboards."""
    paths = [str(write_image(folder / f"grey_{i}.png", (128, 128, 128), seed=300 + i)) for i in range(count // 2)]
    for i in range(count - len(paths)):
        board = (np.indices((24, 24)).sum(0) // (2 + i) % 2 * 255).astype(np.uint8)
        Image.fromarray(np.stack([board] * 3, -1)).save(folder / f"board_{i}.png")
        paths.append(str(folder / f"board_{i}.png"))
    return paths


def test_summary_records_the_temperature_the_ece_and_the_unknown_threshold(run):
    summary = json.loads((run / "run" / "summary.json").read_text())
    entry = summary["calibration"]
    assert entry["temperature"] > 0 and entry["fitted_on"] == "val" and "fitted on" in entry["note"]
    for split, images in (("val", 30), ("test", 12)):
        assert entry[split]["images"] == images and 0 <= entry[split]["ece_after"] <= 1
        assert sum(entry[split]["bins_after"]["counts"]) == images
    assert entry["unknown"]["threshold"] > 0 and entry["unknown"]["quantile"] == 0.95
    meta = json.loads((run / "run" / "model.json").read_text())
    assert meta["calibration"]["unknown_threshold"] == entry["unknown"]["threshold"]
    assert (run / "run" / RunDir.CALIBRATION).is_file() and (run / "run" / RunDir.RELIABILITY).is_file()


def test_the_unknown_flag_fires_on_another_kind_of_picture_and_not_on_most_validation_images(run, tmp_path):
    model = api.load(run / "run", device="cpu")
    own = model.predict([str(p) for p in sorted((run / "data" / "val").rglob("*.png"))])
    other = model.predict(_other_kind(tmp_path))
    assert sum(row["unknown"] for row in own) <= 3  # the threshold leaves 95 % of validation images alone
    assert sum(row["unknown"] for row in other) >= 7
    assert min(r["unlike_score"] for r in other) > np.median([r["unlike_score"] for r in own])
    assert "[unknown: unlike score" in str(other)


def test_predict_json_and_text_carry_the_flag_and_the_rule(run, tmp_path, capsys):
    images = [str(run / "data" / "val" / "red" / "0.png"), *_other_kind(tmp_path, 2)]
    assert main(["predict", str(run / "run"), *images, "--json", "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [row["unknown"] for row in printed["results"]] == [False, True, True]
    assert all(isinstance(row["unlike_score"], float) for row in printed["results"])
    assert printed["unknown"]["threshold"] > 0 and "quantile" in printed["unknown"]["rule"]
    assert printed["temperature"] > 0
    assert main(["predict", str(run / "run"), *images, "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert text.count("UNKNOWN: unlike score") == 2


def test_a_run_from_before_calibration_predicts_with_t_one_and_no_flag(run, tmp_path, capsys):
    import shutil

    old = shutil.copytree(run / "run", tmp_path / "old")
    meta = json.loads((old / "model.json").read_text())
    del meta["calibration"]
    (old / "model.json").write_text(json.dumps(meta))
    (old / RunDir.CALIBRATION).unlink()
    assert main(["predict", str(old), str(run / "data" / "val" / "red" / "0.png"), "--json", "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["temperature"] == 1.0 and printed["unknown"] is None
    assert printed["results"][0]["unknown"] is None and printed["results"][0]["unlike_score"] is None
