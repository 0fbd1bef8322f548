"""Learning-rate multipliers at known steps: warm-up, cosine decay, step drops, one-cycle."""

from __future__ import annotations

import math

import pytest

from transferlab.engine.schedule import lr_multiplier
from transferlab.errors import TransferlabError


def test_cosine_warms_up_linearly_then_decays_to_one_percent():
    f = lr_multiplier("cosine", total_steps=100, warmup_steps=4)
    assert [f(s) for s in range(4)] == pytest.approx(
        [(s + 1) / 4 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * s / 100))) for s in range(4)]
    )
    assert f(0) == pytest.approx(0.25, abs=1e-6)
    assert f(50) == pytest.approx(0.505)
    assert f(100) == pytest.approx(0.01) and f(500) == pytest.approx(0.01)
    assert all(f(s) > f(s + 1) for s in range(3, 99))


def test_cosine_without_warmup_starts_at_full_rate():
    f = lr_multiplier("cosine", total_steps=10)
    assert f(0) == 1.0 and f(5) == pytest.approx(0.505)


def test_step_drops_tenfold_at_half_and_three_quarters():
    f = lr_multiplier("step", total_steps=100)
    assert [f(s) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_step_and_constant_respect_warmup():
    assert lr_multiplier("step", 100, warmup_steps=10)(4) == pytest.approx(0.5)
    constant = lr_multiplier("constant", 100, warmup_steps=2)
    assert [constant(s) for s in (0, 1, 2, 99)] == [0.5, 1.0, 1.0, 1.0]


def test_onecycle_rises_from_4_percent_to_peak_at_30_percent_then_anneals():
    f = lr_multiplier("onecycle", total_steps=100)
    assert f(0) == pytest.approx(0.04)
    assert f(15) == pytest.approx(0.52)
    assert f(30) == pytest.approx(1.0)
    assert f(65) == pytest.approx(1e-4 + (1 - 1e-4) * 0.5)
    assert f(100) == pytest.approx(1e-4)
    assert max(f(s) for s in range(100)) == pytest.approx(1.0)


def test_unknown_schedule_names_close_matches():
    with pytest.raises(TransferlabError, match="cosine"):
        lr_multiplier("cosin", 10)
