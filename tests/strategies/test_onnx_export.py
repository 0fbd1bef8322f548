"""ONNX export of a trained run: same logits in onnxruntime, class names and preprocessing in metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from transferlab.config import TrainConfig
from transferlab.errors import TransferlabError
from transferlab.models.artifacts import load_model
from transferlab.strategies import train
from transferlab.strategies.export import export_onnx

ort = pytest.importorskip("onnxruntime")


# export.py picks the TorchScript exporter on purpose (dynamo=False); its deprecation notice is noise here.
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")]  # scratch nets check shapes


def _run(data, out, **changes):
    options = {"strategy": "features", "backbone": "tiny_cnn", "weights": "none", "input_size": 32, "epochs": 2,
               "device": "cpu", **changes}
    return train(TrainConfig(data=str(data), **options), out).out


@pytest.mark.parametrize("strategy_options", [{}, {"strategy": "scratch", "model": "conv8-pool-flatten-dense16"}])
def test_onnx_logits_match_pytorch(split_folder, tmp_path, strategy_options):
    run_dir = _run(split_folder, tmp_path / "run", **strategy_options)
    out = export_onnx(run_dir, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    inputs = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    (logits,) = session.run(["logits"], {"image": inputs.numpy()})  # batch 5: the batch axis is dynamic
    with torch.no_grad():
        expected = load_model(run_dir).classifier(inputs).numpy()
    assert logits.shape == (5, 3)
    np.testing.assert_allclose(logits, expected, atol=1e-4)


def test_onnx_metadata_has_classes_and_preprocessing(split_folder, tmp_path):
    out = export_onnx(_run(split_folder, tmp_path / "run"), tmp_path / "model.onnx")
    meta = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == ["blue", "green", "red"]
    pre = json.loads(meta["preprocessing"])
    assert pre["input_size"] == 32 and pre["resize_size"] == 32 and pre["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert meta["backbone"] == "tiny_cnn" and meta["strategy"] == "features"


def test_onnx_export_refuses_an_inner_layer_model(split_folder, tmp_path):
    run_dir = _run(split_folder, tmp_path / "run", layer="stage1")
    with pytest.raises(TransferlabError, match="inner layer"):
        export_onnx(run_dir, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()
