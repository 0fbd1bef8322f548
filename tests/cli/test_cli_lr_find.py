"""`transferlab lr-find` in-process: the suggestion, the plot, the JSON, one-line errors."""

from __future__ import annotations

import json
import math

import pytest
from PIL import Image

from transferlab.cli.main import main

TINY = ["--backbone", "tiny_cnn", "--weights", "none", "--input-size", "32", "--device", "cpu", "--quiet"]


def test_lr_find_writes_the_plot_and_json(split_folder, tmp_path, capsys):
    out = tmp_path / "lr"
    assert main(["lr-find", str(split_folder), *TINY, "--unfreeze", "-1", "--batch-size", "8",
                 "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert json.loads((out / "lr_find.json").read_text()) == printed
    assert math.isfinite(printed["suggestion"]) and 1e-7 <= printed["suggestion"] <= 10
    assert printed["rule"] == "minimum / 10" and printed["suggestion"] == printed["minimum_tenth"]
    assert printed["steps"] == len(printed["rates"]) == len(printed["losses"]) >= 5
    assert list(printed["group_lrs"])[0] == "head" and printed["group_lrs"]["head"] == printed["suggestion"]
    assert "phase-1 logistic head" in printed["head"]
    with Image.open(out / "lr_find.png") as plot:
        assert plot.size[0] > 300


def test_lr_find_prints_the_suggestion(split_folder, tmp_path, capsys):
    assert main(["lr-find", str(split_folder), *TINY, "--unfreeze", "1", "--batch-size", "10",
                 "--rule", "steepest", "--out", str(tmp_path / "lr")]) == 0
    out = capsys.readouterr().out
    assert "suggested --lr: " in out and "plot: " in out and (tmp_path / "lr" / "lr_find.png").is_file()


@pytest.mark.parametrize("flags, expected", [
    (["--unfreeze", "1", "--unfreeze-from", "stages.1"], "not allowed with argument"),
    (["--lr-mult", "0"], "--lr-mult must be positive"),
    (["--batch-size", "0"], "batch_size must be at least 1"),
    (["--unfreeze-from", "nowhere"], "nowhere"),
    (["--rule", "steep"], "did you mean steepest"),
])
def test_bad_flags_are_one_line_errors(split_folder, tmp_path, capsys, flags, expected):
    assert main(["lr-find", str(split_folder), *TINY, "--out", str(tmp_path / "lr"), *flags]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("transferlab: error: ") and expected in err
    assert not (tmp_path / "lr").exists()


def test_train_lr_find_flag_reaches_the_config(split_folder, tmp_path, capsys):
    assert main(["train", str(split_folder), *TINY, "--strategy", "features", "--lr-find",
                 "--out", str(tmp_path / "run")]) == 2
    assert "lr_find needs --strategy finetune" in capsys.readouterr().err
