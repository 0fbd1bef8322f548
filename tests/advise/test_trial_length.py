"""How long a fine-tuning trial runs: whole epochs, or one more on a share of train each."""

from __future__ import annotations

from types import SimpleNamespace

from conftest import fixed_now

from transferlab.advise.budget import Clock
from transferlab.advise.cost import Throughput
from transferlab.advise.plan import FinetuneCost, _trial_epochs

# training costs 0.01 s an image, nothing else costs: an epoch of the trial's 800 images takes 8 s
COST = FinetuneCost(Throughput("cpu", decode=0.0, augment=0.0, forward=0.0, train=0.01), 1.0, 0.0)
SWEEP = SimpleNamespace(samples=1000, folds=5)  # its first held-out fold: 200 of the 1,000 training images


def _session(budget: float | None):
    splits = SimpleNamespace(val=[None] * 100)
    return SimpleNamespace(train=[None] * 1000, splits=splits, clock=Clock(budget, fixed_now),
                           held_out_seconds=lambda machine=None: 0.0, evaluation_seconds=lambda machine=None: 0.0)


def test_a_budget_that_cuts_the_epochs_short_gets_one_more_on_a_share_of_train():
    length, seconds, _ = _trial_epochs(_session(20.0), {}, SWEEP, 0.0, COST)  # 2 whole epochs fit (16 s), 3 do not
    assert length == {"epochs": 3, "epoch_images": 633}  # 3 x 633 images fill 95 % of 20 s
    assert 18.9 < seconds <= 19.0


def test_one_more_epoch_only_where_it_trains_on_a_tenth_more_images():
    length, seconds, _ = _trial_epochs(_session(17.5), {}, SWEEP, 0.0, COST)  # 3 x 554 is under 1.1 x 2 x 800
    assert length == {"epochs": 2} and seconds == 16.0


def test_whole_epochs_where_the_budget_does_not_cut_them():
    assert _trial_epochs(_session(None), {}, SWEEP, 0.0, COST)[0] == {"epochs": 5}  # no budget: finetune's default
    assert _trial_epochs(_session(1000.0), {}, SWEEP, 0.0, COST)[0] == {"epochs": 15}  # the most a trial runs
    assert _trial_epochs(_session(10.0), {}, SWEEP, 0.0, COST)[0] is None  # not even 2 epochs fit


def test_a_trial_planned_past_the_fallback_only_where_the_fewest_epochs_fit_before_it():
    # 2 epochs (16 s) fit before a 30 s fallback in a 50 s budget; 5 (40 s) fit before scoring (10 s)
    assert _trial_epochs(_session(50.0), {}, SWEEP, 30.0, COST, 10.0)[0] == {"epochs": 5}
    assert _trial_epochs(_session(50.0), {}, SWEEP, 30.0, COST)[0] == {"epochs": 2}  # no later deadline: 20 s left
    assert _trial_epochs(_session(40.0), {}, SWEEP, 30.0, COST, 10.0)[0] is None  # 16 s do not fit before 30 s
