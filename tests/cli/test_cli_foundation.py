"""The CLI in-process through `main([...])`: backbones, summary, predict, errors, help."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from PIL import Image

from transferlab.cli import _runtime
from transferlab.cli.main import COMMANDS, build_parser, command_module, main

CATS = ("tiger cat", "Egyptian cat", "tabby")


@pytest.fixture
def chelsea_png(tmp_path):
    from skimage import data

    path = tmp_path / "chelsea.png"
    Image.fromarray(data.chelsea()).save(path)
    return path


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("transferlab: error: ") and "Traceback" not in err
    return lines[0]


def test_backbones_table(capsys):
    assert main(["backbones"]) == 0
    out = capsys.readouterr().out
    assert "efficientnet_lite0" in out and "xception" in out and "tiny_cnn" in out
    assert "138,357,544" in out and "14,714,688" in out  # vgg16 with and without its top


def test_backbones_pattern_json(capsys):
    assert main(["backbones", "efficientnet", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    assert all(r["imagenet_offline"] for r in rows)
    assert rows[0]["params"] == 4_652_008 and rows[0]["input_size"] == 224


def test_backbones_no_match_is_an_error(capsys):
    assert main(["backbones", "resnet5x"]) == 2
    assert "resnet50" in _one_error_line(capsys.readouterr().err)


def test_summary_vgg16_conv_base(capsys):
    assert main(["summary", "vgg16", "--no-top"]) == 0
    out = capsys.readouterr().out
    assert "14,714,688" in out and "(None, 64, 224, 224)" in out and "features.0 (Conv2d)" in out


def test_summary_json_full_depth(capsys):
    assert main(["summary", "tiny_cnn", "--input-size", "64", "--full", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_params"] == 39_088 and data["input_shape"] == [None, 3, 64, 64]
    assert "stem.0" in {row["name"] for row in data["rows"]}


def test_summary_unknown_backbone(capsys):
    assert main(["summary", "nosuchnet"]) == 2
    captured = capsys.readouterr()
    line = _one_error_line(captured.err)
    assert "unknown backbone 'nosuchnet'" in line and "did you mean" in line
    assert captured.out == ""


@pytest.mark.parametrize(
    ("name", "total"),
    [("conv64v-flatten-dense32", "1,845,354"), ("conv64v-pool-flatten-dense32", "462,954"), ("cifar-deep", "564,426")],
)
def test_summary_of_a_spec_or_recipe_gives_the_notes_counts(name, total, capsys):
    assert main(["summary", name]) == 0
    assert f"Total params: {total}" in capsys.readouterr().out


def test_summary_of_a_spec_refuses_imagenet_weights(capsys):
    assert main(["summary", "conv64-pool", "--weights", "imagenet"]) == 2
    assert "no ImageNet weights" in capsys.readouterr().err


def test_summary_with_weights_file(tmp_path, capsys):
    import torch

    from transferlab import create_backbone

    path = tmp_path / "tiny.pth"
    torch.save(create_backbone("tiny_cnn", weights="none").body.state_dict(), path)
    assert main(["summary", "tiny_cnn", "--weights", str(path)]) == 0
    assert "Total params: 39,088" in capsys.readouterr().out
    assert main(["summary", "tiny_cnn", "--weights", str(tmp_path / "nope.pth")]) == 2
    assert "not found" in _one_error_line(capsys.readouterr().err)


@pytest.mark.slow
def test_predict_chelsea(chelsea_png, capsys):
    assert main(["predict", str(chelsea_png), "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert str(chelsea_png) in out and any(cat in out for cat in CATS)


@pytest.mark.slow
def test_predict_skips_a_corrupt_file(tmp_path, chelsea_png, capsys):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    assert main(["predict", str(corrupt), str(chelsea_png), "--json"]) == 1
    captured = capsys.readouterr()
    warnings = captured.err.strip().splitlines()
    assert len(warnings) == 1 and str(corrupt) in warnings[0] and "Traceback" not in captured.err
    data = json.loads(captured.out)
    assert [r["image"] for r in data["results"]] == [str(chelsea_png)]
    assert len(data["results"][0]["predictions"]) == 5
    assert any(cat in p["label"] for p in data["results"][0]["predictions"] for cat in CATS)
    assert data["skipped"][0]["image"] == str(corrupt) and data["skipped"][0]["reason"]


def test_predict_nothing_readable(tmp_path, capsys):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert main(["predict", str(empty), "--backbone", "tiny_cnn", "--weights", "none"]) == 2
    err = capsys.readouterr().err
    assert "empty file" in err and "transferlab: error: none of the 1 images" in err


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)])
def test_help_exits_zero(command, capsys):
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: transferlab" in out
    if command:
        assert "examples:" in out and f"transferlab {command[0]}" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        ([], "required"),
        (["backbnes"], "did you mean backbones"),
        (["predict", "x.png", "--top", "many"], "invalid int value"),
        (["summary"], "BACKBONE"),
    ],
)
def test_usage_errors_exit_two(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_every_subcommand_has_run_and_parser():
    parser = build_parser()
    for name in COMMANDS:
        module = command_module(name)
        assert callable(module.add_parser) and callable(module.run)
        assert parser._subparsers._group_actions[0].choices[name].get_default("_run") is module.run
        assert list(build_parser(only=name)._subparsers._group_actions[0].choices) == [name]


def test_a_command_line_imports_only_its_own_command():
    code = ("import sys; from transferlab.cli.main import main; main(['predict', '--help']); "
            "print(sorted(m for m in ('sklearn', 'matplotlib', 'transferlab.cli.cmd_visualize') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_main_leaves_logging_as_it_was():
    logger = logging.getLogger("transferlab")
    handlers, level = list(logger.handlers), logger.level
    main(["backbones", "tiny*", "--quiet"])
    assert logger.handlers == handlers and logger.level == level


def test_allocator_tuning(monkeypatch):
    assert _runtime.TRIM_THRESHOLD <= 2**31 - 1  # mallopt takes an int: 4 GiB would wrap to 0
    monkeypatch.setenv("TRANSFERLAB_MALLOC_TUNING", "0")
    assert _runtime.tune_allocator() is False
    monkeypatch.delenv("TRANSFERLAB_MALLOC_TUNING")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1")
    assert _runtime.tune_allocator() is False  # the user's own settings win
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert _runtime.tune_allocator() is (_runtime._glibc() is not None)
