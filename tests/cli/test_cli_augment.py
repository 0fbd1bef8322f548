"""`transferlab augment` (preview grid, --ops, spec check) and `train --augment` with specs, in-process."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import write_image
from PIL import Image

from transferlab.cli.main import main
from transferlab.config import TrainConfig
from transferlab.data.augment import list_ops

TINY = ["--backbone", "tiny_cnn", "--input-size", "32"]


def _error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("transferlab: error: "), err
    return lines[-1]


def test_preview_draws_rows_by_views(split_folder, tmp_path, capsys):
    small, big = tmp_path / "small.png", tmp_path / "big.png"
    assert main(["augment", str(split_folder), "--preview", str(small), "--rows", "2", "--views", "2", *TINY]) == 0
    assert f"wrote {small}: 2 images x 2 views of augmentation 'medium'" in capsys.readouterr().out
    assert main(["augment", str(split_folder), "--preview", str(big), "--rows", "3", "--views", "5", *TINY,
                 "--augment", "heavy", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["out"] == str(big) and result["augment"] == "heavy"
    assert [op["op"] for op in result["ops"]] == ["crop", "hflip", "affine", "color_jitter"]
    assert len({row["label"] for row in result["rows"]}) == 3  # one row per class first
    (w1, h1), (w2, h2) = Image.open(small).size, Image.open(big).size
    assert w2 > 1.8 * w1 and h2 > 1.3 * h1  # 6 columns instead of 3, 3 rows instead of 2


def test_preview_is_reproducible_and_seeded(split_folder, tmp_path):
    paths = [tmp_path / f"{name}.png" for name in ("a", "b", "c")]
    for path, seed in zip(paths, ("1", "1", "2")):
        assert main(["augment", str(split_folder), "--preview", str(path), "--seed", seed, *TINY, "-q"]) == 0
    a, b, c = (np.asarray(Image.open(p)) for p in paths)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_preview_upscales_tiny_images(tmp_path, capsys):
    root = tmp_path / "tiny"
    for label, colour in (("a", (200, 0, 0)), ("b", (0, 0, 200))):
        for i in range(3):
            write_image(root / label / f"{i}.png", colour, size=6, seed=i)  # 6 px: far below the crop
    assert main(["augment", str(root), "--preview", str(tmp_path / "g.png"), "--rows", "2", *TINY]) == 0
    assert (tmp_path / "g.png").is_file()


def test_ops_lists_every_operation_with_ranges(capsys):
    assert main(["augment", "--ops"]) == 0
    out = capsys.readouterr().out
    assert all(f"\n{name} " in "\n" + out for name in list_ops())
    assert "degrees: number in [0, 180], default 15.0" in out and "medium: crop, hflip, affine, color_jitter" in out
    assert main(["augment", "--ops", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [row["op"] for row in data["ops"]] == list_ops() and set(data["presets"]) >= {"light", "heavy"}


def test_spec_without_data_prints_it_resolved(tmp_path, capsys):
    spec = tmp_path / "aug.yaml"
    spec.write_text("- vflip\n- {op: rotate, degrees: 90}\n")
    assert main(["augment", "--augment", str(spec)]) == 0
    out = capsys.readouterr().out
    assert yaml.safe_load(out) == [{"op": "vflip", "p": 0.5}, {"op": "rotate", "degrees": 90.0}]


@pytest.mark.parametrize("argv, message", [
    (["--augment", "[{op: rotate, degrees: 400}]"], "augment op 'rotate': degrees must be in [0, 180], got 400"),
    (["--augment", "[{op: shear, degrees: -5}]"], "augment op 'shear': degrees must be in [0, 45], got -5"),
    (["--augment", "[flip]"], "unknown augment op 'flip': did you mean"),
    (["--augment", "hevy"], "unknown augmentation preset 'hevy': did you mean heavy"),
    (["--preview", "x.png"], "--preview needs DATA"),
])
def test_bad_requests_are_one_line(argv, message, capsys):
    assert main(["augment", *argv]) == 2
    assert message in _error_line(capsys.readouterr().err)


def test_data_without_preview_is_a_usage_error(split_folder, capsys):
    assert main(["augment", str(split_folder)]) == 2
    assert "--preview FILE.png" in _error_line(capsys.readouterr().err)


def test_train_rejects_a_bad_spec_before_any_work(split_folder, tmp_path, capsys):
    code = main(["train", str(split_folder), "--strategy", "finetune", *TINY, "--weights", "none",
                 "--augment", "[{op: hue, amount: 2}]", "--out", str(tmp_path / "run")])
    assert code == 2
    assert "augment op 'hue': amount must be in [0, 0.5], got 2" in _error_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_train_with_a_yaml_spec_records_it(split_folder, tmp_path, capsys):
    spec = tmp_path / "aug.yaml"
    spec.write_text("- hflip\n- {op: crop, scale: [0.6, 1.0]}\n")
    out = tmp_path / "run"
    assert main(["train", str(split_folder), "--strategy", "finetune", *TINY, "--weights", "none", "--epochs", "1",
                 "--augment", str(spec), "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    assert TrainConfig.load(out / "config.yaml").augment == str(spec)
    recorded = yaml.safe_load((out / "augment.yaml").read_text())
    assert recorded == [{"op": "hflip", "p": 0.5}, {"op": "crop", "scale": [0.6, 1.0], "ratio": [0.75, 4 / 3]}]


def test_features_aug_run_records_views_and_ops(split_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(split_folder), "--strategy", "features-aug", *TINY, "--weights", "none", "--views", "2",
                 "--epochs", "2", "--augment", "[hflip, {op: rotate, degrees: 10}]", "--out", str(out),
                 "--device", "cpu", "--precision", "fp32", "--json"]) == 0
    details = json.loads(capsys.readouterr().out)["details"]
    assert details["views"] == 2 and details["train_vectors"] == 3 * 30  # clean + 2 views of 30 images
    assert details["augment_ops"] == [{"op": "hflip", "p": 0.5}, {"op": "rotate", "degrees": 10.0}]
    assert not details["features_from_cache"]
    config = TrainConfig.load(out / "config.yaml")
    assert config.precision == "fp32" and config.compile is None and config.views == 2
    again = tmp_path / "again"
    assert main(["train", str(split_folder), "--strategy", "features-aug", *TINY, "--weights", "none", "--views", "2",
                 "--epochs", "2", "--augment", "[hflip, {op: rotate, degrees: 10}]", "--out", str(again),
                 "--device", "cpu", "--precision", "fp32", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["details"]["features_from_cache"]  # every view cached


def test_preview_with_mixup_and_cutmix_adds_a_mixed_row_per_image(split_folder, tmp_path, capsys):
    plain, mixed = tmp_path / "plain.png", tmp_path / "mixed.png"
    argv = ["augment", str(split_folder), "--rows", "2", "--views", "3", *TINY]
    assert main([*argv, "--preview", str(plain)]) == 0
    capsys.readouterr()
    assert main([*argv, "--preview", str(mixed), "--mixup", "0.4", "--cutmix", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mix"] == "mixup 0.4 or cutmix 1 (one per batch)"
    (w1, h1), (w2, h2) = Image.open(plain).size, Image.open(mixed).size
    assert w2 == w1 and h2 > 1.7 * h1  # 2 more rows below the 2 plain ones
    assert main(["augment", str(split_folder), "--preview", str(mixed), "--mixup", "-0.5", *TINY]) == 2
    assert "mixup alpha must be a number >= 0 (0: off), not -0.5" in _error_line(capsys.readouterr().err)


@pytest.mark.parametrize("flags, message", [
    (["--strategy", "scratch", "--mixup", "-1"], "mixup alpha must be a number >= 0 (0: off), not -1.0"),
    (["--strategy", "finetune", "--cutmix", "-0.1"], "cutmix alpha must be a number >= 0 (0: off), not -0.1"),
    (["--strategy", "features", "--mixup", "0.2"], "they apply to finetune and scratch, not to features"),
])
def test_train_refuses_a_bad_mix_in_one_line_before_any_work(split_folder, tmp_path, capsys, flags, message):
    code = main(["train", str(split_folder), *flags, *TINY, "--weights", "none", "--out", str(tmp_path / "run")])
    assert code == 2
    assert message in _error_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_train_records_mixup_and_cutmix(split_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(split_folder), "--strategy", "scratch", "--model", "conv8-pool-flatten-dense16",
                 "--epochs", "1", "--mixup", "0.2", "--cutmix", "1.0", *TINY, "--out", str(out), "-q"]) == 0
    config = TrainConfig.load(out / "config.yaml")
    assert (config.mixup, config.cutmix) == (0.2, 1.0)
