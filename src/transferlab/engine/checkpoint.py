"""Save and restore the full training state without pickle (safetensors + JSON).

Model weights alone are saved and loaded by `models.storage`, the checksummed files this builds on.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import TransferlabError
from ..models.storage import load_checked, save_checked


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
