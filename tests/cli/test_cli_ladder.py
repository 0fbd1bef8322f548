"""`transferlab ladder` in-process: the table, --json, --resume and one-line errors."""

from __future__ import annotations

import json

import pytest

from transferlab.cli.main import main

TINY = ["--backbone", "tiny_cnn", "--weights", "none", "--input-size", "32", "--device", "cpu",
        "--scratch-model", "conv8-pool-flatten-dense16", "--scratch-size", "24", "--epochs-scale", "0.1"]


def _ladder(data, out, *extra: str) -> int:
    return main(["ladder", str(data), "--out", str(out), "--quiet", *TINY, *extra])


def _error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("transferlab: error: "), err
    return lines[-1]


def test_ladder_prints_the_table_and_writes_the_comparison(split_folder, tmp_path, capsys):
    assert _ladder(split_folder, tmp_path / "ladder", "--rungs", "scratch,linear,features") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["rung", "strategy", "input", "val", "acc", "test", "acc", "trainable", "params",
                                "epochs", "wall", "time", "notes", "(dogs/cats)"]
    report = json.loads((tmp_path / "ladder" / "ladder.json").read_text())
    for rung in report["rungs"]:
        row = next(line for line in lines if line.startswith(rung["name"] + " "))
        assert f"{rung['val_accuracy']:.4f}" in row and f"{rung['trainable_params']:,}" in row
    assert "~0.70" in out and "~0.90" in out  # the notes' figures beside ours
    assert f"comparison: {tmp_path / 'ladder' / 'ladder.md'}" in out
    assert (tmp_path / "ladder" / "ladder.png").is_file()


def test_ladder_json_and_resume(split_folder, tmp_path, capsys):
    assert _ladder(split_folder, tmp_path / "ladder", "--rungs", "linear", "--json") == 0
    first = json.loads(capsys.readouterr().out)
    assert first["out"] == str(tmp_path / "ladder") and [r["name"] for r in first["rungs"]] == ["linear"]
    assert first["rungs"][0]["status"] == "done" and 0.0 <= first["rungs"][0]["val_accuracy"] <= 1.0

    assert _ladder(split_folder, tmp_path / "ladder", "--rungs", "linear") == 2
    assert "--resume" in _error_line(capsys.readouterr().err)

    assert _ladder(split_folder, tmp_path / "ladder", "--rungs", "linear", "--resume", "--json") == 0
    again = json.loads(capsys.readouterr().out)
    assert again["rungs"][0]["status"] == "earlier"
    assert again["rungs"][0]["val_accuracy"] == first["rungs"][0]["val_accuracy"]


def test_a_failed_rung_gives_exit_code_1(split_folder, tmp_path, capsys):
    code = main(["ladder", str(split_folder), "--out", str(tmp_path / "ladder"), "--quiet", *TINY,
                 "--rungs", "scratch,linear", "--scratch-model", "cats-dogs-small", "--scratch-size", "20"])
    assert code == 1
    assert "scratch failed: " in capsys.readouterr().out


@pytest.mark.parametrize(("extra", "message"), [
    (["--budget", "ten minutes"], "is not a duration"),
    (["--rungs", "scratch,fetures"], "did you mean features"),
    (["--budget", "1m", "--epochs-scale", "0.5"], "not allowed with argument"),
])
def test_user_errors_are_one_line(split_folder, tmp_path, capsys, extra, message):
    code = main(["ladder", str(split_folder), "--out", str(tmp_path / "ladder"), *extra])
    assert code == 2
    assert message in _error_line(capsys.readouterr().err)
    assert not (tmp_path / "ladder" / "ladder.json").exists()


def test_help_lists_every_rung(capsys):
    assert main(["ladder", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "scratch, scratch-aug, linear, features, features-aug, finetune, auto" in text
