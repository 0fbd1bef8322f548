"""`transferlab advise`, `transferlab probe` and `train --strategy auto --budget` in-process."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import write_image
from PIL import Image
from safetensors.torch import save_file

from transferlab.backbones import create_backbone
from transferlab.cli.main import main


@pytest.fixture
def tiny(tmp_path) -> list[str]:
    """tiny_cnn with fixed 'pretrained' weights from a file (weights none would mean: from scratch)."""
    torch.manual_seed(0)
    body = create_backbone("tiny_cnn", "none", include_top=True, input_size=32).body
    path = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in body.state_dict().items()}, str(path))
    return ["--backbone", "tiny_cnn", "--weights", str(path), "--input-size", "32", "--device", "cpu", "-q"]


def _error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("transferlab: error: "), err
    return lines[-1]


def test_advise_prints_the_numbers_the_quadrant_and_the_plan(split_folder, tiny, tmp_path, capsys):
    plot = tmp_path / "sweep.png"
    assert main(["advise", str(split_folder), *tiny, "--views", "1", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    for part in ("dataset: 30 training images, 3 classes", "depth sweep", "stage1", "quadrant: small + ",
                 "recommended:", f"transferlab train {split_folder} --strategy", "why:", "cost:"):
        assert part in out, part
    with Image.open(plot) as image:
        assert image.format == "PNG"


def test_advise_json_for_machines(split_folder, tiny, capsys):
    assert main(["advise", str(split_folder), *tiny, "--views", "1", "--budget", "5m", "--json"]) == 0
    advice = json.loads(capsys.readouterr().out)
    assert advice["plan"]["strategy"] in ("linear", "features", "features-aug")
    assert advice["budget"]["seconds"] == 300.0 and advice["sweep"]["folds"] == 5
    assert [row["label"] for row in advice["sweep"]["rows"]] == ["stem", "stage1", "stage2", "end"]
    assert advice["dataset"]["train_counts"] == {"blue": 10, "green": 10, "red": 10}


def test_advise_on_data_too_small_to_probe_exits_0_with_a_fallback(tmp_path, tiny, capsys):
    for i in range(4):
        write_image(tmp_path / "small" / "many" / f"{i}.png", (200, 30, 30), seed=i)
    write_image(tmp_path / "small" / "one" / "0.png", (30, 30, 200))
    assert main(["advise", str(tmp_path / "small"), *tiny]) == 0
    out = capsys.readouterr().out
    assert "Class 'one' has 1 image(s)" in out and "Add images" in out and "recommended: linear" in out


@pytest.mark.parametrize("args, message", [(["--budget", "soon"], "not a duration"),
                                           (["--budget", "0s"], "positive"),
                                           (["--views", "0"], "--views")])
def test_advise_bad_options_are_one_line(split_folder, tiny, capsys, args, message):
    assert main(["advise", str(split_folder), *tiny, *args]) == 2
    assert message in _error_line(capsys.readouterr().err)


def test_probe_prints_accuracy_by_depth_and_draws_it(split_folder, tiny, tmp_path, capsys):
    plot = tmp_path / "probe.png"
    assert main(["probe", str(split_folder), *tiny, "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "5-fold CV on 30 training images" in out and out.count("\n  stage") == 2 and "best:" in out
    assert plot.is_file()
    assert main(["probe", str(split_folder), *tiny, "--layers", "end,stem", "--no-plot", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [row["label"] for row in result["rows"]] == ["stem", "end"] and result["plot"] is None


def test_probe_errors_are_one_line(split_folder, tiny, tmp_path, capsys):
    assert main(["probe", str(split_folder), *tiny, "--layers", "stage9", "--no-plot"]) == 2
    assert "unknown layer 'stage9'" in _error_line(capsys.readouterr().err)
    root = tmp_path / "onefile"
    for i in range(3):
        write_image(root / "train" / "a" / f"{i}.png", (200, 0, 0), seed=i)
        write_image(root / "val" / "a" / f"{i}.png", (200, 0, 0), seed=i)
        write_image(root / "val" / "b" / f"{i}.png", (0, 0, 200), seed=i)
    write_image(root / "train" / "b" / "0.png", (0, 0, 200))
    assert main(["probe", str(root), *tiny, "--no-plot"]) == 2
    assert "add images" in _error_line(capsys.readouterr().err)


def test_train_auto_with_a_budget(split_folder, tiny, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(split_folder), "--strategy", "auto", "--budget", "5m", "--views", "1", *tiny,
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "strategy: auto" in printed and "auto: Recommended:" in printed
    decision = json.loads((out / "summary.json").read_text())["details"]["decision"]
    assert decision["budget"]["seconds"] == 300.0 and decision["reasons"]


def test_budget_without_auto_is_one_line(split_folder, tiny, tmp_path, capsys):
    assert main(["train", str(split_folder), "--strategy", "linear", "--budget", "5m", *tiny,
                 "--out", str(tmp_path / "run")]) == 2
    assert "needs --strategy auto" in _error_line(capsys.readouterr().err)
