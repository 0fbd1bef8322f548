"""render.py writes valid PNGs atomically, with no pyplot state."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import matplotlib.pyplot as plt  # only to check that render leaves no pyplot figures behind
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

import transferlab
from transferlab.viz import plot_bar_table, plot_confusion, plot_curves, plot_image_grid

MIN_BYTES = 5_000


@pytest.fixture(autouse=True)
def _no_pyplot_figures():
    assert plt.get_fignums() == []
    yield
    assert plt.get_fignums() == []


def _check_png(path, folder):
    """The file is a readable PNG and the only thing in its folder (no temp files left)."""
    assert path.exists() and path.stat().st_size > MIN_BYTES
    assert sorted(p.name for p in folder.iterdir()) == [path.name]
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    with Image.open(path) as image:
        return image.size


def _metrics(epochs: int = 12) -> dict[str, list]:
    rng = np.random.default_rng(0)
    x = np.arange(1, epochs + 1)
    noise = lambda: rng.normal(0, 0.04, epochs)  # noqa: E731
    return {
        "epoch": [float(v) for v in x],
        "train_loss": list(1.0 / x + noise()),
        "train_acc": list(1 - 0.5 / x + noise()),
        "val_loss": list(1.1 / x + 0.1 + noise()),
        "val_acc": list(1 - 0.6 / x + noise()),
        "lr": [1e-3] * epochs,
        "phase": ["head"] * (epochs // 2) + ["finetune"] * (epochs - epochs // 2),
    }


def test_plot_curves_two_panels(tmp_path):
    out = plot_curves(_metrics(), tmp_path / "curves.png", title="run 1")
    assert out == tmp_path / "curves.png"
    width, height = _check_png(out, tmp_path)
    assert width > 2 * height  # two panels side by side


def test_plot_curves_tolerates_nan_one_epoch_and_no_phase(tmp_path):
    metrics = {"epoch": [1.0], "train_loss": [0.5], "val_loss": [math.nan]}
    out = plot_curves(metrics, tmp_path / "one.png", factor=0.0)
    _check_png(out, tmp_path)


def test_plot_curves_without_epoch_column(tmp_path):
    metrics = {k: v for k, v in _metrics(5).items() if k != "epoch"}
    _check_png(plot_curves(metrics, tmp_path / "c.png"), tmp_path)


@pytest.mark.parametrize(("n", "normalize"), [(2, False), (5, True), (30, True)])
def test_plot_confusion_sizes(tmp_path, n, normalize):
    rng = np.random.default_rng(n)
    counts = rng.integers(0, 20, (n, n)) + np.diag(rng.integers(50, 200, n))
    counts[-1] = 0  # a class with no samples must not divide by zero
    names = [f"class_{i}_with_a_rather_long_name" for i in range(n)]
    out = plot_confusion(counts.tolist(), names, tmp_path / "cm.png", normalize=normalize)
    width, height = _check_png(out, tmp_path)
    if n == 30:
        assert min(width, height) > 1200  # grows with the class count so labels stay readable


def test_plot_confusion_shape_mismatch(tmp_path):
    with pytest.raises(ValueError):
        plot_confusion([[1, 2], [3, 4]], ["a", "b", "c"], tmp_path / "cm.png")
    assert list(tmp_path.iterdir()) == []


def test_plot_image_grid_mixed_images(tmp_path):
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (32, 48, 3), dtype=np.uint8) for _ in range(4)]
    images.append(rng.integers(0, 256, (200, 200), dtype=np.uint8))  # grey
    images.append(rng.random((40, 40, 3)))  # float in [0, 1]
    titles = [f"true: cat / pred: dog ({i / 10:.2f}) a long path/to/file_{i}.jpg" for i in range(6)]
    out = plot_image_grid(images, titles, tmp_path / "grid.png", ncols=4)
    width, height = _check_png(out, tmp_path)
    assert width > height  # 4 columns, 2 rows


def test_plot_image_grid_single_image_no_titles(tmp_path):
    image = np.full((16, 16, 3), 128, dtype=np.uint8)
    image[4:12, 4:12] = (255, 0, 0)
    out = plot_image_grid([image], None, tmp_path / "one.png", ncols=5)
    assert out.exists()
    with Image.open(out) as img:
        assert img.size[0] < 400  # one column, not five


def test_plot_image_grid_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError):
        plot_image_grid([], [], tmp_path / "g.png")
    with pytest.raises(ValueError):
        plot_image_grid([np.zeros((4, 4, 3), np.uint8)], ["a", "b"], tmp_path / "g.png")


def test_plot_bar_table(tmp_path):
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog"]
    values = [0.91, 0.95, 0.72, 0.55, math.nan, 0.63]
    out = plot_bar_table(names, values, tmp_path / "f1.png", xlabel="F1", title="Per-class F1")
    _check_png(out, tmp_path)


def test_plot_bar_table_negative_values_and_mismatch(tmp_path):
    _check_png(plot_bar_table(["a", "b"], [-0.5, 2.0], tmp_path / "b.png"), tmp_path)
    with pytest.raises(ValueError):
        plot_bar_table(["a"], [1.0, 2.0], tmp_path / "x.png")


def test_failed_render_leaves_no_file_and_no_temp(tmp_path, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError):
        plot_bar_table(["a"], [1.0], tmp_path / "bars.png")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_existing_file(tmp_path):
    target = tmp_path / "bars.png"
    target.write_bytes(b"old")
    plot_bar_table(["a", "b"], [1.0, 2.0], target)
    _check_png(target, tmp_path)


def test_only_render_imports_matplotlib_and_never_pyplot():
    package = Path(transferlab.__file__).parent
    render = package / "viz" / "render"
    drawing = sorted(render.glob("*.py"))
    assert drawing, "viz/render/ holds the drawing modules"
    assert not any("pyplot" in name for path in drawing for name in _imported_modules(path))
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if render not in path.parents and any(n.split(".")[0] == "matplotlib" for n in _imported_modules(path))
    ]
    assert offenders == []


def _imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_plot_reliability_one_panel_per_split_with_empty_bins(tmp_path):
    from transferlab.evaluation.calibration import reliability_bins, softmax
    from transferlab.viz.render import plot_reliability

    rng = np.random.default_rng(0)
    logits, labels = rng.normal(0, 3, (200, 4)), rng.integers(0, 4, 200)
    bins = {split: (reliability_bins(softmax(logits), labels), reliability_bins(softmax(logits, 3.0), labels))
            for split in ("val", "test")}
    path = plot_reliability(bins, tmp_path / "reliability.png")
    _check_png(path, tmp_path)
    assert Image.open(path).width > Image.open(path).height  # two panels side by side
