"""Budgets: durations people write, and the clock that spends them."""

from __future__ import annotations

import pytest

from transferlab.advise.budget import Clock, format_seconds, parse_budget
from transferlab.errors import TransferlabError


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("90", 90), ("10m", 600), ("1h", 3600), ("1.5h", 5400),
                                           ("1h30m", 5400), (" 2m 30s ", 150), ("10M", 600), (45, 45.0)])
def test_parse_budget(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "10x", "m10", "0", "0s", "-5m", "1h-5m", "30 10m"])
def test_parse_budget_rejects_what_is_not_a_positive_duration(text):
    with pytest.raises(TransferlabError, match="budget"):
        parse_budget(text)


def test_format_seconds():
    assert format_seconds(42.4) == "42 s"
    assert format_seconds(200) == "3 min 20 s"
    assert format_seconds(3900) == "1 h 05 min"
    assert format_seconds(-1) == "0 s"


def test_clock_without_budget_fits_anything_and_with_one_counts_down():
    assert Clock(None).fits(1e12) and Clock(None).left() == float("inf")
    clock = Clock(100.0)
    assert clock.fits(50) and not clock.fits(150) and not clock.fits(60, share=0.5)
    clock.give_up("fine-tuning (budget)")
    assert clock.to_dict() == {"seconds": 100.0, "given_up": ["fine-tuning (budget)"]}


def test_fine_tuning_costs_every_training_image_each_epoch():
    from transferlab.advise.cost import Throughput

    machine = Throughput("cpu", decode=0.001, augment=0.002, forward=0.01, train=0.03)
    # decoding 120 images once, then 5 epochs of 100 training steps and 20 validation passes
    assert machine.finetune(100, 20, 5, 1.0) == pytest.approx(0.12 + 5 * (100 * 0.032 + 20 * 0.01))
    # half the network trainable: the forward pass plus half of the rest
    assert machine.finetune(100, 20, 5, 0.5) == pytest.approx(0.12 + 5 * (100 * 0.022 + 20 * 0.01))
    # a frozen prefix of 75 % of the FLOPs runs once per view (4 views of the 100 training
    # images, the 20 validation ones once); each epoch pays the remaining quarter of the forward
    # and of the backward pass (by FLOPs, whatever share of the parameters trains)
    once = 0.12 + 4 * 100 * (0.002 + 0.0075) + 20 * 0.0075
    assert machine.finetune(100, 20, 5, 0.5, prefix_share=0.75) == pytest.approx(
        once + 5 * (100 * (0.0025 + 0.005) + 20 * 0.0025))


def test_the_plan_prices_the_frozen_prefix_only_where_fine_tuning_leaves_one(tiny_weights):
    from types import SimpleNamespace

    from transferlab.advise.plan import _prefix_share, _trainable_names
    from transferlab.backbones import BackboneChoice

    base = BackboneChoice("tiny_cnn", tiny_weights).create()
    session = SimpleNamespace(base=base)
    flags = [p.requires_grad for p in base.parameters()]
    top, everything = ({"unfreeze": n, "unfreeze_from": None} for n in (1, -1))
    assert 0.0 < _prefix_share(session, _trainable_names(session, top)) < 1.0
    assert _prefix_share(session, _trainable_names(session, everything)) == 0.0  # the whole network trains
    assert [p.requires_grad for p in base.parameters()] == flags  # the session's network is left as it was


def test_the_forward_pass_is_priced_by_what_each_batch_beyond_the_first_adds():
    from transferlab.advise.cost import _marginal

    # one batch of 32 in 0.135 s, 96 images in 0.295 s: a fixed 0.055 s per pass, then 2.5 ms an image
    assert _marginal(0.135, 0.295, 32, 96) == pytest.approx(0.0025)
    # noise that shrinks the difference: no less than half the longer timing's average
    assert _marginal(0.135, 0.140, 32, 96) == pytest.approx(0.140 / 96 / 2)
