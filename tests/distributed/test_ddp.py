"""Data-parallel runs with 2 gloo processes on the CPU, started by torchrun as a user would.

Sharded feature extraction must give the single-process features; a DDP fine-tuning run with
the same global batch must log the single-process metrics (the gradient is the same mean over
the same images, up to the order of float additions); a DDP run killed with SIGKILL and resumed
must end where the uninterrupted DDP run ends.
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_image
from pause_at import wait_until_paused
from safetensors.torch import load_file, save_file

from transferlab.backbones import create_backbone
from transferlab.data.scan import scan_class_folders
from transferlab.engine.batches import GlobalBatches
from transferlab.engine.distributed import World, shard_batches
from transferlab.features import ExtractionOptions, cached_features

HERE = Path(__file__).resolve().parent
TIMEOUT = 300  # seconds for one launch: three interpreters importing torch on 2 cores
TINY = ["--backbone", "tiny_cnn", "--input-size", "32", "--device", "cpu", "--seed", "1"]
EPOCHS = 6
STEPS_PER_EPOCH = 3  # 24 training images in global batches of 8
TRAIN_STEP = "transferlab.engine.trainer:Trainer._step"
PAUSE_AT = HERE.parent / "pause_at.py"  # stops the run still at a chosen call
FINETUNE = ["--strategy", "finetune", "--augment", "none", "--batch-size", "8", "--patience", "0", "--unfreeze", "-1"]


def test_global_batches_split_each_single_process_batch_between_ranks():
    single = list(GlobalBatches(21, 4, seed=5, shuffle=True, world=World()))
    shares = [list(GlobalBatches(21, 4, seed=5, shuffle=True, world=World(r, 2))) for r in range(2)]
    assert len(single) == 5 and all(len(b) == 4 for b in single)  # the partial last batch dropped
    for batch, first, second in zip(single, *shares):
        assert sorted(first + second) == sorted(batch) and len(first) == len(second) == 2
    assert [len(GlobalBatches(21, 4, 5, True, World(r, 2))) for r in range(2)] == [5, 5]
    evaluation = [list(GlobalBatches(5, 4, 0, False, World(r, 2))) for r in range(2)]
    assert evaluation == [[[0, 2], [4]], [[1, 3]]]
    assert [len(GlobalBatches(5, 4, 0, False, World(r, 2))) for r in range(2)] == [2, 1]


def test_shards_are_whole_batches_covering_every_item_once():
    shards = [shard_batches(10, 3, World(r, 2)) for r in range(2)]
    assert shards == [[0, 1, 2, 6, 7, 8], [3, 4, 5, 9]]
    assert shard_batches(10, 3, World()) == list(range(10))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp") / "data"
    colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
    for s, (split, count) in enumerate((("train", 8), ("val", 3))):
        for c, (label, colour) in enumerate(colours.items()):
            for i in range(count):
                write_image(root / split / label / f"{i}.png", colour, size=36, seed=100 * s + 10 * c + i)
    return root


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    """Fixed random tiny_cnn weights as a file: the 'pretrained' base of these runs."""
    torch.manual_seed(0)
    body = create_backbone("tiny_cnn", "none", include_top=True, input_size=32).body
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in body.state_dict().items()}, str(path))
    return str(path)


def _torchrun(*argv: str, env: dict | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *argv]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env or os.environ.copy(), start_new_session=True)


def _kill_all(proc: subprocess.Popen) -> None:
    """SIGKILL torchrun and its workers (each worker runs in a session of its own)."""
    for pid in [*_descendants(proc.pid), proc.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _finished(proc: subprocess.Popen) -> str:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:  # timed out: leave no workers behind
            _kill_all(proc)
    assert proc.returncode == 0, err[-3000:]
    return out


def test_sharded_extraction_equals_one_process_and_fills_one_cache_entry(data, weights, tmp_path):
    images, _ = scan_class_folders(data / "train")
    base = create_backbone("tiny_cnn", weights, include_top=False, input_size=32)
    alone = cached_features(base, images, options=ExtractionOptions(batch_size=4, device="cpu"),
                            root=tmp_path / "alone")
    cache = tmp_path / "shared"
    for attempt in ("cold", "warm"):
        _finished(_torchrun(str(HERE / "ddp_features.py"), str(data / "train"), weights, str(cache),
                            str(tmp_path / f"{attempt}.npz")))
        got = np.load(tmp_path / f"{attempt}.npz")
        assert int(got["world"]) == 2 and bool(got["from_cache"]) == (attempt == "warm")
        assert list(got["paths"]) == list(alone.paths) and (got["labels"] == alone.labels).all()
        np.testing.assert_allclose(got["features"], alone.features, rtol=1e-6, atol=1e-6)
    assert len(list(cache.glob("*.safetensors"))) == 1


def _metrics(out: Path) -> list[dict]:
    if not (out / "metrics.csv").is_file():
        return []
    with (out / "metrics.csv").open() as handle:
        return [row for row in csv.DictReader(handle)]


def _assert_same_metrics(a: list[dict], b: list[dict], rtol: float) -> None:
    assert [(r["epoch"], r["phase"]) for r in a] == [(r["epoch"], r["phase"]) for r in b]
    for x, y in zip(a, b):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert float(x[key]) == pytest.approx(float(y[key]), rel=rtol, abs=1e-6, nan_ok=True), (key, x, y)


@pytest.fixture(scope="module")
def uninterrupted(data, weights, tmp_path_factory):
    """One DDP fine-tuning run (2 processes, global batch 8) and one single-process run, `EPOCHS` each."""
    root = tmp_path_factory.mktemp("runs")
    env = {**os.environ, "TRANSFERLAB_CACHE": str(root / "cache"), "TRANSFERLAB_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    argv = ["train", str(data), *FINETUNE, *TINY, "--weights", weights, "--epochs", str(EPOCHS)]
    ddp = _torchrun("-m", "transferlab", *argv, "--out", str(root / "ddp"), env=env)
    _finished(ddp)
    subprocess.run([sys.executable, "-m", "transferlab", *argv, "--out", str(root / "single")], env=env,
                   check=True, capture_output=True, timeout=TIMEOUT)
    return root, env, argv


def test_ddp_fine_tuning_logs_the_single_process_metrics(uninterrupted):
    root, _, _ = uninterrupted
    ddp, single = _metrics(root / "ddp"), _metrics(root / "single")
    assert len(ddp) == EPOCHS + 1  # the head's row, then every epoch (no early stop)
    _assert_same_metrics(ddp, single, rtol=1e-4)
    trained = [load_file(str(root / name / "model.safetensors")) for name in ("ddp", "single")]
    assert trained[0].keys() == trained[1].keys()
    for key in trained[0]:
        torch.testing.assert_close(trained[0][key], trained[1][key], rtol=1e-4, atol=1e-5)
    assert (root / "ddp" / "report.html").is_file() and not list((root / "ddp").glob("*.tmp*"))


def test_ddp_run_killed_mid_training_resumes_to_the_uninterrupted_result(uninterrupted):
    root, env, argv = uninterrupted
    out = root / "killed"
    mid_epoch = [TRAIN_STEP, str(STEPS_PER_EPOCH + 2), "--"]  # epoch 0 logged, inside epoch 1
    proc = _torchrun(str(PAUSE_AT), *mid_epoch, *argv, "--out", str(out), env=env)
    try:
        wait_until_paused(proc.stdout, TIMEOUT)
    finally:
        _kill_all(proc)
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode != 0, "the run finished before it could be killed"
    assert not (out / "summary.json").exists()
    _finished(_torchrun("-m", "transferlab", *argv, "--out", str(out), "--resume", env=env))
    assert len(_metrics(out)) == EPOCHS + 1
    _assert_same_metrics(_metrics(out), _metrics(root / "ddp"), rtol=1e-6)
