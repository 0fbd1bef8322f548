"""The range-test plot: a PNG with the curve, also for a flat or a two-point curve."""

from __future__ import annotations

import pytest
from PIL import Image

from transferlab.viz.render.lr_find import plot_lr_find


@pytest.mark.parametrize("losses", [[1.0, 0.9, 0.7, 0.6, 5.0], [0.5] * 5, [0.0, 0.0, 0.0, 0.0, 0.0]])
def test_plot_lr_find_writes_a_png(tmp_path, losses):
    rates = [1e-7, 1e-5, 1e-3, 1e-1, 10.0]
    out = plot_lr_find(rates, losses, 1e-3, tmp_path / "lr.png", raw_losses=losses, rule="steepest descent")
    assert out == tmp_path / "lr.png"
    with Image.open(out) as image:
        assert image.size[0] > 300 and image.size[1] > 200
    assert [p.name for p in tmp_path.iterdir()] == ["lr.png"]  # no temporary file left
