"""Damaged files are detected (checksum or failed load) and rebuilt or reported, never silently used.

safetensors has no checksum of its own: a byte flipped inside the tensor data still loads, so
every file transferlab writes carries a sha256 of its tensors and metadata, checked on load.
"""

from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from transferlab.backbones import create_backbone
from transferlab.cli.main import main
from transferlab.data.scan import scan_class_folders
from transferlab.models.storage import DIGEST_KEY, load_weights
from transferlab.errors import TransferlabError
from transferlab.features import ExtractionOptions, cached_features
from transferlab.models.heads import Head

CPU = ExtractionOptions(device="cpu")

TINY = ["--backbone", "tiny_cnn", "--weights", "none", "--input-size", "32", "--device", "cpu"]


def flip_data_byte(path) -> None:
    """Flip one bit in the middle of the tensor data (past the JSON header): the file still parses."""
    data = bytearray(path.read_bytes())
    (header_len,) = struct.unpack("<Q", data[:8])
    start = 8 + header_len
    data[start + (len(data) - start) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def truncate(path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {"flipped-bit": flip_data_byte, "truncated": truncate}


def _error_line(err: str) -> str:
    assert "Traceback" not in err
    errors = [line for line in err.strip().splitlines() if line.startswith("transferlab: error: ")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished `features` run (tiny_cnn) on a two-class folder; tests damage copies of it."""
    from conftest import write_image

    base = tmp_path_factory.mktemp("trained")
    for label, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        for i in range(8):
            write_image(base / "data" / label / f"{i}.png", colour, seed=i)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRANSFERLAB_CACHE", str(base / "cache"))
        argv = ["train", str(base / "data"), "--strategy", "features", "--epochs", "3", *TINY, "--quiet"]
        assert main([*argv, "--out", str(base / "run")]) == 0
    return base / "data", base / "run", argv


@pytest.fixture
def run_copy(trained, tmp_path):
    data, run, argv = trained
    shutil.copytree(run, tmp_path / "run")
    return data, tmp_path / "run", argv


# --- the feature cache ---------------------------------------------------------------------------


def _entry(tmp_path):
    (entry,) = (tmp_path / "cache" / "features").glob("*.safetensors")
    return entry


@pytest.mark.parametrize("damage", ["flipped-bit", "edited-paths", "no-checksum"])
def test_damaged_cache_entry_is_rebuilt_never_used(image_folder, tmp_path, damage, caplog):
    backbone = create_backbone("tiny_cnn", "none", include_top=False, input_size=32)
    images = scan_class_folders(image_folder)[0]
    first = cached_features(backbone, images, options=CPU)
    entry = _entry(tmp_path)
    if damage == "flipped-bit":
        flip_data_byte(entry)
    else:  # a well-formed file whose metadata no longer matches what was written
        tensors = load_file(str(entry))
        with safe_open(str(entry), framework="pt") as handle:
            meta = handle.metadata()
        if damage == "edited-paths":
            meta["paths"] = json.dumps(list(reversed(json.loads(meta["paths"]))))
        else:
            del meta[DIGEST_KEY]
        save_file(tensors, str(entry), metadata=meta)

    again = cached_features(backbone, images, options=CPU)
    assert not again.from_cache and "rebuilding" in caplog.text
    np.testing.assert_array_equal(again.features, first.features)
    assert again.paths == first.paths
    assert cached_features(backbone, images, options=CPU).from_cache  # the rebuilt entry is whole


# --- a run's model and checkpoints ----------------------------------------------------------------


def _commands(run, data):
    image = next(data.glob("red/*.png"))
    return {
        "evaluate": ["evaluate", str(run), str(data)],
        "predict": ["predict", str(run), str(image)],
        "export": ["export", str(run), "--onnx", str(run.parent / "model.onnx")],
    }


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("command", ["evaluate", "predict", "export"])
def test_damaged_model_is_one_clear_error_in_every_command(run_copy, capsys, damage, command):
    data, run, _ = run_copy
    DAMAGE[damage](run / "model.safetensors")
    assert main(_commands(run, data)[command]) == 2
    line = _error_line(capsys.readouterr().err)
    assert str(run / "model.safetensors") in line
    assert ("checksum" if damage == "flipped-bit" else "cannot read model weights") in line
    assert not (run.parent / "model.onnx").exists()


def test_garbled_model_description_is_one_clear_error(run_copy, capsys):
    data, run, _ = run_copy
    (run / "model.json").write_text('{"format": 1, "strat')
    assert main(_commands(run, data)["evaluate"]) == 2
    assert "corrupt" in _error_line(capsys.readouterr().err)


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_training_state_stops_resume_and_says_how_to_recover(run_copy, capsys, damage):
    data, run, argv = run_copy
    (run / "summary.json").unlink()  # an unfinished run: a finished one is returned as it is
    DAMAGE[damage](run / "state.safetensors")
    assert main([*argv, "--out", str(run), "--resume"]) == 2
    line = _error_line(capsys.readouterr().err)
    assert str(run / "state.safetensors") in line and "delete it and rerun with --resume" in line

    reference = load_file(str(run / "model.safetensors"))
    (run / "state.safetensors").unlink()  # as the message says: the run is trained again from its start
    assert main([*argv, "--out", str(run), "--resume"]) == 0
    for key, value in load_file(str(run / "model.safetensors")).items():
        torch.testing.assert_close(value, reference[key], atol=1e-6, rtol=0)


def test_damaged_best_checkpoint_is_not_loaded_silently(run_copy):
    # best.safetensors is what a run loads back at its end (and what --resume keeps)
    _, run, _ = run_copy
    head = Head(**json.loads((run / "model.json").read_text())["head"])
    load_weights(head, run / "best.safetensors")
    flip_data_byte(run / "best.safetensors")
    with pytest.raises(TransferlabError, match="checksum") as info:
        load_weights(head, run / "best.safetensors")
    assert "\n" not in str(info.value)


# --- exports: written to a temporary name, renamed only when complete ----------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter's notice
def test_export_that_fails_half_way_leaves_the_previous_file_intact(run_copy, capsys, monkeypatch):
    onnx = pytest.importorskip("onnx")
    data, run, _ = run_copy
    target = run.parent / "model.onnx"
    target.write_bytes(b"previous export")

    def crash(model, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"half an onnx file")
        raise KeyboardInterrupt  # as a Ctrl-C in the middle of writing would

    monkeypatch.setattr(onnx, "save", crash)
    assert main(["export", str(run), "--onnx", str(target)]) == 130
    assert target.read_bytes() == b"previous export"
    assert [p.name for p in run.parent.iterdir() if p.name.startswith(".")] == []  # temp file removed
