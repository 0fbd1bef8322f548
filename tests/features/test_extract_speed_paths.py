"""The fast extraction paths give the same features as the plain per-image path.

Batched eval crop/normalise, the prefetching thread, padding for compiled shapes, precision
choice and the explicit `ExtractionOptions`; augmented views stay reproducible.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from transferlab.backbones import create_backbone
from transferlab.backbones.preprocessing import Preprocessing
from transferlab.data import eval_transform
from transferlab.data.augment import train_transform
from transferlab.data.transforms import eval_batch
from transferlab.errors import UnknownNameError
from transferlab.features import extract
from transferlab.features.extract import ExtractionOptions, compute_dtype, extract_features


def _backbone():
    torch.manual_seed(0)
    return create_backbone("tiny_cnn", "none", include_top=False, input_size=32)


def _images(count: int = 11) -> list[torch.Tensor]:
    """Noisy images at the working size (36 px shorter side), various aspect ratios, each with a
    bright block somewhere: pooled features of pure noise would barely depend on the crop."""
    generator = torch.Generator().manual_seed(1)
    images = []
    for i in range(count):
        image = torch.randint(0, 120, (3, 36, 36 + 7 * i), dtype=torch.uint8, generator=generator)
        image[i % 3, 4 : 16 + i, 2 * i : 2 * i + 14] = 250
        images.append(image)
    return images


CPU = ExtractionOptions(batch_size=4, device="cpu", precision="fp32")


def _cpu(transform=None, **options) -> np.ndarray:
    return extract_features(_backbone(), _images(), options=replace(CPU, **options), transform=transform)


def test_eval_batch_equals_the_per_image_transform():
    for pre in (Preprocessing(32, 0.875, "bicubic"), Preprocessing(32, mean=(0.5,), std=(0.5,))):
        images = _images(3) + [torch.randint(0, 256, (3, 9, 13), dtype=torch.uint8)]  # one needs resizing
        expected = torch.stack([eval_transform(pre)(img) for img in images])
        assert torch.equal(eval_batch(images, pre), expected)


def test_batched_prefetched_path_equals_per_image_transforms():
    fast = _cpu()
    plain = _cpu(transform=eval_transform(_backbone().preprocessing))
    assert fast.shape == (11, 32) and fast.dtype == np.float32
    np.testing.assert_array_equal(fast, plain)
    single = extract_features(_backbone(), _images(), options=replace(CPU, batch_size=64))
    np.testing.assert_allclose(fast, single, rtol=1e-5, atol=1e-6)  # batch size changes nothing


def test_augmented_views_are_reproducible_through_the_prefetch_thread():
    def view(seed: int) -> np.ndarray:
        backbone = _backbone()  # seeds torch itself: build it before seeding the view
        torch.manual_seed(seed)
        return extract_features(backbone, _images(), options=CPU,
                                transform=train_transform(backbone.preprocessing, "heavy"))

    np.testing.assert_array_equal(view(3), view(3))
    assert not np.allclose(view(3), view(4))


def test_compiled_path_pads_to_one_shape(monkeypatch):
    shapes = []

    def fake_compile(fn, **kwargs):  # stands in for torch.compile: records the shapes it is fed
        assert kwargs.get("dynamic") is False

        def run(x):
            shapes.append(tuple(x.shape))
            return fn(x)

        return run

    monkeypatch.setattr(torch, "compile", fake_compile)
    compiled = _cpu(compile=True)
    assert set(shapes) == {(4, 3, 32, 32)}  # 11 images in batches of 4: the last one padded
    np.testing.assert_allclose(compiled, _cpu(compile=False), rtol=1e-5, atol=1e-6)


def test_compile_is_automatic_only_for_large_extractions(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: calls.append(1) or fn)
    _cpu()
    assert not calls
    monkeypatch.setattr(extract, "COMPILE_MIN_IMAGES", 10)
    _cpu()
    assert calls == [1]
    _cpu(compile=False)
    assert calls == [1]
    # an inner layer is tapped with hooks: never compiled
    extract_features(_backbone(), _images(), layer="stage1", options=ExtractionOptions(device="cpu", compile=True))
    assert calls == [1]


def test_bf16_features_are_close_to_fp32():
    fp32 = _cpu()
    bf16 = _cpu(precision="bf16")
    assert bf16.dtype == np.float32
    cosine = (fp32 * bf16).sum(1) / (np.linalg.norm(fp32, axis=1) * np.linalg.norm(bf16, axis=1))
    assert cosine.min() > 0.999
    assert not np.array_equal(fp32, bf16)  # it really ran in bf16


def test_precision_choice(monkeypatch):
    cpu = torch.device("cpu")
    assert compute_dtype("fp32", cpu) == torch.float32 and compute_dtype("bf16", cpu) == torch.bfloat16
    monkeypatch.setattr(extract, "native_bf16", lambda device: True)
    # auto: bf16 only where training and prediction run in bf16 too (CUDA autocast)
    assert compute_dtype("auto", cpu) == torch.float32
    assert compute_dtype("auto", torch.device("cuda")) == torch.bfloat16
    monkeypatch.setattr(extract, "native_bf16", lambda device: False)
    assert compute_dtype("auto", torch.device("cuda")) == torch.float32
    with pytest.raises(UnknownNameError, match="unknown precision 'fp16'"):
        compute_dtype("fp16", cpu)


def test_precision_is_the_options_and_is_checked(monkeypatch):
    seen = []
    monkeypatch.setattr(extract, "compute_dtype", lambda precision, device: seen.append(precision) or torch.float32)
    extract_features(_backbone(), _images(2), options=ExtractionOptions(device="cpu", precision="bf16"))
    extract_features(_backbone(), _images(2), options=ExtractionOptions(device="cpu", precision="fp32"))
    extract_features(_backbone(), _images(2), options=ExtractionOptions(device="cpu"))
    assert seen == ["bf16", "fp32", "auto"]
    with pytest.raises(UnknownNameError):
        ExtractionOptions(precision="half")


def test_empty_input():
    assert extract_features(_backbone(), [], options=ExtractionOptions(device="cpu")).shape == (0, 0)
