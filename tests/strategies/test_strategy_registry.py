"""The strategy registry agrees with the names the config accepts and with the runners."""

from __future__ import annotations

from transferlab.config import STRATEGIES as NAMES
from transferlab.config import TrainConfig
from transferlab.strategies import STRATEGIES, STRATEGY_RUNNERS
from transferlab.strategies.registry import FROZEN_BASE


def test_every_name_has_a_strategy_and_a_runner():
    assert tuple(STRATEGIES) == NAMES and tuple(STRATEGY_RUNNERS) == NAMES
    assert FROZEN_BASE == ("linear", "features", "features-aug")


def test_settings_are_config_fields():
    fields = set(TrainConfig.__dataclass_fields__)
    for strategy in STRATEGIES.values():
        assert set(strategy.settings) <= fields, strategy.name
