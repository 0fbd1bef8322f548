"""Keras-style summaries: exact parameter counts, shapes, frozen parameters, depth."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from transferlab import TransferlabError, create_backbone
from transferlab.models.summary import ModelSummary, model_summary


def test_single_conv_counts_and_shape():
    summary = model_summary(nn.Sequential(nn.Conv2d(3, 64, 3)), input_size=32)
    assert summary.total_params == summary.trainable_params == 1_792
    assert summary.non_trainable_params == 0
    (row,) = summary.rows
    assert (row.name, row.layer_type, row.output_shape, row.params, row.trainable) == (
        "0", "Conv2d", (None, 64, 30, 30), 1_792, "Y"
    )
    text = summary.to_text()
    assert "0 (Conv2d)" in text and "(None, 64, 30, 30)" in text and "1,792" in text
    assert "Total params: 1,792" in text and "Non-trainable params: 0" in text


def test_vgg16_conv_base_has_keras_count():
    with torch.device("meta"):  # same counts and shapes, no 4 s random init
        model = create_backbone("vgg16", weights="none", include_top=False)
    summary = model_summary(model, input_size=224)
    assert summary.total_params == 14_714_688
    assert sum(row.params for row in summary.rows) == 14_714_688
    first = summary.rows[1]
    assert (first.name, first.output_shape, first.params) == ("features.0", (None, 64, 224, 224), 1_792)
    assert summary.rows[-1].output_shape == (None, 512, 7, 7)
    assert "Total params: 14,714,688" in summary.to_text()


def test_frozen_parameters_are_non_trainable():
    model = create_backbone("tiny_cnn", weights="none")
    stem = sum(p.numel() for p in model.body.stem.parameters())
    for param in model.body.stem.parameters():
        param.requires_grad_(False)
    model.body.stage1[0].weight.requires_grad_(False)  # stage1 becomes partially frozen
    summary = model_summary(model, input_size=32, depth=1)
    frozen = stem + model.body.stage1[0].weight.numel()
    assert summary.non_trainable_params == frozen
    assert summary.trainable_params == summary.total_params - frozen == 39_088 - frozen
    flags = {row.name: row.trainable for row in summary.rows}
    assert flags == {"stem": "N", "stage1": "partial", "stage2": "Y", "head": "Y"}


def test_train_eval_flags_survive():
    model = create_backbone("tiny_cnn", weights="none").train()
    model.body.stem[1].eval()  # a frozen BatchNorm inside a model in training
    model_summary(model, input_size=32)
    assert model.training and model.body.stage1[1].training
    assert not model.body.stem[1].training


def test_depth_and_names_follow_the_backbone():
    model = create_backbone("tiny_cnn", weights="none")
    shallow = model_summary(model, input_size=32, depth=1)
    full = model_summary(model, input_size=32, depth=None)
    assert [r.name for r in shallow.rows] == ["stem", "stage1", "stage2", "head"]
    assert len(full.rows) > len(shallow.rows)
    assert {r.name for r in full.rows} <= set(model.layer_names())
    assert sum(r.params for r in shallow.rows) == sum(r.params for r in full.rows) == shallow.total_params
    with pytest.raises(TransferlabError, match="depth"):
        model_summary(model, input_size=32, depth=0)


def test_unused_parameters_are_reported():
    class WithSpare(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.spare = nn.Linear(10, 10)  # never called

        def forward(self, x):
            return self.conv(x)

    summary = model_summary(WithSpare(), input_size=8)
    assert summary.total_params == 16 + 110 and summary.unused_params == 110
    assert "Unused params" in summary.to_text()


def test_input_too_small_is_a_user_error():
    with pytest.raises(TransferlabError, match="cannot run the model"):
        model_summary(nn.Sequential(nn.Conv2d(3, 8, 5)), input_size=3)


def test_to_dict_is_json_ready():
    summary = model_summary(create_backbone("tiny_cnn", weights="none"), input_size=32)
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["total_params"] == 39_088 and data["input_shape"] == [None, 3, 32, 32]
    rows = {row["name"]: row for row in data["rows"]}
    assert rows["stem"]["trainable"] == "" and rows["stem"]["params"] == 0  # a container
    assert rows["stem.0"]["trainable"] == "Y" and rows["stem.0"]["output_shape"] == [None, 8, 16, 16]
    assert isinstance(summary, ModelSummary)
