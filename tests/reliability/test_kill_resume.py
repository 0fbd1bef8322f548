"""Training runs killed for real (SIGKILL, SIGINT) in a subprocess, then resumed with `--resume`.

The kill points are events, not timings, so the tests hold on any machine, fast or loaded: the
run is started through `pause_at.py`, which stops it still at a chosen call (the feature cache
about to write its entry; the first batch of an epoch; the middle of an epoch) and says so on
its stdout, and only then does the test send the signal. The resumed run must end exactly where
an uninterrupted run with the same seed ends. Each process start costs a few seconds of imports,
so each test uses as few as its kill points need.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import write_image
from pause_at import wait_until_paused
from safetensors import safe_open
from safetensors.torch import load_file

from transferlab.cli.main import main
from transferlab.models.storage import load_checked

TINY = ["--backbone", "tiny_cnn", "--weights", "none", "--input-size", "32", "--device", "cpu", "--seed", "3"]
ARGS = {
    "features": ["--strategy", "features", "--epochs", "8", "--patience", "0", *TINY],
    "scratch": ["--strategy", "scratch", "--epochs", "4", "--patience", "0", "--batch-size", "4", *TINY],
}
STEPS_PER_EPOCH = 6  # scratch: 24 training images in batches of 4
TRAIN_STEP = "transferlab.engine.trainer:Trainer._step"
PAUSE_AT = Path(__file__).parents[1] / "pause_at.py"
TIMEOUT = 600  # seconds for one process: a deadlock guard, never reached by a working run


@pytest.fixture
def data(tmp_path) -> Path:
    root = tmp_path / "data"
    colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
    for s, (split, count) in enumerate((("train", 8), ("val", 3))):
        for c, (label, colour) in enumerate(colours.items()):
            for i in range(count):
                write_image(root / split / label / f"{i}.jpg", colour, size=40, seed=100 * s + 10 * c + i)
    return root


def _start(data: Path, out: Path, strategy: str, *extra: str, pause: tuple[str, int] | None = None):
    """The CLI's `train` in a subprocess (stderr to a file), paused at the `pause[1]`-th call of `pause[0]`."""
    args = ["train", str(data), *ARGS[strategy], "--out", str(out), *extra]
    runner = [str(PAUSE_AT), pause[0], str(pause[1]), "--"] if pause else ["-m", "transferlab"]
    err = (out.parent / f"{out.name}.{len(list(out.parent.glob(out.name + '.*.err')))}.err").open("w+")
    proc = subprocess.Popen([sys.executable, *runner, *args], stdout=subprocess.PIPE, stderr=err, text=True,
                            env=os.environ.copy())
    return proc, err


def _finish(started) -> tuple[int, str]:
    proc, err = started
    try:
        proc.wait(timeout=TIMEOUT)
    finally:
        proc.kill()  # a hung run fails the test instead of outliving it
    err.seek(0)
    return proc.returncode, err.read()


def _signal_when_paused(started, sig=signal.SIGKILL) -> tuple[int, str]:
    """Wait until the run says it is paused (a line on its stdout), send `sig`; exit code and stderr."""
    proc = started[0]
    if wait_until_paused(proc.stdout, TIMEOUT):  # else it ended first: the caller's assertions say how
        proc.send_signal(sig)
    return _finish(started)


def _logged_epochs(out: Path) -> list[dict]:
    try:
        with (out / "metrics.csv").open() as handle:
            return [row for row in csv.DictReader(handle) if int(row["epoch"]) >= 0]
    except (FileNotFoundError, ValueError, KeyError):
        return []


def _saved_epoch(out: Path) -> int:
    """The last epoch completed in the resumable state (-1: none)."""
    path = out / "state.safetensors"
    if not path.is_file():
        return -1
    with safe_open(str(path), framework="pt") as handle:
        return json.loads(handle.metadata()["json"])["state"]["epoch"]


def _resume_to_end(data: Path, out: Path, strategy: str) -> str:
    before = _saved_epoch(out)
    code, err = _finish(_start(data, out, strategy, "--resume"))
    assert code == 0, err
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

    writing = ("transferlab.features.cache:_write_entry", 1)  # computed, under the lock, not yet written
    code, err = _signal_when_paused(_start(data, out, "features", pause=writing))
    assert code == -signal.SIGKILL, err
    assert any(cache.glob("*.lock"))  # killed while extracting
    for entry in cache.glob("*.safetensors"):  # whatever the kill interrupted, no entry is half-written
        load_checked(entry)
    _resume_to_end(data, out, "features")

    _reference(data, tmp_path / "whole", "features", capsys)
    _assert_same_run(out, tmp_path / "whole")


def test_ctrl_c_then_a_kill_mid_epoch_then_resume_gives_the_uninterrupted_result(data, tmp_path, capsys):
    out = tmp_path / "run"
    second_epoch = (TRAIN_STEP, STEPS_PER_EPOCH + 1)  # the first step after epoch 0 was logged
    code, err = _signal_when_paused(_start(data, out, "scratch", pause=second_epoch), sig=signal.SIGINT)
    assert code == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("transferlab: error: interrupted") and f"--out {out} --resume" in last
    assert "Traceback" not in err
    assert _saved_epoch(out) == 0

    mid_epoch = (TRAIN_STEP, STEPS_PER_EPOCH + STEPS_PER_EPOCH // 2)  # epoch 1 done, half of epoch 2
    code, err = _signal_when_paused(_start(data, out, "scratch", "--resume", pause=mid_epoch))
    assert code == -signal.SIGKILL, err
    assert _saved_epoch(out) == 1 and len(_logged_epochs(out)) == 2
    assert not (out / "model.safetensors").exists()  # not finished: nothing pretends to be a model
    _resume_to_end(data, out, "scratch")

    _reference(data, tmp_path / "whole", "scratch", capsys)
    _assert_same_run(out, tmp_path / "whole")
