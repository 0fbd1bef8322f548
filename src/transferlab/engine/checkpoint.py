"""Save and restore model weights and full training state without pickle (safetensors + JSON)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import TransferlabError
from ..paths import atomic_path


def save_weights(model: nn.Module, path: Path, metadata: dict[str, str] | None = None) -> None:
    """`model.state_dict()` as safetensors, written atomically."""
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_weights(model: nn.Module, path: Path) -> None:
    """Strictly load safetensors weights into `model`; a bad file is one clear error."""
    try:
        state = load_file(str(path))
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
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"json": json.dumps(meta)})


def load_training_state(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Restore what `save_training_state` wrote; return the trainer's `state` dict."""
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads(handle.metadata()["json"])
    except Exception as exc:
        raise TransferlabError(f"{path}: checkpoint is unreadable ({exc}); start again without --resume") from None
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    opt_state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, index, name = key.split(".", 2)
            opt_state.setdefault(int(index), {})[name] = value
    for index, values in meta["opt_scalars"].items():
        opt_state.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": opt_state, "param_groups": meta["param_groups"]})
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
