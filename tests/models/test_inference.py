"""The OpenVINO engine gives torch's features, is exported once, and falls back to torch when it cannot."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from transferlab.backbones import create_backbone
from transferlab.errors import UnknownNameError
from transferlab.evaluation.predictions import predict_paths
from transferlab.models import inference as engine
from transferlab.models.inference import PooledTaps, frozen_forward
from transferlab.features.extract import ExtractionOptions, extract_features, extract_layer_features

CPU = torch.device("cpu")


def _backbone(name: str = "tiny_cnn", weights: str = "none"):
    torch.manual_seed(0)
    return create_backbone(name, weights, include_top=False, input_size=None if weights != "none" else 32)


def _images(count: int = 9, side: int = 40) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randint(0, 255, (3, side, side + 3 * i), dtype=torch.uint8, generator=generator)
            for i in range(count)]


def _exported() -> list[Path]:
    return list((Path(os.environ["TRANSFERLAB_CACHE"]) / "openvino").glob("*.xml"))


def test_openvino_features_equal_torch_at_the_end_and_at_inner_taps(caplog):
    backbone, images = _backbone(), _images()
    for layers in ((None,), ("stage1", None), ("stem", "stage2")):
        with caplog.at_level(logging.INFO, logger="transferlab.features.extract"):
            ours = extract_layer_features(backbone, images, layers, options=_options("openvino"))
        assert "openvino-fp32" in caplog.text  # it ran, it did not fall back
        caplog.clear()
        theirs = extract_layer_features(backbone, images, layers, options=_options("torch"))
        for a, b in zip(ours, theirs):
            assert a.shape == b.shape and a.shape[0] == len(images)
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert len(_exported()) == 3  # one exported network per set of taps


def _options(name: str) -> ExtractionOptions:
    return ExtractionOptions(batch_size=4, device="cpu", precision="fp32", engine=name)


def _on_cpu(engine: str, **options) -> ExtractionOptions:
    return ExtractionOptions(device="cpu", engine=engine, **options)


def test_the_exported_network_is_reused_not_exported_again(monkeypatch, caplog):
    backbone, images = _backbone(), _images(3)
    first = extract_features(backbone, images, options=_on_cpu("openvino"))
    monkeypatch.setattr(engine, "_export", lambda *args: pytest.fail("exported twice"))
    again = extract_features(backbone, images, options=_on_cpu("openvino"))
    np.testing.assert_array_equal(first, again)
    # "auto" uses an exported network even for few images; a network never exported stays in torch
    with caplog.at_level(logging.INFO, logger="transferlab.features.extract"):
        extract_features(backbone, images, options=_on_cpu("auto"))
        assert "openvino-fp32" in caplog.text
        caplog.clear()
        other = _backbone()
        torch.nn.init.constant_(next(other.parameters()), 0.5)
        extract_features(other, images, options=_on_cpu("auto"))
        assert "openvino" not in caplog.text and "torch" in caplog.text


@pytest.mark.parametrize("failure", ["export", "mismatch", "missing"])
def test_a_failing_engine_falls_back_to_torch_with_one_line(monkeypatch, caplog, failure):
    backbone, images = _backbone(), _images(5)
    expected = extract_features(backbone, images, options=_on_cpu("torch"))
    if failure == "export":
        monkeypatch.setattr(engine, "_export", lambda *args: (_ for _ in ()).throw(RuntimeError("no export")))
    elif failure == "mismatch":
        real = engine._run
        monkeypatch.setattr(engine, "_run", lambda request, x: tuple(t + 1.0 for t in real(request, x)))
    else:
        monkeypatch.setitem(__import__("sys").modules, "openvino", None)  # import fails
    with caplog.at_level(logging.INFO, logger="transferlab.models.inference"):
        got = extract_features(backbone, images, options=_on_cpu("openvino"))
    np.testing.assert_array_equal(got, expected)
    lines = [r.getMessage() for r in caplog.records if "torch runs the frozen network" in r.getMessage()]
    assert len(lines) == 1, caplog.text
    assert {"export": "no export", "mismatch": "does not reproduce", "missing": "not installed"}[failure] in lines[0]


def test_bf16_is_used_only_where_it_holds(monkeypatch):
    network = PooledTaps(_backbone(), (None,))
    monkeypatch.setattr(engine, "_holds_in_bf16", lambda got, expected: False)
    assert frozen_forward(network, 32, CPU, "openvino", "bf16")[1] == "openvino-fp32"


def test_engine_names_are_checked():
    with pytest.raises(UnknownNameError, match="openvino"):
        ExtractionOptions(engine="openvin")
    with pytest.raises(UnknownNameError):
        frozen_forward(PooledTaps(_backbone(), (None,)), 32, CPU, "fast")


def test_prediction_through_openvino_equals_torch(image_folder):
    from transferlab.models.classifier import Classifier
    from transferlab.models.heads import Head

    torch.manual_seed(0)
    base = _backbone()
    classifier = Classifier(base, Head(base.feature_dim, 2))
    paths = sorted(str(p) for p in image_folder.rglob("*.png"))[:6]
    pre = classifier.backbone.preprocessing
    theirs, _, _ = predict_paths(classifier, paths, pre, device="cpu", engine="torch")
    ours, kept, _ = predict_paths(classifier, paths, pre, device="cpu", engine="openvino")
    assert list(kept) == paths
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_packaged_lite0_runs_through_openvino_with_torch_features(caplog):
    backbone = _backbone("efficientnet_lite0", "imagenet")
    images = _images(4, side=256)
    with caplog.at_level(logging.INFO, logger="transferlab.features.extract"):
        ours = extract_features(backbone, images, options=_on_cpu("openvino", precision="fp32"))
    assert "openvino-fp32" in caplog.text
    theirs = extract_features(backbone, images, options=_on_cpu("torch", precision="fp32"))
    assert ours.shape == (4, 1280)
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)
