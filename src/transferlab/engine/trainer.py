"""A small trainer: steps, evaluation and callbacks. Strategies decide what to train on."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import TransferlabError
from ..models.freezing import apply_bn_policy
from .device import autocast, to_device
from .distributed import World, all_sum, any_rank, current_world, gather
from .seeding import seeded

log = logging.getLogger(__name__)

RANK_SEED_STRIDE = 1_000_003


class TrainingDiverged(TransferlabError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class TrainerOptions:
    """What a `Trainer` does besides stepping its optimizer.

    Attributes:
        l1: L1 penalty on trainable weights (matrices and kernels, not biases or norms).
        max_norm: renormalise each output unit's incoming weights to at most this L2 norm.
        bn_policy: BatchNorm policy applied after `model.train()` (see models.freezing).
        seed: base seed; epoch `e` draws from `seed + e`, so resumed runs replay exactly.
        distributed: in a torchrun world, train with DistributedDataParallel on this rank's share
            of each batch; epoch metrics are then summed over the ranks (the batches given must
            be this rank's share, as `engine.batches.image_batches` cuts them).
        mix: a batch transform applied to each training batch on the device, (inputs, labels) ->
            (inputs, soft labels (B, K)), as `data.mix.batch_mix` builds; the loss then takes the
            soft labels, and training accuracy counts the argmax of each soft label as its class.
    """

    l1: float = 0.0
    max_norm: float | None = None
    bn_policy: str | None = None
    seed: int = 0
    distributed: bool = False
    mix: Callable | None = None


class Trainer:
    """Runs epochs of optimisation and validation, calling callbacks at each step and epoch.

    Args:
        model: the module to train.
        optimizer: its optimizer; every group carries `base_lr`, scaled each step by `lr_at_step`.
        loss_fn: (logits, labels) -> loss.
        device: where to run.
        lr_at_step: multiplier of `base_lr` at a global step (see `schedule.lr_multiplier`).
        callbacks: objects with any of `on_fit_start`, `on_batch_end`, `on_epoch_end`, `on_fit_end`.
        options: penalties, BatchNorm policy, seed and distribution.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable,
        device: torch.device,
        lr_at_step: Callable[[int], float] = lambda step: 1.0,
        callbacks: Sequence = (),
        options: TrainerOptions = TrainerOptions(),
    ):
        self.model = model
        self.options = options
        self.world = current_world() if options.distributed else World()
        self.network = self._wrap(model, device) if self.world.active else model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.device = device
        self.lr_at_step = lr_at_step
        self.callbacks = list(callbacks)
        self.state = {"epoch": -1, "step": 0, "best_acc": -1.0, "best_loss": math.inf, "best_epoch": -1,
                      "bad_epochs": 0, "history": []}
        self.should_stop = False
        for group in optimizer.param_groups:
            group.setdefault("base_lr", group["lr"])

    def fit(self, train_batches: Callable[[int], Iterable], val_batches: Iterable, epochs: int, phase: str = "train") -> dict:
        """Train until `epochs` (counting epochs already done in `state`) or a callback stops it."""
        self._call("on_fit_start")
        first = epochs if self.state.get("stopped") else self.state["epoch"] + 1  # a finished run stays finished
        for epoch in range(first, epochs):
            start = time.perf_counter()
            # Augmentation, dropout and loader workers draw from the global generators (they take
            # no generator of their own): each epoch draws from its own seed, so a resumed run
            # replays the epochs it has left exactly. Each rank draws its own augmentation and
            # dropout; rank 0 draws as a single process does.
            with seeded(self.options.seed + epoch + RANK_SEED_STRIDE * self.world.rank, self.device):
                train_loss, train_acc = self.train_epoch(train_batches(epoch), epoch)
                val_loss, val_acc, _, _ = self.evaluate(val_batches)
            row = {"epoch": epoch, "phase": phase, "train_loss": train_loss, "train_acc": train_acc,
                   "val_loss": val_loss, "val_acc": val_acc, "lr": self.optimizer.param_groups[-1]["lr"],
                   "seconds": round(time.perf_counter() - start, 3)}
            self._record(row)
            self._call("on_epoch_end", row)
            if self.should_stop:
                break
        self._call("on_fit_end")
        return self.state

    def train_epoch(self, batches: Iterable, epoch: int) -> tuple[float, float]:
        """One pass over `batches`; returns mean loss and accuracy."""
        self.model.train()
        if self.options.bn_policy:
            apply_bn_policy(self.model, self.options.bn_policy)
        total_loss, correct, seen = 0.0, 0, 0
        for inputs, labels in batches:
            loss, logits, targets = self._step(inputs, labels, epoch)
            n = len(targets)
            total_loss += loss * n
            hard = targets.argmax(1) if targets.dim() > 1 else targets  # (B,) from soft (B, K) labels too
            correct += int((logits.argmax(1) == hard).sum())
            seen += n
            self._call("on_batch_end", loss, correct / seen)
        if self.world.active:
            total_loss, correct, seen = all_sum([total_loss, correct, seen])
        return total_loss / max(seen, 1), correct / max(seen, 1)

    @torch.no_grad()
    def evaluate(self, batches: Iterable) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Mean loss, accuracy, softmax probabilities and labels over `batches`."""
        self.model.eval()
        probs, labels_all, total_loss = [], [], 0.0
        for inputs, labels in batches:
            labels = labels.to(self.device)
            with autocast(self.device):
                logits = self.model(to_device(inputs, self.device)).float()
            total_loss += float(nn.functional.cross_entropy(logits, labels, reduction="sum"))
            probs.append(logits.softmax(1).cpu().numpy())
            labels_all.append(labels.cpu().numpy())
        if self.world.active:  # each rank scored its share: every rank gets all of it
            parts = gather((probs, labels_all, total_loss))
            probs, labels_all = [p for part in parts for p in part[0]], [y for part in parts for y in part[1]]
            total_loss = sum(part[2] for part in parts)
        if not probs:
            return math.nan, math.nan, np.zeros((0, 0)), np.zeros(0, dtype=np.int64)
        probs_np, labels_np = np.concatenate(probs), np.concatenate(labels_all)
        accuracy = float((probs_np.argmax(1) == labels_np).mean())
        return total_loss / len(labels_np), accuracy, probs_np, labels_np

    def _step(self, inputs: torch.Tensor, labels: torch.Tensor, epoch: int):
        self._set_lr()
        inputs, labels = to_device(inputs, self.device), labels.to(self.device)
        if self.options.mix is not None:
            inputs, labels = self.options.mix(inputs, labels)  # labels: (B,) -> soft (B, K)
        with autocast(self.device):
            logits = self.network(inputs).float()
        loss = self.loss_fn(logits, labels)
        if self.options.l1:
            loss = loss + self.options.l1 * sum(p.abs().sum() for p in self._penalised())
        diverged = not torch.isfinite(loss)
        if self.world.active:  # all ranks stop together, before DDP's gradient exchange
            diverged = any_rank(diverged)
        if diverged:
            raise TrainingDiverged(
                f"loss became {float(loss.detach())} at epoch {epoch + 1}, step {self.state['step']}: "
                f"lower the learning rate (--lr) or check the input data"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.options.max_norm:
            self._apply_max_norm()
        self.state["step"] += 1
        return float(loss.detach()), logits.detach(), labels

    @staticmethod
    def _wrap(model: nn.Module, device: torch.device) -> nn.Module:
        """DistributedDataParallel over the trainable parameters (the frozen ones are not synced)."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def _set_lr(self) -> None:
        multiplier = self.lr_at_step(self.state["step"])
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * multiplier

    def _penalised(self):
        return (p for p in self.model.parameters() if p.requires_grad and p.dim() > 1)

    @torch.no_grad()
    def _apply_max_norm(self) -> None:
        for param in self._penalised():
            param.copy_(torch.renorm(param, p=2, dim=0, maxnorm=self.options.max_norm))

    def _record(self, row: dict) -> None:
        state = self.state
        improved = row["val_acc"] > state["best_acc"] or (
            row["val_acc"] == state["best_acc"] and row["val_loss"] < state["best_loss"]
        )
        row["improved"] = bool(improved)
        if improved:
            state.update(best_acc=row["val_acc"], best_loss=row["val_loss"], best_epoch=row["epoch"], bad_epochs=0)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = row["epoch"]
        state["history"].append(row)

    def _call(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is not None:
                method(self, *args)
