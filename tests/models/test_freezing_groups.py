"""Parameter groups by stage, unfreezing and the BatchNorm policy (models/freezing.py).

Kept beside the trainer's tests because the trainer applies the BatchNorm policy each epoch.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from transferlab.backbones import create_backbone
from transferlab.engine.trainer import Trainer, TrainerOptions
from transferlab.errors import TransferlabError
from transferlab.models.freezing import apply_bn_policy, freeze_except, stage_groups, trainable_groups


def _backbone(name: str = "tiny_cnn"):
    torch.manual_seed(0)
    return create_backbone(name, "none", include_top=False, input_size=32)


def _bn_modes(backbone) -> dict[str, bool]:
    return {n: m.training for n, m in backbone.body.named_modules() if isinstance(m, nn.BatchNorm2d)}


@pytest.mark.parametrize(
    "name, first_groups",
    [("tiny_cnn", ["stem", "stage1", "stage2"]), ("efficientnet_lite0", ["blocks.0", "blocks.1"]),
     ("vgg16", ["features.3", "features.8"])],
)
def test_stage_groups_cover_every_parameter_exactly_once(name, first_groups):
    backbone = _backbone(name)
    groups = stage_groups(backbone)
    listed = [p for g in groups for p in g.param_names]
    assert sorted(listed) == sorted(n for n, _ in backbone.body.named_parameters())
    assert len(listed) == len(set(listed))
    assert [g.name for g in groups][: len(first_groups)] == first_groups
    assert all(g.param_names for g in groups)


def test_efficientnet_head_conv_is_its_own_top_group():
    groups = stage_groups(_backbone("efficientnet_lite0"))
    assert groups[-1].name == "top"
    assert all(p.startswith(("conv_head", "bn2")) for p in groups[-1].param_names)
    assert groups[0].param_names[0].startswith("conv_stem")  # the stem belongs to the first stage


def test_trainable_groups_by_count():
    backbone = _backbone()
    groups = stage_groups(backbone)
    assert trainable_groups(backbone, unfreeze=1) == [groups[-1]]
    assert [g.name for g in trainable_groups(backbone, unfreeze=2)] == ["stage1", "stage2"]
    assert trainable_groups(backbone, unfreeze=-1) == groups == trainable_groups(backbone, unfreeze=9)
    assert trainable_groups(backbone, unfreeze=0) == []


def test_unfreeze_from_a_named_layer_takes_every_later_parameter():
    backbone = _backbone()
    groups = trainable_groups(backbone, unfreeze_from="stage1.1")
    assert [g.name for g in groups] == ["stage1", "stage2"]
    assert groups[0].param_names == ("stage1.1.weight", "stage1.1.bias")
    freeze_except(backbone, groups)
    trainable = [n for n, p in backbone.body.named_parameters() if p.requires_grad]
    assert trainable == ["stage1.1.weight", "stage1.1.bias", "stage2.0.weight", "stage2.1.weight", "stage2.1.bias"]


def test_unknown_unfreeze_layer_lists_close_matches():
    with pytest.raises(TransferlabError) as info:
        trainable_groups(_backbone(), unfreeze_from="stage3")
    message = str(info.value)
    assert "stage3" in message and "did you mean" in message and "stage2" in message and "\n" not in message


def test_bn_policy_frozen_keeps_every_batchnorm_in_eval_after_train():
    backbone = _backbone()
    freeze_except(backbone, trainable_groups(backbone, unfreeze=1))
    backbone.train()
    assert all(_bn_modes(backbone).values())
    apply_bn_policy(backbone, "frozen")
    assert not any(_bn_modes(backbone).values())


def test_bn_policy_train_updates_only_unfrozen_batchnorms():
    backbone = _backbone()
    freeze_except(backbone, trainable_groups(backbone, unfreeze=1))
    backbone.train()
    apply_bn_policy(backbone, "train")
    assert _bn_modes(backbone) == {"stem.1": False, "stage1.1": False, "stage2.1": True}
    with pytest.raises(TransferlabError):
        apply_bn_policy(backbone, "thawed")


@pytest.mark.parametrize("policy, changes", [("frozen", False), ("train", True)])
def test_trainer_applies_the_bn_policy_each_epoch(policy, changes):
    backbone = _backbone()
    model = _Pooled(backbone)
    before = backbone.body.stage2[1].running_mean.clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), torch.device("cpu"),
                      options=TrainerOptions(bn_policy=policy))
    batch = (torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 0, 1]))
    trainer.fit(lambda epoch: [batch], [batch], epochs=1)
    assert (not torch.equal(before, backbone.body.stage2[1].running_mean)) == changes


class _Pooled(nn.Module):
    """Backbone -> pooled features -> a linear layer."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(32, 2)

    def forward(self, x):
        return self.head(self.backbone.features(x))
