"""Batches of an epoch: all items, or a fresh share of them each epoch."""

from __future__ import annotations

from transferlab.engine.batches import GlobalBatches
from transferlab.engine.distributed import World


def _items(batches) -> list[int]:
    return [item for batch in batches for item in batch]


def test_an_epoch_of_every_item_drops_only_a_last_partial_batch():
    epoch = list(GlobalBatches(21, 4, seed=3, shuffle=True, world=World()))
    assert len(epoch) == 5 and all(len(batch) == 4 for batch in epoch)
    assert len(set(_items(epoch))) == 20


def test_an_epoch_on_a_share_takes_a_fresh_draw_each_epoch():
    first = GlobalBatches(100, 8, seed=1, shuffle=True, world=World(), take=50)
    second = GlobalBatches(100, 8, seed=2, shuffle=True, world=World(), take=50)
    assert len(first) == 6 and len(list(first)) == 6  # 50 items: 6 whole batches of 8
    drawn, again = set(_items(first)), set(_items(second))
    assert len(drawn) == 48 and drawn != again and drawn <= set(range(100))
    assert _items(GlobalBatches(100, 8, seed=1, shuffle=True, world=World(), take=50)) == _items(first)  # resumable


def test_evaluation_batches_ignore_the_share():
    assert _items(GlobalBatches(10, 4, seed=0, shuffle=False, world=World(), take=5)) == list(range(10))
