"""`transferlab visualize ...` and `summary --receptive-field`, in-process through `main([...])`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from transferlab.cli.main import main

TINY = ["--weights", "none", "--input-size", "64", "--device", "cpu"]


def _one_error_line(err: str) -> str:
    """The error line: exactly one, last (after warnings such as 'random weights'), no traceback."""
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("transferlab: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in err, err
    return errors[0]


def _written(capsys) -> dict:
    data = json.loads(capsys.readouterr().out)
    for entry in data["written"]:
        path = Path(entry["file"])
        assert path.suffix == ".png" and path.stat().st_size > 2_000
        with Image.open(path) as image:
            assert image.format == "PNG"
    return data


@pytest.fixture
def linear_run(image_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(image_folder), "--strategy", "linear", "--backbone", "tiny_cnn", "--weights",
                 "none", "--input-size", "32", "--out", str(out), "--quiet", "--val-fraction", "0.25",
                 "--device", "cpu"]) == 0
    capsys.readouterr()
    return out


@pytest.fixture
def photo(image_folder) -> Path:
    return image_folder / "red" / "red_0.png"


def test_activations_of_named_layers(photo, tmp_path, capsys):
    out = tmp_path / "viz"
    assert main(["visualize", "activations", "tiny_cnn", str(photo), *TINY, "--layer", "stem,stage1",
                 "--count", "4", "--out", str(out), "--json"]) == 0
    written = _written(capsys)["written"]
    assert [w["layer"] for w in written] == ["stem", "stage1"]
    assert written[1]["shape"] == [16, 16, 16] and len(written[1]["channels"]) == 4
    assert sorted(p.name for p in out.iterdir()) == ["activations_stage1_red_0.png", "activations_stem_red_0.png"]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["activations", "tiny_cnn", "IMAGE", *TINY, "--layer", "stage3"], "unknown layer 'stage3': did you mean stage2"),
        (["activations", "tiny_cnn", "IMAGE", *TINY, "--layer", "head"], "'head' has no spatial output"),
        (["activations", "tiny_cnn", "missing.png", *TINY], "missing.png: file not found"),
        (["filters", "tiny_cnn", *TINY, "--layer", "stage1"], "is a Sequential, not a convolution"),
        (["gradcam", "tiny_cnn", "IMAGE", *TINY, "--class", "999999"], "out of range"),
        (["classmax", "tiny_cnn", *TINY, "--class", "3", "--no-synthesis"], "needs real images"),
        (["classmax", "resnet50", "--class", "3"], "or pass --weights none"),
        (["kernels", "IMAGE", "--kernel", "1,2;3,4"], "both sides must be odd"),
        (["kernels", "IMAGE", "--only", "blurr"], "did you mean"),
    ],
)
def test_user_errors_are_one_line(argv, fragment, photo, tmp_path, capsys):
    argv = [str(photo) if a == "IMAGE" else str(tmp_path / a) if a == "missing.png" else a for a in argv]
    assert main(["visualize", *argv, "--out", str(tmp_path / "out")]) == 2
    assert fragment in _one_error_line(capsys.readouterr().err)


def test_filters_weights_and_maximised_patterns(tmp_path, capsys):
    assert main(["visualize", "filters", "tiny_cnn", *TINY, "--out", str(tmp_path), "--json"]) == 0
    (entry,) = _written(capsys)["written"]
    assert entry["layer"] == "stem.0" and entry["kind"] == "rgb" and entry["shown_filters"] == 8
    assert main(["visualize", "filters", "tiny_cnn", *TINY, "--layer", "stage1", "--maximise", "--count", "3",
                 "--steps", "2", "--out", str(tmp_path), "--json"]) == 0
    (entry,) = _written(capsys)["written"]
    assert entry["file"].endswith("patterns_stage1.png") and entry["channels"] == [0, 1, 2]


def test_classmax_of_a_channel_and_of_a_name_with_images(image_folder, tmp_path, capsys):
    assert main(["visualize", "classmax", "tiny_cnn", *TINY, "--channel", "5", "--layer", "stage1",
                 "--steps", "2", "--out", str(tmp_path), "--json"]) == 0
    (entry,) = _written(capsys)["written"]
    assert entry["file"].endswith("classmax_stage1_channel5.png") and entry["channel"] == 5
    assert main(["visualize", "classmax", "tiny_cnn", *TINY, "--class", "7", "--no-synthesis", "--images",
                 str(image_folder), "--count", "2", "--max-images", "5", "--out", str(tmp_path), "--json"]) == 0
    (entry,) = _written(capsys)["written"]
    assert len(entry["representatives"]) == 2 and "synthesis" not in entry


def test_a_run_activations_classmax_and_gradcam(linear_run, image_folder, photo, tmp_path, capsys):
    """One trained run (training is the slow part) through the three commands that use its classes."""
    # activations: default layer, and the run's own viz/ folder
    assert main(["visualize", "activations", str(linear_run), str(photo), "-q"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {linear_run / 'viz' / 'activations_stage1_red_0.png'}"

    # classmax: the run's training images are ranked, best first, boxes inside the 32-px crop
    assert main(["visualize", "classmax", str(linear_run), "--class", "red", "--steps", "3", "--count", "3",
                 "--out", str(tmp_path), "--json"]) == 0
    (entry,) = _written(capsys)["written"]
    assert entry["class"] == "red" and entry["synthesis"]["steps"] == 3
    reps = entry["representatives"]
    assert len(reps) == 3 and all("/red/" in r["image"] for r in reps)
    assert [r["score"] for r in reps] == sorted((r["score"] for r in reps), reverse=True)
    assert all(0 <= r["box"][0] < r["box"][2] <= 32 for r in reps)

    # gradcam: predicted and chosen class, an unreadable file skipped (exit 1)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    images = [str(image_folder / "red" / "red_1.png"), str(broken), str(image_folder / "blue" / "blue_1.png")]
    assert main(["visualize", "gradcam", str(linear_run), *images, "--class", "blue", "--out", str(tmp_path),
                 "--json", "-q"]) == 1
    data = _written(capsys)
    assert [s["image"] for s in data["skipped"]] == [str(broken)]
    red, blue = data["written"]
    assert [c["role"] for c in red["classes"]] == ["predicted", "class"]
    assert red["classes"][0]["class"] == "red" and red["classes"][1]["class"] == "blue"
    assert [c["class"] for c in blue["classes"]] == ["blue"]  # predicted blue: shown once
    assert red["layer"] == "stage2" and red["method"] == "gradcam++"


def test_gradcam_with_nothing_readable(tmp_path, capsys):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert main(["visualize", "gradcam", "tiny_cnn", str(empty), *TINY, "--out", str(tmp_path / "o")]) == 2
    assert f"none of the 1 images found in {empty} could be read" in capsys.readouterr().err


def test_gradcam_explains_every_image_of_a_folder(image_folder, tmp_path, capsys):
    (image_folder / "red" / "README.txt").write_text("notes\n")
    argv = ["visualize", "gradcam", "tiny_cnn", str(image_folder / "red"), *TINY, "--out", str(tmp_path / "o"),
            "--json"]
    assert main(argv) == 0
    written = json.loads(capsys.readouterr().out)["written"]
    assert sorted(Path(w["image"]).name for w in written) == sorted(f"red_{i}.png" for i in range(12))
    assert all(Path(w["file"]).name.startswith("gradcam_") for w in written)


def test_kernels_named_and_custom(photo, tmp_path, capsys):
    assert main(["visualize", "kernels", str(photo), "--only", "sharpen", "--kernel", "1/16 * 1,2,1;2,4,2;1,2,1",
                 "--grey", "--out", str(tmp_path), "--json"]) == 0
    (entry,) = _written(capsys)["written"]
    assert [k["name"] for k in entry["kernels"]] == ["sharpen", "custom 1"]
    assert entry["kernels"][1]["kernel"][1][1] == 0.25
    assert main(["visualize", "kernels", str(photo), "--out", str(tmp_path), "--json"]) == 0
    assert len(_written(capsys)["written"][0]["kernels"]) == 7


def test_quiet_before_or_after_the_subcommand(photo, tmp_path, capsys):
    assert main(["visualize", "-q", "kernels", str(photo), "--out", str(tmp_path)]) == 0
    assert main(["visualize", "kernels", str(photo), "--out", str(tmp_path), "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_summary_receptive_field(capsys):
    assert main(["summary", "vgg16", "--no-top", "--receptive-field"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("features.28 (Conv2d)") and "196" in line)
    assert line.split()[2:4] == ["196", "16"]
    assert main(["summary", "tiny_cnn", "--receptive-field", "--json", "--depth", "1"]) == 0
    fields = {r["name"]: r for r in json.loads(capsys.readouterr().out)["receptive_fields"]}
    assert fields["stage2"]["size"] == [15, 15] and fields["head"]["global"]


@pytest.mark.slow
def test_gradcam_and_classmax_with_imagenet_weights(tmp_path, capsys):
    from skimage import data

    chelsea = tmp_path / "chelsea.png"
    Image.fromarray(data.chelsea()).save(chelsea)
    assert main(["visualize", "gradcam", "efficientnet_lite0", str(chelsea), "--class", "tabby",
                 "--out", str(tmp_path / "o"), "--json"]) == 0
    (entry,) = _written(capsys)["written"]
    assert entry["layer"] == "blocks.6" and "cat" in entry["classes"][0]["class"]
    assert main(["visualize", "classmax", "efficientnet_lite0", "--class", "tabby", "--steps", "6",
                 "--images", str(tmp_path), "--count", "1", "--out", str(tmp_path / "o"), "--json"]) == 0
    (entry,) = _written(capsys)["written"]
    assert entry["index"] == 281 and entry["representatives"][0]["layer"] == "blocks.2"
    assert entry["synthesis"]["logit"] > 0
