"""The range test on a fine-tuning start: `find_lr`, and `finetune` with `lr_find` training at its suggestion."""

from __future__ import annotations

import math

import pytest
import torch

from transferlab.config import TrainConfig
from transferlab.data import load_splits
from transferlab.engine.seeding import seeded
from transferlab.errors import TransferlabError
from transferlab.strategies import train
from transferlab.strategies.common import RunContext
from transferlab.strategies.endtoend import Phase, range_test_on_images
from transferlab.strategies.finetune import prepare_finetune
from transferlab.strategies.lr_find import find_lr


def _config(data, **changes) -> TrainConfig:
    options = {"backbone": "tiny_cnn", "weights": "none", "input_size": 32, "device": "cpu", "batch_size": 8,
               "strategy": "finetune", "epochs": 1}
    return TrainConfig(data=str(data), **{**options, **changes})


def test_find_lr_suggests_a_rate_for_every_group_in_its_ratio(split_folder, tmp_path):
    report = find_lr(_config(split_folder, unfreeze=2), tmp_path)  # lr_mult: the default
    assert math.isfinite(report.result.suggestion) and 1e-7 <= report.result.suggestion <= 10
    rates = list(report.group_lrs.values())
    assert list(report.group_lrs)[0] == "head" and len(rates) == 3
    assert rates[1] / rates[0] == pytest.approx(0.5) and rates[2] / rates[1] == pytest.approx(0.5)
    assert find_lr(_config(split_folder, unfreeze=2), tmp_path).result == report.result  # seeded


def test_range_test_leaves_the_fine_tuning_start_as_it_was(split_folder, tmp_path):
    config = _config(split_folder, unfreeze=-1, bn_policy="train")
    ctx = RunContext(config, tmp_path, load_splits(config.data), torch.device("cpu"))
    with seeded(0):
        start = prepare_finetune(ctx)
    before = {k: v.clone() for k, v in start.classifier.state_dict().items()}
    rates = [g["lr"] for g in start.param_groups]
    range_test_on_images(ctx, start.classifier, start.param_groups, start.train, Phase("t", 1, "light", "train"))
    after = start.classifier.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [g["lr"] for g in start.param_groups] == rates


def test_finetune_with_lr_find_trains_at_the_suggestion(split_folder, tmp_path):
    result = train(_config(split_folder, lr_find=True, unfreeze=1, lr_mult=0.5), tmp_path / "run")
    details = result.summary["details"]
    assert details["lr_rule"] == "minimum / 10" and 1e-7 <= details["lr_found"] <= 10
    rates = list(details["group_lrs"].values())
    assert rates[0] == pytest.approx(details["lr_found"]) and rates[1] == pytest.approx(details["lr_found"] / 2)


@pytest.mark.parametrize("changes", [{"lr": 1e-3}, {"strategy": "features"}])
def test_lr_find_needs_finetune_and_no_lr(changes):
    with pytest.raises(TransferlabError, match="lr_find needs --strategy finetune and no --lr"):
        TrainConfig(data="x", lr_find=True, **{"strategy": "finetune", **changes})
