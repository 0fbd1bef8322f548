"""Learning-rate range test: the curve, the suggestion, restored weights, group ratios, BatchNorm."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from transferlab.engine.lr_find import RangeTestOptions, lr_range_test, range_test_steps, suggest_rates
from transferlab.errors import TransferlabError

CPU = torch.device("cpu")


def _batches(n: int = 64, size: int = 16, noisy: bool = False):
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (n,), generator=gen) if noisy else torch.arange(n) % 2
    inputs = torch.randn(n, 4, generator=gen) * 0.5 + (0 if noisy else labels[:, None].float() * 4 - 2)
    return lambda epoch: [(inputs[i : i + size], labels[i : i + size]) for i in range(0, n, size)]


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def _optimizer(model: nn.Module, lrs=(1e-3, 2e-3)) -> torch.optim.Optimizer:
    return torch.optim.SGD([{"params": model[0].parameters(), "lr": lrs[0]},
                            {"params": model[3].parameters(), "lr": lrs[1]}], momentum=0.9)


def _run(model, optimizer, noisy=False, **options):
    return lr_range_test(model, optimizer, nn.CrossEntropyLoss(), _batches(noisy=noisy), CPU,
                         RangeTestOptions(**options))


def test_curve_is_recorded_and_the_suggestion_is_finite_and_in_range():
    model = _model()
    result = _run(model, _optimizer(model), steps=60)
    assert 5 < len(result.rates) <= 60 and len(result.rates) == len(result.losses) == len(result.raw_losses)
    assert result.rates[0] == pytest.approx(1e-7)
    assert all(b > a for a, b in zip(result.rates, result.rates[1:]))  # exponential, rising
    assert math.isfinite(result.suggestion) and 1e-7 <= result.suggestion <= 10
    assert result.rule == "minimum / 10" and result.suggestion == result.minimum_tenth
    assert result.minimum_tenth == pytest.approx(result.rates[result.losses.index(min(result.losses))] / 10)
    assert result.to_dict()["rule"] == result.rule


def test_the_sweep_stops_once_the_loss_exceeds_four_times_its_minimum():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    result = _run(model, optimizer, noisy=True, steps=80, end=1e3)  # labels are noise: large rates only overshoot
    assert result.stopped == "diverged" and len(result.rates) < 80
    assert result.losses[-1] > 4 * min(result.losses)
    assert 1e-7 <= result.suggestion < result.rates[-1]


def test_weights_optimiser_and_modes_are_restored():
    model = _model()
    optimizer = _optimizer(model)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}  # BatchNorm buffers included
    _run(model, optimizer, steps=30, bn_policy="train")
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, 2e-3]
    assert not optimizer.state  # no momentum left behind
    assert not any(m.training for m in model.modules())


def test_groups_keep_their_ratio_and_the_sweep_is_reproducible():
    seen = []

    class Spy(torch.optim.SGD):
        def step(self, closure=None):
            seen.append([g["lr"] for g in self.param_groups])
            return super().step(closure)

    model = _model()
    optimizer = Spy([{"params": model[0].parameters(), "lr": 1e-3}, {"params": model[3].parameters(), "lr": 4e-3}])
    first = _run(model, optimizer, steps=20)
    assert all(low / high == pytest.approx(0.25) for low, high in seen)
    assert [high for _, high in seen] == pytest.approx(list(first.rates))
    assert _run(model, optimizer, steps=20).losses == first.losses


def test_frozen_bn_policy_keeps_running_statistics():
    model = _model()
    captured = []
    model[1].register_forward_pre_hook(lambda module, args: captured.append(module.training))
    _run(model, _optimizer(model), steps=10, bn_policy="frozen")
    assert captured and not any(captured)


def test_steps_scale_with_small_data():
    assert range_test_steps(1) == 20 and range_test_steps(10) == 50 and range_test_steps(1000) == 100


def test_suggestion_rules_on_a_known_curve():
    rates = [10 ** (-7 + 8 * i / 49) for i in range(50)]
    losses = [1.0] * 20 + [1.0 - 0.1 * i for i in range(1, 11)] + [0.0 + 0.2 * i for i in range(20)]
    steepest, tenth = suggest_rates(rates, losses)
    assert rates[19] <= steepest <= rates[29]  # the descent runs from index 19 to the minimum at 29
    assert tenth == pytest.approx(rates[29] / 10)
    assert suggest_rates(rates[:3], [0.5, 1.0, 2.0]) == (None, pytest.approx(rates[0] / 10))  # no descent


def test_the_rule_picks_the_suggestion():
    model = _model()
    default, steepest = _run(model, _optimizer(model), steps=60), _run(model, _optimizer(model), steps=60, rule="steepest")
    assert default.rule == "minimum / 10" and default.suggestion == default.minimum_tenth
    assert steepest.rule == "steepest descent" and steepest.suggestion == steepest.steepest is not None
    assert steepest.losses == default.losses


def test_bad_options_are_one_line_errors():
    with pytest.raises(TransferlabError, match="steepest"):
        RangeTestOptions(rule="steep")
    with pytest.raises(TransferlabError, match="at least 5 steps"):
        RangeTestOptions(steps=2)
    with pytest.raises(TransferlabError, match="0 < start < end"):
        RangeTestOptions(start=1.0, end=0.1)
