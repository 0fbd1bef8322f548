"""`seeded`: the global generator starts from the seed inside the block and is restored after it."""

from __future__ import annotations

import torch

from transferlab.engine.seeding import seeded


def test_the_block_is_reproducible_and_the_caller_stream_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with seeded(5):
        first = torch.rand(4)
    with seeded(5):
        again = torch.rand(4)
    assert torch.equal(first, again)
    assert torch.equal(torch.rand(3), expected)  # as if the blocks never ran
