"""Save and restore model weights and full training state without pickle (safetensors + JSON)."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from ..errors import TransferlabError
from ..paths import atomic_path

DIGEST_KEY = "transferlab.sha256"  # metadata entry: checksum of every tensor and metadata value
_SAFETENSORS_DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}


class CorruptFileError(ValueError):
    """A safetensors file whose content no longer matches the checksum written with it."""


def content_digest(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> str:
    """sha256 over the names, dtypes, shapes and bytes of `tensors` and the other metadata entries.

    safetensors has no checksum of its own: a flipped byte inside tensor data still loads.
    """
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(json.dumps([name, str(tensor.dtype), list(tensor.shape)]).encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())  # raw bytes, whatever the dtype
    others = {k: v for k, v in (metadata or {}).items() if k != DIGEST_KEY}
    digest.update(json.dumps(others, sort_keys=True).encode())
    return digest.hexdigest()


def save_checked(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write `tensors` as safetensors atomically, with their checksum in the metadata.

    The file is written tensor by tensor from the tensors' own memory (safetensors' `save`
    builds the whole file in memory first: for a cache of 20,000 feature vectors that copy
    was the largest allocation of the run), with the header's entries in sorted order so the
    same content always gives the same bytes. Read back with safetensors' own loader.
    """
    metadata = {**(metadata or {}), DIGEST_KEY: content_digest(tensors, metadata)}
    header: dict = {"__metadata__": dict(sorted(metadata.items()))}
    ordered, offset = [], 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        size = tensor.numel() * tensor.element_size()
        header[name] = {"dtype": _SAFETENSORS_DTYPES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + size]}
        ordered.append(tensor)
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(len(text).to_bytes(8, "little") + text)
        for tensor in ordered:
            handle.write(tensor.reshape(-1).view(torch.uint8).numpy())  # raw bytes, no copy


def load_checked(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file, verified against its checksum when it has one.

    Raises:
        CorruptFileError: the content does not match the checksum saved with it.
        Exception: whatever safetensors raises for a missing, truncated or garbled file.
    """
    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    expected = metadata.get(DIGEST_KEY)
    if expected is not None and expected != content_digest(tensors, metadata):
        raise CorruptFileError("content does not match its checksum, the file was damaged after writing")
    return tensors, metadata


def save_weights(model: nn.Module, path: Path, metadata: dict[str, str] | None = None) -> None:
    """`model.state_dict()` as safetensors with a checksum, written atomically."""
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    save_checked(tensors, path, metadata)


def load_weights(model: nn.Module, path: Path) -> None:
    """Strictly load safetensors weights into `model`; a bad or damaged file is one clear error."""
    try:
        state, _ = load_checked(path)
    except Exception as exc:
        raise TransferlabError(f"{path}: cannot read model weights ({exc}); retrain or restore the file") from None
    missing, unexpected = _key_mismatch(model, state)
    if missing or unexpected:
        raise TransferlabError(
            f"{path}: weights belong to another model ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"e.g. {(missing + unexpected)[:2]}); check --backbone/--model match the checkpoint"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1].strip()
        raise TransferlabError(f"{path}: weights do not fit this model ({first})") from None


def save_training_state(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Model, optimizer, RNG states and the trainer's `state` dict in one safetensors file."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    scalars: dict[str, dict] = {}
    for index, values in opt["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt.{index}.{name}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(index), {})[name] = value
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {
        "param_groups": opt["param_groups"],
        "opt_scalars": scalars,
        "state": state,
        "rng_numpy": _numpy_rng_state(),
        "rng_python": _python_rng_state(),
    }
    save_checked(tensors, path, {"json": json.dumps(meta)})


def load_training_state(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Restore what `save_training_state` wrote; return the trainer's `state` dict."""
    try:
        tensors, metadata = load_checked(path)
        meta = json.loads(metadata["json"])
    except Exception as exc:
        raise TransferlabError(
            f"{path}: checkpoint is unreadable ({exc}); delete it and rerun with --resume to train this run "
            f"again from the start"
        ) from None
    opt_state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, index, name = key.split(".", 2)
            opt_state.setdefault(int(index), {})[name] = value
    for index, values in meta["opt_scalars"].items():
        opt_state.setdefault(int(index), {}).update(values)
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
        optimizer.load_state_dict({"state": opt_state, "param_groups": meta["param_groups"]})
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TransferlabError(f"{path}: checkpoint does not fit this run ({first}); resume with the options "
                               f"it was made with, or use another --out") from None
    torch.set_rng_state(tensors["rng.torch"])
    np.random.set_state(tuple(meta["rng_numpy"][:1]) + (np.array(meta["rng_numpy"][1], dtype=np.uint32),) + tuple(meta["rng_numpy"][2:]))
    random.setstate((meta["rng_python"][0], tuple(meta["rng_python"][1]), meta["rng_python"][2]))
    return meta["state"]


def _numpy_rng_state() -> list:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _python_rng_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _key_mismatch(model: nn.Module, state: dict) -> tuple[list[str], list[str]]:
    expected = model.state_dict()
    return [k for k in expected if k not in state], [k for k in state if k not in expected]
