"""`transferlab train / evaluate / export / extract` in-process through `main([...])`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_image

from transferlab.cli.main import main
from transferlab.engine import callbacks

TINY = ["--backbone", "tiny_cnn", "--weights", "none", "--input-size", "32"]
LINEAR = ["--strategy", "linear", *TINY]


def _train(data, out, *extra: str) -> int:
    return main(["train", str(data), "--strategy", "features", *TINY, "--epochs", "2", "--out", str(out),
                 "--quiet", "--device", "cpu", *extra])


def _error_line(err: str) -> str:
    """The one error line (argparse may print its usage above it); never a traceback."""
    assert "Traceback" not in err
    errors = [line for line in err.strip().splitlines() if line.startswith("transferlab: error: ")]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err
    return errors[0]


@pytest.fixture
def run_dir(split_folder, tmp_path, capsys):
    assert _train(split_folder, tmp_path / "run") == 0
    capsys.readouterr()
    return tmp_path / "run"


def test_train_prints_the_val_accuracy(split_folder, tmp_path, capsys):
    assert _train(split_folder, tmp_path / "run") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"run: {tmp_path / 'run'}"
    assert "strategy: features  backbone: tiny_cnn  weights: none" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert f"val accuracy: {summary['val']['accuracy']:.4f}" in out and "(12 images)" in out
    assert (tmp_path / "run" / "model.safetensors").is_file() and (tmp_path / "run" / "curves.png").is_file()


def test_train_json_on_a_flat_folder(image_folder, tmp_path, capsys):
    code = main(["train", str(image_folder), "--strategy", "linear", *TINY, "--out", str(tmp_path / "run"),
                 "--val-fraction", "0.25", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    result = json.loads(captured.out)  # nothing but JSON on stdout; logging went to stderr
    assert result["out"] == str(tmp_path / "run") and result["strategy"] == "linear"
    assert result["classes"] == ["blue", "red"] and result["val"]["num_samples"] == 6
    assert result["val"]["accuracy"] == 1.0


def test_evaluate_json_agrees_with_the_training_summary(run_dir, split_folder, capsys):
    assert main(["evaluate", str(run_dir), str(split_folder / "val"), "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    summary = json.loads((run_dir / "summary.json").read_text())["val"]
    assert {"accuracy", "loss", "per_class", "confusion"} <= set(result)
    assert result["accuracy"] == summary["accuracy"] and result["confusion"] == summary["confusion"]
    assert result["loss"] == pytest.approx(summary["loss"], abs=1e-5)
    assert set(result["per_class"]) == {"blue", "green", "red"} and result["skipped"] == []


def test_evaluate_table_and_confusion_png(run_dir, split_folder, tmp_path, capsys):
    png = tmp_path / "confusion.png"
    assert main(["evaluate", str(run_dir), str(split_folder / "val"), "--confusion", str(png)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("accuracy: ") and "(12 images)" in out and "precision" in out and "green" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_export_writes_onnx(run_dir, tmp_path, capsys):
    pytest.importorskip("onnx")
    out = tmp_path / "model.onnx"
    with pytest.warns(DeprecationWarning):  # export.py chooses the TorchScript exporter
        assert main(["export", str(run_dir), "--onnx", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n" and out.stat().st_size > 1000


def test_extract_writes_every_split(split_folder, tmp_path, capsys):
    out = tmp_path / "feats.npz"
    assert main(["extract", str(split_folder), "--out", str(out), *TINY, "--device", "cpu"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote 42 feature vectors to {out} in ")
    with np.load(out) as data:
        assert data["features"].shape == (42, 32) and data["split"].tolist() == [0] * 30 + [1] * 12
        assert data["classes"].tolist() == ["blue", "green", "red"]


def test_interrupted_train_exits_130_and_resumes(split_folder, tmp_path, capsys, monkeypatch):
    def interrupt(self, trainer, row):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(callbacks.EarlyStopping, "on_epoch_end", interrupt)
        assert _train(split_folder, tmp_path / "run") == 130
    assert "--resume" in _error_line(capsys.readouterr().err)
    assert _train(split_folder, tmp_path / "run") == 2  # a used --out without --resume
    assert "--resume" in _error_line(capsys.readouterr().err)
    assert _train(split_folder, tmp_path / "run", "--resume") == 0
    assert "val accuracy" in capsys.readouterr().out


def _single_class(tmp_path):
    for i in range(3):
        write_image(tmp_path / "one" / "cats" / f"{i}.png", (200, 100, 0), seed=i)
    return tmp_path / "one"


def _val_with_extra_class(split_folder):
    write_image(split_folder / "val" / "purple" / "0.png", (150, 0, 150))
    return split_folder


ERRORS = {
    "missing-data": (lambda tmp, folder: ["train", str(tmp / "nowhere"), *LINEAR], "no such folder"),
    "single-class": (lambda tmp, folder: ["train", str(_single_class(tmp)), *LINEAR], "needs at least 2 class folders"),
    "val-class-not-in-train": (lambda tmp, folder: ["train", str(_val_with_extra_class(folder)), *LINEAR],
                               "['purple'] are not in the training classes"),
    "unknown-backbone": (lambda tmp, folder: ["train", str(folder), "--strategy", "linear", "--backbone", "tiny_cn"], "did you mean tiny_cnn"),
    "unknown-strategy": (lambda tmp, folder: ["train", str(folder), "--strategy", "featurs"], "did you mean features"),
    "input-too-small": (lambda tmp, folder: ["train", str(folder), *LINEAR, "--input-size", "4"], "at least 8"),
    "epoch-images-below-a-batch": (lambda tmp, folder: ["train", str(folder), *LINEAR, "--epoch-images", "4"],
                                   "epoch_images must be at least the batch size (32)"),
    "evaluate-non-run": (lambda tmp, folder: ["evaluate", str(tmp), str(folder / "val")], "not a finished run"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_user_errors_exit_2_with_one_line(split_folder, tmp_path, capsys, case):
    make_argv, expected = ERRORS[case]
    argv = make_argv(tmp_path, split_folder)
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert expected in _error_line(capsys.readouterr().err)


def test_corrected_command_may_reuse_the_out_of_a_failed_start(split_folder, tmp_path, capsys):
    assert _train(tmp_path / "typo", tmp_path / "run") == 2
    assert main(["train", str(split_folder), "--strategy", "linear", "--backbone", "tiny_cn", "--out", str(tmp_path / "run")]) == 2
    assert _train(split_folder, tmp_path / "run") == 0
    assert "val accuracy" in capsys.readouterr().out


@pytest.mark.slow
def test_linear_on_packaged_efficientnet_lite0(split_folder, tmp_path, capsys):
    code = main(["train", str(split_folder), "--strategy", "linear", "--backbone", "efficientnet_lite0",
                 "--input-size", "32", "--out", str(tmp_path / "run"), "--json", "--device", "cpu"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["weights"].startswith("packaged:") and result["val"]["accuracy"] == 1.0
    assert result["details"]["feature_dim"] == 1280
