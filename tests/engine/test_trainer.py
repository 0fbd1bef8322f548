"""Trainer: learning, divergence, early stopping, max-norm, L1 and the schedule it applies."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from transferlab.engine.schedule import lr_multiplier
from transferlab.engine.trainer import Trainer, TrainerOptions, TrainingDiverged
from transferlab.errors import TransferlabError

CPU = torch.device("cpu")


def _blobs(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two well-separated Gaussian blobs in 4-D: label 0 around -2, label 1 around +2."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    inputs = torch.randn(n, 4, generator=gen) * 0.5 + (labels[:, None].float() * 4 - 2)
    return inputs, labels


def _batches(inputs: torch.Tensor, labels: torch.Tensor, size: int = 16):
    return [(inputs[i : i + size], labels[i : i + size]) for i in range(0, len(labels), size)]


def _trainer(model: nn.Module, lr: float = 0.1, optimizer: str = "adam", callbacks=(), **options) -> Trainer:
    opt_class = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
    return Trainer(model, opt_class(model.parameters(), lr=lr), nn.CrossEntropyLoss(), CPU, callbacks=callbacks,
                   options=TrainerOptions(**options))


def _zero_linear() -> nn.Linear:
    model = nn.Linear(4, 2)
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    return model


def test_tiny_model_learns_a_separable_problem():
    train, val = _blobs(64, seed=0), _batches(*_blobs(32, seed=1))
    trainer = _trainer(_zero_linear(), lr=0.1)
    _, acc_before, _, _ = trainer.evaluate(val)
    state = trainer.fit(lambda epoch: _batches(*train), val, epochs=5)
    assert acc_before == 0.5  # all-zero logits: every prediction is class 0
    assert [row["epoch"] for row in state["history"]] == [0, 1, 2, 3, 4]
    assert state["history"][-1]["val_acc"] == 1.0 and state["best_acc"] == 1.0
    assert state["history"][-1]["train_loss"] < state["history"][0]["train_loss"]


def test_nan_inputs_raise_training_diverged_naming_the_epoch():
    inputs, labels = _blobs(32)
    poisoned = inputs.clone()
    poisoned[3, 1] = float("nan")
    trainer = _trainer(_zero_linear())
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit(lambda epoch: _batches(poisoned if epoch == 1 else inputs, labels), _batches(inputs, labels), 3)
    message = str(info.value)
    assert "\n" not in message and "at epoch 2" in message and "--lr" in message
    assert isinstance(info.value, TransferlabError)
    assert trainer.state["epoch"] == 0  # epoch 1 finished, epoch 2 did not


def test_huge_learning_rate_diverges():
    inputs, labels = _blobs(32)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    trainer = _trainer(model, lr=1e30, optimizer="sgd")
    with pytest.raises(TrainingDiverged, match=r"^loss became (nan|inf) at epoch \d+, step \d+"):
        trainer.fit(lambda epoch: _batches(inputs, labels, size=4), _batches(inputs, labels), epochs=5)


@pytest.mark.parametrize("patience, epochs_run", [(2, 3), (4, 5), (0, 8)])
def test_early_stopping_after_patience_epochs_without_improvement(patience, epochs_run):
    from transferlab.engine.callbacks import EarlyStopping

    inputs, labels = _blobs(32)
    # lr 0: the first epoch sets the best score, and no later epoch can beat it
    trainer = _trainer(nn.Linear(4, 2), lr=0.0, optimizer="sgd", callbacks=[EarlyStopping(patience)])
    state = trainer.fit(lambda epoch: _batches(inputs, labels), _batches(inputs, labels), epochs=8)
    assert len(state["history"]) == epochs_run
    assert [row["improved"] for row in state["history"]] == [True] + [False] * (epochs_run - 1)
    assert state.get("stopped", False) == (patience > 0)


@pytest.mark.parametrize("until, epochs_run", [(35.0, 3), (40.0, 4), (1000.0, 8)])
def test_a_deadline_stops_before_an_epoch_that_would_end_past_it(until, epochs_run):
    from transferlab.engine.callbacks import Deadline

    inputs, labels = _blobs(32)
    ticks = iter(range(0, 1000, 10))  # a clock that moves 10 s per reading: every epoch "takes" 10 s
    deadline = Deadline(until, lambda: float(next(ticks)))
    trainer = _trainer(nn.Linear(4, 2), lr=0.1, optimizer="sgd", callbacks=[deadline])
    state = trainer.fit(lambda epoch: _batches(inputs, labels), _batches(inputs, labels), epochs=8)
    assert len(state["history"]) == epochs_run and state.get("stopped", False) == (epochs_run < 8)


@pytest.mark.parametrize("needed, epochs_run", [(0.0, 6), (1.01, 3)])
def test_a_run_that_reaches_the_accuracy_earns_the_later_deadline(needed, epochs_run):
    from transferlab.engine.callbacks import Ahead, Deadline

    inputs, labels = _blobs(32)  # separable: validation accuracy reaches 0.0 at once, never 1.01
    ticks = iter(range(0, 1000, 10))
    deadline = Deadline(35.0, lambda: float(next(ticks)), Ahead(needed, 65.0))
    trainer = _trainer(nn.Linear(4, 2), lr=0.1, optimizer="sgd", callbacks=[deadline])
    state = trainer.fit(lambda epoch: _batches(inputs, labels), _batches(inputs, labels), epochs=8)
    assert len(state["history"]) == epochs_run


def test_stopped_run_stays_stopped_when_fit_again():
    from transferlab.engine.callbacks import EarlyStopping

    inputs, labels = _blobs(32)
    trainer = _trainer(nn.Linear(4, 2), lr=0.0, optimizer="sgd", callbacks=[EarlyStopping(1)])
    trainer.fit(lambda epoch: _batches(inputs, labels), _batches(inputs, labels), epochs=8)
    trainer.should_stop = False
    state = trainer.fit(lambda epoch: _batches(inputs, labels), _batches(inputs, labels), epochs=8)
    assert len(state["history"]) == 2


def _row_norms(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten(1).norm(dim=1) for p in model.parameters() if p.dim() > 1])


@pytest.mark.parametrize("max_norm", [None, 0.3])
def test_max_norm_bounds_every_unit_incoming_weights(max_norm):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    inputs, labels = _blobs(64)
    trainer = _trainer(model, lr=0.2, max_norm=max_norm)
    trainer.fit(lambda epoch: _batches(inputs, labels), _batches(inputs, labels), epochs=3)
    largest = float(_row_norms(model).max())
    if max_norm is None:
        assert largest > 0.3  # the constraint below is not met by accident
    else:
        assert largest <= max_norm + 1e-6


def test_l1_adds_the_penalty_on_weight_matrices_to_the_loss():
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    inputs, labels = _blobs(32)
    losses = {}
    for l1 in (0.0, 0.5):
        trainer = _trainer(model, lr=0.0, optimizer="sgd", l1=l1)  # lr 0: the weights never move
        state = trainer.fit(lambda epoch: _batches(inputs, labels), _batches(inputs, labels), epochs=1)
        losses[l1] = state["history"][0]["train_loss"]
    expected = 0.5 * float(model.weight.detach().abs().sum())  # the bias is not penalised
    assert losses[0.5] - losses[0.0] == pytest.approx(expected, rel=1e-5)


class _RecordLR:
    def __init__(self):
        self.lrs = []

    def on_batch_end(self, trainer, loss, acc):
        self.lrs.append(trainer.optimizer.param_groups[0]["lr"])


def test_trainer_applies_the_schedule_to_every_step_and_group():
    inputs, labels = _blobs(32)
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD([{"params": [model.weight], "lr": 0.1}, {"params": [model.bias], "lr": 0.01}])
    record = _RecordLR()
    schedule = lr_multiplier("step", total_steps=8)
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), CPU, schedule, callbacks=[record])
    state = trainer.fit(lambda epoch: _batches(inputs, labels, size=8), _batches(inputs, labels), epochs=2)
    assert state["step"] == 8
    assert record.lrs == pytest.approx([0.1] * 4 + [0.01] * 2 + [0.001] * 2)
    assert optimizer.param_groups[1]["lr"] == pytest.approx(0.01 * 0.01)
    assert [row["lr"] for row in state["history"]] == pytest.approx([0.01, 0.0001])  # last group's rate


def test_a_batch_mix_feeds_soft_labels_to_the_loss_and_accuracy_takes_their_argmax():
    seen = []

    def mix(inputs, labels):  # keeps the inputs; labels 80 % own class, 20 % the other
        soft = nn.functional.one_hot(labels, 2).float() * 0.6 + 0.2
        seen.append(soft)
        return inputs, soft

    train, val = _blobs(64, seed=0), _batches(*_blobs(32, seed=1))
    trainer = _trainer(_zero_linear(), lr=0.1, mix=mix)
    state = trainer.fit(lambda epoch: _batches(*train), val, epochs=5)
    assert len(seen) == 5 * 4 and all(s.shape == (16, 2) for s in seen)
    assert state["history"][-1]["train_acc"] == 1.0 and state["history"][-1]["val_acc"] == 1.0
    assert state["history"][-1]["train_loss"] > 0.45  # soft targets: the loss cannot reach 0 (entropy 0.5)
