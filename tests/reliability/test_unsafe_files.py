"""Files transferlab was only asked to read never run code, and CSV paths stay inside their folder.

Every payload below would create a marker file if it were unpickled (or YAML-constructed); each
test checks the refusal message and that the marker never appears.
"""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
from conftest import write_image

from transferlab.backbones import create_backbone
from transferlab.cli.main import main
from transferlab.errors import WeightsError

TINY = ["--backbone", "tiny_cnn", "--weights", "none", "--input-size", "32", "--device", "cpu"]


class _RunsCode:
    """Unpickling this calls os.system: the attack a `.pth` file can carry."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _tiny_state() -> dict:
    return create_backbone("tiny_cnn", "none").body.state_dict()


def _crafted(path, marker, fmt: str):
    """A weights file holding a code-running object beside real tensors."""
    state = {**_tiny_state(), "stem.0.weight": _RunsCode(marker)}
    if fmt == "torch-zip":  # what torch.save writes
        torch.save(state, path)
    else:  # the legacy format: a bare pickle stream
        with open(path, "wb") as handle:
            pickle.dump(state, handle)
    return path


def _error_line(err: str) -> str:
    assert "Traceback" not in err
    errors = [line for line in err.strip().splitlines() if line.startswith("transferlab: error: ")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch notices the bare stream's protocol
@pytest.mark.parametrize("fmt", ["torch-zip", "bare-pickle"])
@pytest.mark.parametrize("suffix", [".pth", ".pt", ".bin"])
def test_crafted_pickle_is_refused_by_the_library(tmp_path, fmt, suffix):
    marker = tmp_path / "pwned"
    path = _crafted(tmp_path / f"evil{suffix}", marker, fmt)
    with pytest.raises(WeightsError) as info:
        create_backbone("tiny_cnn", weights=path)
    message = str(info.value)
    assert "refused to load" in message and "\n" not in message and str(path) in message
    assert "weights_only` set to `False`" not in message  # never advise the unsafe retry torch suggests
    if fmt == "torch-zip":
        assert "GLOBAL posix.system" in message  # names what the file wanted to run
    assert not marker.exists()


@pytest.mark.parametrize("command", ["train", "predict", "summary"])
def test_crafted_pickle_given_as_weights_is_refused_by_every_command(image_folder, tmp_path, capsys, command):
    marker = tmp_path / "pwned"
    evil = _crafted(tmp_path / "evil.pth", marker, "torch-zip")
    argv = {
        "train": ["train", str(image_folder), "--strategy", "linear", "--backbone", "tiny_cnn", "--weights", str(evil),
                  "--input-size", "32", "--device", "cpu", "--out", str(tmp_path / "run")],
        "predict": ["predict", str(next(image_folder.glob("red/*.png"))), "--backbone", "tiny_cnn",
                    "--weights", str(evil), "--device", "cpu"],
        "summary": ["summary", "tiny_cnn", "--weights", str(evil)],
    }[command]
    assert main(argv) == 2
    line = _error_line(capsys.readouterr().err)
    assert "refused to load" in line and "pickled objects" in line and str(evil) in line
    assert not marker.exists()
    assert not (tmp_path / "run").exists()  # a refused start leaves no run directory


def test_pickle_in_place_of_a_run_model_is_refused(image_folder, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(image_folder), "--strategy", "linear", "--strategy", "linear", *TINY, "--out", str(run), "--quiet"]) == 0
    marker = tmp_path / "pwned"
    _crafted(run / "model.safetensors", marker, "torch-zip")  # someone swapped the file
    assert main(["predict", str(run), str(next(image_folder.glob("red/*.png")))]) == 2
    assert "cannot read model weights" in _error_line(capsys.readouterr().err)
    assert not marker.exists()


def test_yaml_object_tag_in_a_resumed_config_is_refused(image_folder, tmp_path, capsys):
    run, marker = tmp_path / "run", tmp_path / "pwned"
    argv = ["train", str(image_folder), "--strategy", "linear", "--strategy", "linear", *TINY, "--out", str(run), "--quiet"]
    assert main(argv) == 0
    (run / "config.yaml").write_text(f"data: !!python/object/apply:os.system [\"touch '{marker}'\"]\n")
    assert main([*argv, "--resume"]) == 2
    assert "not a config transferlab wrote" in _error_line(capsys.readouterr().err)
    assert not marker.exists()


@pytest.mark.parametrize("escape", ["dotdot", "absolute", "symlink"])
def test_csv_paths_cannot_leave_the_csv_folder(tmp_path, capsys, escape):
    data = tmp_path / "data"
    for label, colour in (("a", (220, 30, 30)), ("b", (30, 30, 220))):
        for i in range(4):
            write_image(data / label / f"{i}.png", colour, seed=i)
    secret = write_image(tmp_path / "private" / "secret.png", (30, 220, 30))
    os.symlink(secret, data / "innocent.png")  # a link inside the folder to a file outside it
    row = {"dotdot": "../private/secret.png", "absolute": str(secret), "symlink": "innocent.png"}[escape]
    rows = [f"{label}/{i}.png,{label}" for label in "ab" for i in range(4)] + [f"{row},a"]
    (data / "labels.csv").write_text("path,label\n" + "\n".join(rows) + "\n")

    run = tmp_path / "run"
    assert main(["train", str(data / "labels.csv"), "--strategy", "linear", *TINY, "--out", str(run), "--json"]) == 0
    captured = capsys.readouterr()
    refused = [line for line in captured.err.splitlines() if "labels.csv:10" in line]
    assert len(refused) == 1 and "outside" in refused[0] and "refused" in refused[0]
    counts = json.loads(captured.out)["data"]["counts"]
    assert sum(sum(c.values()) for c in counts.values()) == 8  # the outside file was never used
