"""Hermetic tests: caches in tmp_path, offline mode, tiny image folders made on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file


@pytest.fixture(autouse=True)
def _hermetic(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TRANSFERLAB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))


def write_image(path: Path, colour: tuple[int, int, int], size: int = 24, seed: int = 0) -> Path:
    """A small noisy image dominated by `colour`."""
    rng = np.random.default_rng(seed)
    array = np.clip(np.array(colour)[None, None, :] + rng.normal(0, 20, (size, size, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """root/<class>/*.png with two easily separable classes (red vs blue), 12 images each."""
    root = tmp_path / "folder"
    for label, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        for i in range(12):
            write_image(root / label / f"{label}_{i}.png", colour, seed=i)
    return root


@pytest.fixture
def split_folder(tmp_path) -> Path:
    """root/{train,val}/<class>/*.png with three colour classes."""
    root = tmp_path / "splits"
    colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
    for split, count in (("train", 10), ("val", 4)):
        for label, colour in colours.items():
            for i in range(count):
                write_image(root / split / label / f"{i}.png", colour, seed=(0 if split == "train" else 100) + i)  # str hash varies per process
    return root


def fixed_now() -> float:
    """A clock that never moves: budget decisions then follow the cost model alone, on any machine."""
    return 0.0


def tiny_weights_file(path: Path) -> Path:
    """Random-but-fixed tiny_cnn weights saved as a file (the 'pretrained' network of the tests)."""
    from transferlab.backbones import create_backbone

    torch.manual_seed(0)
    body = create_backbone("tiny_cnn", "none", include_top=True, input_size=32).body
    save_file({k: v.contiguous() for k, v in body.state_dict().items()}, str(path))
    return path


@pytest.fixture
def tiny_weights(tmp_path) -> str:
    """`advise` treats weights "none" as nothing to transfer; a weights file makes the whole
    measuring path run on the tiny network in a second."""
    return str(tiny_weights_file(tmp_path / "tiny.safetensors"))
