"""Training runs killed for real (SIGKILL, SIGINT) in a subprocess, then resumed with `--resume`.

The kill points are file events, not timings, so the tests hold on a loaded machine: the
feature cache's lock file appearing (extraction under way), the first epoch logged (Ctrl-C),
and the middle of a later epoch (half the previous epoch's duration after its row is logged).
The resumed run must end exactly where an uninterrupted run with the same seed ends. Each
process start costs a few seconds of imports, so each test uses as few as its kill points need.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import write_image
from safetensors import safe_open
from safetensors.torch import load_file

from transferlab.cli.main import main
from transferlab.engine.checkpoint import load_checked

TINY = ["--backbone", "tiny_cnn", "--weights", "none", "--input-size", "32", "--device", "cpu", "--seed", "3"]
ARGS = {
    "features": ["--strategy", "features", "--epochs", "8", "--patience", "0", *TINY],
    "scratch": ["--strategy", "scratch", "--epochs", "4", "--patience", "0", "--batch-size", "4", *TINY],
}
TIMEOUT = 240  # seconds for one process: generous, the machine may be shared


@pytest.fixture
def data(tmp_path) -> Path:
    root = tmp_path / "data"
    colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
    for s, (split, count) in enumerate((("train", 8), ("val", 3))):
        for c, (label, colour) in enumerate(colours.items()):
            for i in range(count):
                write_image(root / split / label / f"{i}.jpg", colour, size=40, seed=100 * s + 10 * c + i)
    return root


def _start(data: Path, out: Path, strategy: str, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "transferlab", "train", str(data), *ARGS[strategy], "--out", str(out), *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def _signal_when(proc: subprocess.Popen, event: Callable[[], float | None], sig=signal.SIGKILL) -> tuple[int, str]:
    """Send `sig` once `event()` returns a delay (seconds to wait first); return exit code and stderr."""
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        delay = event()
        if delay is not None:
            time.sleep(delay)
            proc.send_signal(sig)
            break
        time.sleep(0.005)
    _, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, err


def _logged_epochs(out: Path) -> list[dict]:
    try:
        with (out / "metrics.csv").open() as handle:
            return [row for row in csv.DictReader(handle) if int(row["epoch"]) >= 0]
    except (FileNotFoundError, ValueError, KeyError):
        return []


def _rows_logged(out: Path, count: int, fraction_of_epoch: float = 0.0) -> Callable[[], float | None]:
    """Event: `count` epochs logged; the delay lands `fraction_of_epoch` into the next one."""
    def event():
        rows = _logged_epochs(out)
        return fraction_of_epoch * float(rows[-1]["seconds"]) if len(rows) >= count else None
    return event


def _saved_epoch(out: Path) -> int:
    """The last epoch completed in the resumable state (-1: none)."""
    path = out / "state.safetensors"
    if not path.is_file():
        return -1
    with safe_open(str(path), framework="pt") as handle:
        return json.loads(handle.metadata()["json"])["state"]["epoch"]


def _resume_to_end(data: Path, out: Path, strategy: str) -> str:
    before = _saved_epoch(out)
    proc = _start(data, out, strategy, "--resume")
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    if before >= 0:  # it continued from the last completed epoch, not from the start
        assert f"resumed after epoch {before + 1}" in err
    return err


def _reference(data: Path, out: Path, strategy: str, capsys) -> None:
    assert main(["train", str(data), *ARGS[strategy], "--out", str(out)]) == 0
    capsys.readouterr()


def _assert_same_run(run: Path, reference: Path) -> None:
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(_logged_epochs(run)) == strip(_logged_epochs(reference))
    for name in ("model.safetensors", "state.safetensors"):
        got, want = load_file(str(run / name)), load_file(str(reference / name))
        assert got.keys() == want.keys()
        for key in want:
            torch.testing.assert_close(got[key], want[key], atol=1e-6, rtol=0, msg=f"{name}:{key}")
    got, want = (json.loads((d / "summary.json").read_text())["val"] for d in (run, reference))
    assert got["confusion"] == want["confusion"] and got["loss"] == pytest.approx(want["loss"], abs=1e-6)
    leftovers = [p.name for p in run.iterdir() if p.name.startswith(".")]
    assert all(name.endswith(".tmp") for name in leftovers)  # a killed write leaves only a temp file


def test_killed_during_feature_extraction_resumes_to_the_same_result(data, tmp_path, capsys):
    out, cache = tmp_path / "run", Path(os.environ["TRANSFERLAB_CACHE"]) / "features"

    extracting = lambda: 0.0 if cache.is_dir() and any(cache.glob("*.lock")) else None  # noqa: E731
    code, err = _signal_when(_start(data, out, "features"), extracting)
    assert code == -signal.SIGKILL, err
    for entry in cache.glob("*.safetensors"):  # whatever the kill interrupted, no entry is half-written
        load_checked(entry)
    _resume_to_end(data, out, "features")

    _reference(data, tmp_path / "whole", "features", capsys)
    _assert_same_run(out, tmp_path / "whole")


def test_ctrl_c_then_a_kill_mid_epoch_then_resume_gives_the_uninterrupted_result(data, tmp_path, capsys):
    out = tmp_path / "run"
    code, err = _signal_when(_start(data, out, "scratch"), _rows_logged(out, 1), sig=signal.SIGINT)
    assert code == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("transferlab: error: interrupted") and f"--out {out} --resume" in last
    assert "Traceback" not in err

    next_epoch_logged = _rows_logged(out, _saved_epoch(out) + 2, fraction_of_epoch=0.5)  # then half an epoch on
    code, err = _signal_when(_start(data, out, "scratch", "--resume"), next_epoch_logged)
    assert code == -signal.SIGKILL, err
    assert not (out / "model.safetensors").exists()  # not finished: nothing pretends to be a model
    _resume_to_end(data, out, "scratch")

    _reference(data, tmp_path / "whole", "scratch", capsys)
    _assert_same_run(out, tmp_path / "whole")
