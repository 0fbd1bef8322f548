"""Helpers for the advise tests: a machine whose costs are fixed numbers."""

from __future__ import annotations

import pytest


@pytest.fixture
def slow_machine(monkeypatch):
    """A machine where every image costs a known time. With the fixed clock of the tests
    (`conftest.fixed_now`), budget decisions depend on these numbers alone, not on how fast (or
    busy) the test machine happens to be. Call the fixture's value to change the costs."""
    from transferlab.advise import core, plan
    from transferlab.advise.cost import Throughput

    def set_costs(decode=0.002, augment=0.001, forward=0.004, train_step=10.0):
        def fixed(backbone, images, decode_seconds, options=None, batch=32):
            return Throughput("cpu", decode=decode, augment=augment, forward=forward)

        monkeypatch.setattr(core, "measure_throughput", fixed)
        monkeypatch.setattr(plan, "measure_train_step", lambda *args, **kwargs: train_step)

    set_costs()
    return set_costs
