"""Weights and full training state on disk: exact round-trips and one-line errors for bad files."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from transferlab.engine.checkpoint import load_training_state, save_training_state
from transferlab.models.storage import load_weights, save_weights
from transferlab.errors import TransferlabError


def _model(seed: int, out: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, out))


def _train_steps(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        inputs, labels = torch.randn(16, 4, generator=gen), torch.randint(0, 3, (16,), generator=gen)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(inputs), labels).backward()
        optimizer.step()


def _draws() -> tuple:
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def test_training_state_round_trip_restores_model_adam_moments_and_rng(tmp_path):
    model = _model(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.99))
    _train_steps(model, optimizer, 5)
    state = {"epoch": 2, "step": 5, "best_acc": 0.75, "history": [{"epoch": 0, "val_loss": float("nan")}]}
    path = tmp_path / "state.safetensors"
    save_training_state(path, model, optimizer, state)
    expected_draws = _draws()

    restored = _model(1)
    restored_opt = torch.optim.Adam(restored.parameters(), lr=0.5)
    loaded = load_training_state(path, restored, restored_opt)

    assert _draws() == expected_draws  # torch, numpy and Python RNGs as they were at saving
    assert loaded["epoch"] == 2 and loaded["best_acc"] == 0.75 and np.isnan(loaded["history"][0]["val_loss"])
    for (name, a), b in zip(model.state_dict().items(), restored.state_dict().values()):
        assert torch.equal(a, b), name  # BatchNorm running statistics included
    assert restored_opt.param_groups[0]["lr"] == 0.01 and tuple(restored_opt.param_groups[0]["betas"]) == (0.8, 0.99)
    for index, values in optimizer.state_dict()["state"].items():
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(values[key], restored_opt.state_dict()["state"][index][key]), key
    # The proof that the moments are right: the next steps are identical.
    _train_steps(model, optimizer, 3, seed=7)
    _train_steps(restored, restored_opt, 3, seed=7)
    for a, b in zip(model.parameters(), restored.parameters()):
        assert torch.equal(a, b)


def test_weights_round_trip_with_metadata(tmp_path):
    from safetensors import safe_open

    model, other = _model(0), _model(1)
    save_weights(model, tmp_path / "w.safetensors", {"note": "hello"})
    load_weights(other, tmp_path / "w.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))
    with safe_open(str(tmp_path / "w.safetensors"), framework="pt") as handle:
        metadata = handle.metadata()
    assert metadata.pop("transferlab.sha256")  # the checksum load_weights verifies
    assert metadata == {"note": "hello"}


def _one_line_error(call) -> str:
    with pytest.raises(TransferlabError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_weights_of_another_architecture_are_one_clear_error(tmp_path):
    path = tmp_path / "other.safetensors"
    save_weights(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(4, 2)), path)
    message = _one_line_error(lambda: load_weights(_model(0), path))
    assert "another model" in message and str(path) in message and "missing" in message


def test_weights_with_the_same_names_but_other_shapes_are_one_clear_error(tmp_path):
    path = tmp_path / "five.safetensors"
    save_weights(_model(0, out=5), path)
    message = _one_line_error(lambda: load_weights(_model(0, out=3), path))
    assert "do not fit this model" in message and "size mismatch" in message


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_unreadable_weights_file_is_one_clear_error(tmp_path, damage):
    path = tmp_path / "w.safetensors"
    save_weights(_model(0), path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 7 + b"not a tensor file")
    else:
        path.unlink()
    assert "cannot read model weights" in _one_line_error(lambda: load_weights(_model(0), path))


def test_truncated_training_state_is_one_clear_error(tmp_path):
    model = _model(0)
    optimizer = torch.optim.Adam(model.parameters())
    path = tmp_path / "state.safetensors"
    save_training_state(path, model, optimizer, {"epoch": 0})
    path.write_bytes(path.read_bytes()[:-40])
    message = _one_line_error(lambda: load_training_state(path, model, optimizer))
    assert "unreadable" in message and "--resume" in message
