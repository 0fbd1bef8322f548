"""Real photos through the packaged EfficientNet-Lite0 ImageNet weights (offline)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from transferlab import create_backbone
from transferlab.data.decode import image_to_input

CATS = {"tiger cat", "Egyptian cat", "tabby, tabby cat"}


@pytest.fixture(scope="module")
def lite0():
    model = create_backbone("efficientnet_lite0", weights="imagenet").eval()
    assert model.weights_id.startswith("packaged:")
    return model


@pytest.fixture(scope="module")
def class_names() -> list[str]:
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [info.index_to_description(i) for i in range(1000)]


def _top(model, array, names, k: int) -> list[tuple[str, float]]:
    x = image_to_input(Image.fromarray(array), model.preprocessing)[None]  # (1, 3, 224, 224)
    with torch.no_grad():
        probs = model(x).softmax(dim=1)[0]
    values, indices = probs.topk(k)
    return [(names[int(i)], float(v)) for v, i in zip(values, indices)]


@pytest.mark.slow
def test_chelsea_is_a_cat(lite0, class_names):
    from skimage import data

    top3 = _top(lite0, data.chelsea(), class_names, 3)
    assert CATS & {name for name, _ in top3}, top3


@pytest.mark.slow
def test_coffee_is_espresso(lite0, class_names):
    from skimage import data

    (name, prob), *_ = _top(lite0, data.coffee(), class_names, 1)
    assert name == "espresso" and prob > 0.5, (name, prob)


def test_eval_tensor_resizes_crops_and_normalises(lite0):
    prep = lite0.preprocessing
    assert (prep.input_size, prep.resize_size, prep.interpolation) == (224, 256, "bicubic")
    grey = Image.new("RGB", (300, 200), (128, 128, 128))
    x = image_to_input(grey, prep)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    expected = (128 / 255 - prep.mean[0]) / prep.std[0]
    assert torch.allclose(x, torch.full_like(x, expected), atol=1e-3)
