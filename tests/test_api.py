"""The Python API: `transferlab.train/evaluate/predict/extract/export` mirror the CLI's verbs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import transferlab as tl

TINY = {"backbone": "tiny_cnn", "weights": "none", "input_size": 32, "device": "cpu"}


@pytest.fixture
def run(split_folder, tmp_path):
    return tl.train(split_folder, strategy="features", out=tmp_path / "run", epochs=3, **TINY)


def test_train_returns_the_summary_and_writes_the_run(run, tmp_path):
    assert run.out == tmp_path / "run" and (run.out / "model.safetensors").is_file()
    assert run.summary["strategy"] == "features" and run.val_accuracy == run.summary["val"]["accuracy"]


def test_evaluate_on_the_val_folder_matches_the_training_summary(run, split_folder):
    evaluation = tl.evaluate(run.out, split_folder / "val", device="cpu")
    assert evaluation.accuracy == run.summary["val"]["accuracy"]
    assert evaluation.metrics.confusion == run.summary["val"]["confusion"] and evaluation.skipped == ()


def test_evaluate_refuses_a_class_the_model_does_not_know(run, tmp_path):
    from conftest import write_image

    write_image(tmp_path / "other" / "purple" / "0.png", (150, 0, 150))
    with pytest.raises(tl.DataError, match="purple"):
        tl.evaluate(run.out, tmp_path / "other")


def test_predict_gives_the_top_classes_per_image(run, split_folder):
    images = sorted((split_folder / "val" / "red").glob("*.png"))[:2]
    rows = tl.predict(run.out, images, top=2, device="cpu")
    assert [row["image"] for row in rows] == [str(p) for p in images]
    assert all(len(row["predictions"]) == 2 for row in rows)
    first = rows[0]["predictions"]
    assert first[0]["probability"] >= first[1]["probability"] and first[0]["label"] in {"red", "green", "blue"}


def test_extract_writes_a_feature_file(split_folder, tmp_path):
    out = tl.extract(split_folder, tmp_path / "feats.npz", backbone=tl.BackboneChoice("tiny_cnn", "none", 32),
                     device="cpu")
    with np.load(out) as data:
        assert data["features"].shape == (42, 32)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError):
        tl.no_such_verb  # noqa: B018


def _red_images(split_folder, count=2):
    return sorted((split_folder / "val" / "red").glob("*.png"))[:count]


def test_the_model_object_gives_every_input_kind_the_probabilities_of_its_file(run, split_folder):
    from PIL import Image

    model = tl.load(run.out, device="cpu")
    assert model.classes == ("blue", "green", "red") and "features" in repr(model)
    paths = _red_images(split_folder)
    expected = model.predict_proba(paths)
    array = np.array(Image.open(paths[0]).convert("RGB"))
    kinds = {
        "PIL image": Image.open(paths[0]),
        "uint8 HWC array": array,
        "float 0-1 array": array / 255.0,
        "uint8 CHW tensor": torch.from_numpy(array).permute(2, 0, 1),
        "float CHW tensor": torch.from_numpy(array).permute(2, 0, 1).float() / 255.0,
        "str path": str(paths[0]),
    }
    for kind, item in kinds.items():
        np.testing.assert_allclose(model.predict_proba(item)[0], expected[0], atol=2e-3, err_msg=kind)
    mixed = model.predict([Image.open(paths[0]), paths[1]], top=1)
    assert [row["image"] for row in mixed] == ["<image 0>", str(paths[1])]
    folder = model.predict(split_folder / "val" / "red")
    assert len(folder) == 4 and all(row["image"].endswith(".png") for row in folder)
    assert "<table>" in folder._repr_html_() and str(paths[0]) in str(folder)


def test_a_grey_array_is_an_image_and_what_is_not_an_image_is_one_clear_error(run):
    model = tl.load(run.out, device="cpu")
    assert model.predict_proba(np.full((20, 24), 128, dtype=np.uint8)).shape == (1, 3)
    with pytest.raises(tl.TransferlabError, match="input 1 is a dict, not an image"):
        model.predict([np.zeros((8, 8, 3), np.uint8), {"not": "an image"}])
    with pytest.raises(tl.TransferlabError, match=r"shape \(2, 3, 4, 5\) is not an image"):
        model.predict(np.zeros((2, 3, 4, 5)))


def test_the_function_verbs_use_the_model_object(run, split_folder):
    from PIL import Image

    paths = _red_images(split_folder, 1)
    rows = tl.predict(run.out, [Image.open(paths[0])], top=3, device="cpu")
    assert rows[0]["image"] == "<image 0>" and len(rows[0]["predictions"]) == 3
    assert tl.load(run.out).evaluate(split_folder / "val").accuracy == tl.evaluate(run.out, split_folder / "val").accuracy


def test_explain_returns_one_map_per_image_in_the_unit_range(split_folder, tmp_path):
    run = tl.train(split_folder, strategy="linear", out=tmp_path / "lin", **TINY)
    maps = tl.load(run.out, device="cpu").explain(_red_images(split_folder))
    assert maps.shape == (2, 32, 32) and maps.min() >= 0 and maps.max() <= 1


def test_flip_tta_averages_the_image_and_its_mirror(run, split_folder):
    from PIL import Image

    path = _red_images(split_folder, 1)[0]
    image = Image.open(path).convert("RGB")
    plain, with_tta = tl.load(run.out, device="cpu"), tl.load(run.out, device="cpu", tta="flip")
    mirrored = image.transpose(Image.FLIP_LEFT_RIGHT)
    expected = (plain.predict_proba(image) + plain.predict_proba(mirrored)) / 2
    np.testing.assert_allclose(with_tta.predict_proba(path), expected, atol=1e-5)
    assert tl.evaluate(run.out, split_folder / "val", tta="crops").metrics.num_samples == 12
