"""Helpers for the advise tests: a tiny CNN with "pretrained" weights from a file.

`advise` treats `weights="none"` as "nothing to transfer" and recommends training from scratch;
a weights file makes the whole measuring path run on the tiny network in a second.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from transferlab.backbones import create_backbone


def tiny_weights_file(path):
    """Random-but-fixed tiny_cnn weights saved as a file (the 'pretrained' network of the tests)."""
    torch.manual_seed(0)
    body = create_backbone("tiny_cnn", "none", include_top=True, input_size=32).body
    save_file({k: v.contiguous() for k, v in body.state_dict().items()}, str(path))
    return path


@pytest.fixture
def tiny_weights(tmp_path):
    return str(tiny_weights_file(tmp_path / "tiny.safetensors"))


@pytest.fixture
def slow_machine(monkeypatch):
    """A machine where every image costs a known, large time: budget decisions stop depending
    on how fast (or busy) the test machine happens to be."""
    from transferlab.advise import core, plan
    from transferlab.advise.cost import Throughput

    def fixed(backbone, images, decode_seconds, device="auto", batch=32):
        return Throughput("cpu", decode=0.002, augment=0.001, forward=0.004)

    monkeypatch.setattr(core, "measure_throughput", fixed)
    monkeypatch.setattr(plan, "measure_train_step", lambda *args, **kwargs: 10.0)
