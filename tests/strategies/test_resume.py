"""An interrupted run resumed with `--resume` ends exactly where an uninterrupted run does."""

from __future__ import annotations

import csv

import pytest
import torch
from safetensors.torch import load_file

from transferlab.config import TrainConfig
from transferlab.engine import callbacks
from transferlab.strategies import train

CASES = {
    "features": {"epochs": 6, "patience": 0},
    "finetune": {"epochs": 3, "patience": 0, "augment": "light"},
    "finetune-mixed": {"epochs": 3, "patience": 0, "augment": "light", "mixup": 0.4, "cutmix": 1.0},
}


def _config(data, strategy: str) -> TrainConfig:
    return TrainConfig(data=str(data), strategy=strategy.split("-mixed")[0], backbone="tiny_cnn", weights="none",
                       input_size=32, device="cpu", batch_size=8, **CASES[strategy])


def _rows(run_dir) -> list[dict]:
    with (run_dir / "metrics.csv").open() as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def _interrupt_after(monkeypatch, epoch_index: int) -> None:
    """Make the end of epoch `epoch_index` raise KeyboardInterrupt, as Ctrl-C would.

    EarlyStopping runs after the CSV log and the best checkpoint but before the resumable
    state is saved: the interrupted epoch is logged yet must be trained again on resume.
    """
    original = callbacks.EarlyStopping.on_epoch_end

    def on_epoch_end(self, trainer, row):
        if row["epoch"] == epoch_index:
            raise KeyboardInterrupt
        original(self, trainer, row)

    monkeypatch.setattr(callbacks.EarlyStopping, "on_epoch_end", on_epoch_end)


def _assert_same_tensors(a, b) -> None:
    ta, tb = load_file(str(a)), load_file(str(b))
    assert ta.keys() == tb.keys()
    for key in ta:
        torch.testing.assert_close(ta[key], tb[key], atol=1e-6, rtol=0, msg=key)


@pytest.mark.parametrize("strategy, stop_at", [("features", 2), ("finetune", 1), ("finetune-mixed", 1)])
def test_resumed_run_equals_uninterrupted_run(split_folder, tmp_path, monkeypatch, strategy, stop_at):
    config = _config(split_folder, strategy)
    whole = train(config, tmp_path / "whole")

    with monkeypatch.context() as patch:
        _interrupt_after(patch, stop_at)
        with pytest.raises(KeyboardInterrupt):
            train(config, tmp_path / "cut")
    logged = [int(r["epoch"]) for r in _rows(tmp_path / "cut") if int(r["epoch"]) >= 0]
    assert logged == list(range(stop_at + 1)) and not (tmp_path / "cut" / "model.safetensors").exists()

    resumed = train(config, tmp_path / "cut", resume=True)
    assert _rows(tmp_path / "cut") == _rows(tmp_path / "whole")
    assert len(_rows(tmp_path / "whole")) == config.epochs + (config.strategy == "finetune")  # + the head row
    _assert_same_tensors(tmp_path / "cut" / "model.safetensors", tmp_path / "whole" / "model.safetensors")
    _assert_same_tensors(tmp_path / "cut" / "state.safetensors", tmp_path / "whole" / "state.safetensors")
    assert resumed.summary["val"]["confusion"] == whole.summary["val"]["confusion"]
    assert resumed.summary["val"]["loss"] == pytest.approx(whole.summary["val"]["loss"], abs=1e-6)
