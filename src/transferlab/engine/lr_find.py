"""Learning-rate range test: raise the rate exponentially over mini-batches, watch the loss.

The idea of Smith (2015, "Cyclical learning rates") as fastai's `lr_find` popularised it: train
for ~100 steps with the rate growing from 1e-7 to 10, record the EMA-smoothed loss (beta 0.98,
bias-corrected), stop once it exceeds 4x its minimum, then put the weights and the optimiser
back as they were. Every parameter group keeps its ratio to the group with the largest rate
(discriminative rates survive the sweep); the rates reported are that group's.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..errors import TransferlabError, unknown_name
from ..models.freezing import apply_bn_policy
from .device import autocast, to_device
from .seeding import seeded

MOST_STEPS, FEWEST_STEPS, MOST_PASSES = 100, 20, 5
RULES = {"min10": "minimum / 10", "steepest": "steepest descent"}
StepHook = Callable[[int, float, float], None]  # (step, rate, smoothed loss), e.g. a progress bar


@dataclass(frozen=True)
class RangeTestOptions:
    """How the range test sweeps.

    Attributes:
        start: first rate of the reference group (the one with the largest rate).
        end: last rate, reached at the last step.
        steps: mini-batch steps from `start` to `end` (data is cycled as needed).
        beta: EMA factor of the smoothed loss.
        diverge: stop once the smoothed loss exceeds this multiple of its minimum.
        bn_policy: BatchNorm policy while stepping (see `models.freezing`).
        seed: seeds dropout and augmentation (torch's global generators) for the test alone.
        rule: what to suggest: "min10", a tenth of the rate at the smoothed loss's minimum, or
            "steepest", the rate where it falls fastest (else "min10"). min10 is the default: from
            a fitted phase-1 head the descent is shallow and noisy (BENCHMARKS.md, "lr-find").
    """

    start: float = 1e-7
    end: float = 10.0
    steps: int = MOST_STEPS
    beta: float = 0.98
    diverge: float = 4.0
    bn_policy: str = "frozen"
    seed: int = 0
    rule: str = "min10"

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise unknown_name("suggestion rule", self.rule, list(RULES))
        if not 0 < self.start < self.end:
            raise TransferlabError(f"range test rates must satisfy 0 < start < end, not {self.start}, {self.end}")
        if self.steps < 5:
            raise TransferlabError(f"a range test needs at least 5 steps, not {self.steps}")


@dataclass(frozen=True)
class RangeTestResult:
    """The curve and the rate it suggests.

    Attributes:
        rates: the reference group's rate at each step.
        losses: EMA-smoothed (bias-corrected) loss at each step.
        raw_losses: the mini-batch loss at each step.
        suggestion: the suggested rate for the reference group.
        rule: how `suggestion` was chosen ("minimum / 10" or "steepest descent").
        steepest: the rate where the smoothed loss falls fastest (None: no descent to measure).
        minimum_tenth: a tenth of the rate at the smoothed loss's minimum.
        stopped: why the sweep ended ("diverged", "end of range").
    """

    rates: tuple[float, ...]
    losses: tuple[float, ...]
    raw_losses: tuple[float, ...]
    suggestion: float
    rule: str
    steepest: float | None
    minimum_tenth: float
    stopped: str

    def to_dict(self) -> dict:
        return asdict(self)


def range_test_steps(batches_per_epoch: int) -> int:
    """100 steps, fewer for small data: at most 5 passes over it, but no fewer than 20 steps."""
    return max(FEWEST_STEPS, min(MOST_STEPS, MOST_PASSES * max(1, batches_per_epoch)))


def lr_range_test(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable,
    batches: Callable[[int], Iterable],
    device: torch.device,
    options: RangeTestOptions = RangeTestOptions(),
    on_step: StepHook | None = None,
) -> RangeTestResult:
    """Run the range test; the model's weights, modes and the optimiser's state are restored after.

    Args:
        model: the network (already on `device`); only parameters in `optimizer` move.
        optimizer: over the parameter groups to sweep, each with its own `lr`.
        loss_fn: (logits, labels) -> loss.
        batches: epoch -> (inputs, labels) batches; epochs are cycled until `options.steps`.
        device: where to run.
        options: the sweep.
        on_step: called after each step with (step, rate, smoothed loss), e.g. for a progress bar.
    """
    weights = copy.deepcopy(model.state_dict())
    optimiser_state = copy.deepcopy(optimizer.state_dict())
    modes = {module: module.training for module in model.modules()}
    try:
        with seeded(options.seed, device):
            rates, raw, smooth, stopped = _sweep(model, optimizer, loss_fn, _cycle(batches), device, options, on_step)
    finally:
        model.load_state_dict(weights)
        optimizer.load_state_dict(optimiser_state)
        for module, training in modes.items():
            module.train(training)
    if not rates:
        raise TransferlabError("the loss was not finite at the first step of the range test: check the input data")
    steepest, tenth = suggest_rates(rates, smooth)
    rule = "steepest" if options.rule == "steepest" and steepest is not None else "min10"
    suggestion = steepest if rule == "steepest" else tenth
    return RangeTestResult(tuple(rates), tuple(smooth), tuple(raw), suggestion, RULES[rule], steepest, tenth, stopped)


def suggest_rates(rates: list[float], losses: list[float]) -> tuple[float | None, float]:
    """(rate of steepest descent into the minimum or None, a tenth of the rate at the minimum).

    The descent runs from the last peak of the smoothed loss before its minimum (the first tenth
    of the curve, still mostly the first batches' noise, left out) to the minimum. Its slope
    against log10(rate) is taken over chords a quarter of the descent long, not point to point,
    so one noisy batch does not make the steepest place; the rate is the chord's middle.
    """
    r, y = np.asarray(rates, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    best = int(np.argmin(y))
    tenth = float(r[best] / 10)
    first = min(len(y) // 10, best)
    before = y[first : best + 1]
    peak = best - int(np.argmax(before[::-1]))  # the last highest point before the minimum
    if best - peak < 2:  # fewer than 3 points descend to the minimum: no slope to trust
        return None, tenth
    span = max(1, (best - peak) // 4)
    x = np.log10(r)
    ends, starts = slice(peak + span, best + 1), slice(peak, best + 1 - span)
    slopes = (y[ends] - y[starts]) / (x[ends] - x[starts])
    i = peak + int(np.argmin(slopes))
    return (float(np.sqrt(r[i] * r[i + span])) if slopes.min() < 0 else None), tenth


def _sweep(model, optimizer, loss_fn, batches: Iterator, device, options: RangeTestOptions, on_step):
    """The stepping loop: (rates, raw losses, smoothed losses, why it stopped)."""
    reference = max(group["lr"] for group in optimizer.param_groups)
    ratios = [group["lr"] / reference for group in optimizer.param_groups]
    growth = (options.end / options.start) ** (1 / (options.steps - 1))
    model.train()
    apply_bn_policy(model, options.bn_policy)
    rates, raw, smooth, average, lowest = [], [], [], 0.0, math.inf
    for step in range(options.steps):
        rate = options.start * growth**step
        for group, ratio in zip(optimizer.param_groups, ratios):
            group["lr"] = rate * ratio
        loss = _step(model, optimizer, loss_fn, next(batches), device)
        if not math.isfinite(loss):
            return rates, raw, smooth, "diverged"
        average = options.beta * average + (1 - options.beta) * loss
        smoothed = average / (1 - options.beta ** (step + 1))
        rates.append(rate)
        raw.append(loss)
        smooth.append(smoothed)
        lowest = min(lowest, smoothed)
        if on_step is not None:
            on_step(step, rate, smoothed)
        if smoothed > options.diverge * lowest:
            return rates, raw, smooth, "diverged"
    return rates, raw, smooth, "end of range"


def _step(model, optimizer, loss_fn, batch, device) -> float:
    inputs, labels = batch
    inputs, labels = to_device(inputs, device), labels.to(device)
    with autocast(device):
        logits = model(inputs).float()
    loss = loss_fn(logits, labels)
    if not torch.isfinite(loss):
        return math.inf
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _cycle(batches: Callable[[int], Iterable]) -> Iterator:
    """Batches of epoch 0, 1, 2, ... end to end, for as long as they are asked for."""
    epoch = 0
    while True:
        empty = True
        for batch in batches(epoch):
            empty = False
            yield batch
        if empty:
            raise TransferlabError("the range test got no training batches")
        epoch += 1
