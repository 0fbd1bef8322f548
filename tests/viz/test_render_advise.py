"""The depth-sweep plot."""

from __future__ import annotations

import pytest
from PIL import Image

from transferlab.viz.render.advise import plot_depth_sweep


def test_plot_depth_sweep_writes_a_png(tmp_path):
    out = plot_depth_sweep(["blocks.0", "blocks.5", "end"], [0.6, 0.99, 0.98], [0.02, 0.01, 0.01], [16, 192, 1280],
                           tmp_path / "sweep.png", chosen=None, title="steel")
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > 400
    assert not list(tmp_path.glob("*.tmp"))


def test_plot_depth_sweep_refuses_mismatched_data(tmp_path):
    with pytest.raises(ValueError, match="one mean"):
        plot_depth_sweep(["a", "b"], [0.5], [0.1, 0.1], [1, 2], tmp_path / "x.png")
    with pytest.raises(ValueError):
        plot_depth_sweep([], [], [], [], tmp_path / "x.png")
