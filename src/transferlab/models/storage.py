"""Checksummed safetensors files: a model's weights, and any tensors (feature caches, training state).

safetensors loads without pickle but has no checksum of its own; these files carry one in
their metadata, so damage after writing is one clear error instead of silently wrong numbers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

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


def _key_mismatch(model: nn.Module, state: dict) -> tuple[list[str], list[str]]:
    expected = model.state_dict()
    return [k for k in expected if k not in state], [k for k in state if k not in expected]
