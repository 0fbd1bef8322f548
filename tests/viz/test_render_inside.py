"""Drawing what `viz` computes: valid PNGs, no pyplot state, overlays as plain arrays."""

from __future__ import annotations

import matplotlib.pyplot as plt  # only to check that render leaves no pyplot figures behind
import numpy as np
import pytest
from PIL import Image

from transferlab.viz import (
    ActivationGrid,
    CamResult,
    FilterBank,
    Representative,
    Synthesis,
    heatmap_overlay,
    kernel_gallery,
    plot_activation_grid,
    plot_class_maximisation,
    plot_filters,
    plot_gradcam,
    plot_kernel_gallery,
)
from transferlab.viz.render.inside import format_kernel

RNG = np.random.default_rng(0)
PHOTO = RNG.integers(0, 256, (48, 48, 3)).astype(np.uint8)


@pytest.fixture(autouse=True)
def _no_pyplot_figures():
    assert plt.get_fignums() == []
    yield
    assert plt.get_fignums() == []


def _png(path) -> tuple[int, int]:
    assert path.exists() and path.stat().st_size > 3_000
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_activation_grid(tmp_path):
    grid = ActivationGrid("blocks.2", (40, 6, 6), (3, 0, 1), RNG.random((3, 6, 6)).astype(np.float32),
                          np.array([0.9, 0.5, 0.1]), "top")
    width, height = _png(plot_activation_grid(grid, tmp_path / "a.png", image=PHOTO))
    assert width > height  # the input on the left, a 2x2 montage of maps on the right


@pytest.mark.parametrize(("kind", "shape"), [("rgb", (16, 3, 3, 3)), ("grey", (4, 1, 5, 5)),
                                             ("depthwise", (10, 1, 3, 3)), ("per-channel", (3, 4, 3, 3)),
                                             ("pointwise", (12, 20, 1, 1))])
def test_filters_of_every_kind(kind, shape, tmp_path):
    bank = FilterBank("conv", RNG.normal(size=shape).astype(np.float32), shape[0] * 2, shape[1], 1, kind)
    _png(plot_filters(bank, tmp_path / f"{kind}.png"))


def _cam(value: float) -> CamResult:
    heat = np.zeros((48, 48), dtype=np.float32)
    heat[:10, :10] = value
    return CamResult(heat, heat[::8, ::8], 1, 2.0, 0.7, "stage2", "gradcam++")


def test_gradcam_figure_and_overlay(tmp_path):
    width, height = _png(plot_gradcam(PHOTO, [_cam(1.0), _cam(0.5)], ["predicted: a", "class: b"],
                                      tmp_path / "g.png"))
    assert width > 2 * height
    with pytest.raises(ValueError, match="one caption per CAM"):
        plot_gradcam(PHOTO, [_cam(1.0)], [], tmp_path / "x.png")
    blended = heatmap_overlay(PHOTO, _cam(1.0).heatmap, alpha=0.5)
    assert blended.shape == PHOTO.shape and blended.dtype == np.uint8
    assert (blended[20:, 20:] != PHOTO[20:, 20:]).any()  # zero heat still tints (the colormap's low end)
    np.testing.assert_array_equal(heatmap_overlay(PHOTO, _cam(1.0).heatmap, alpha=0.0), PHOTO)


def test_class_maximisation_with_and_without_synthesis(tmp_path):
    synthesis = Synthesis(PHOTO, "class 1: b", np.arange(5, dtype=np.float32), 4.0, 0.9)
    rep = Representative("x/cat.png", PHOTO, 3.0, 0.8, "stage1", (1, 1), (4, 4, 20, 20), _cam(1.0).heatmap,
                         "stage2")
    _png(plot_class_maximisation(synthesis, [rep, rep], tmp_path / "both" / "c.png"))
    _png(plot_class_maximisation(None, [rep], tmp_path / "real" / "c.png"))
    with pytest.raises(ValueError, match="nothing to draw"):
        plot_class_maximisation(None, [], tmp_path / "none.png")


def test_kernel_gallery_figure(tmp_path):
    results = kernel_gallery(PHOTO[:, :40])
    width, height = _png(plot_kernel_gallery(PHOTO[:, :40], results, tmp_path / "k.png"))
    assert width > height  # 4 columns, 2 rows
    assert format_kernel(np.full((3, 3), 1 / 9, dtype=np.float32)).splitlines()[0] == "[1/9 1/9 1/9]"
    assert format_kernel(np.array([[0.123456]])) == "[0.123]"
    assert format_kernel(np.zeros((7, 7))) == "7x7 kernel"
