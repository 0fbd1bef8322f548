"""Augmentation ops registry, presets, YAML/inline specs, their validation, tiny images and previews."""

from __future__ import annotations

import pytest
import torch

from transferlab.backbones.preprocessing import Preprocessing
from transferlab.data import eval_transform
from transferlab.data.augment import (
    PRESETS,
    AugmentSpecError,
    describe_ops,
    list_ops,
    preview_views,
    resolve_augment,
    train_transform,
    undo_normalisation,
)
from transferlab.errors import TransferlabError, UnknownNameError

PRE = Preprocessing(input_size=32, crop_pct=0.875, interpolation="bilinear")
GRAY = Preprocessing(input_size=32, mean=(0.5,), std=(0.5,))
FIXED = {"corner"}  # the same crop every time: a test-time view


def _noise(height: int = 36, width: int = 48, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator)


@pytest.mark.parametrize("name", list_ops())
def test_every_op_builds_and_gives_the_model_input(name):
    torch.manual_seed(0)
    transform = train_transform(PRE, [name])
    outputs = [transform(_noise()) for _ in range(8)]
    assert all(o.shape == (3, 32, 32) and o.dtype == torch.float32 for o in outputs)
    others = [eval_transform(PRE)(_noise())] if name in FIXED else outputs[1:]  # a fixed op: unlike the eval crop
    assert any(not torch.equal(outputs[0], o) for o in others), f"{name} never changed the image"
    assert train_transform(GRAY, [name])(_noise()).shape == (1, 32, 32)


def test_flip_probabilities_are_honoured():
    image = _noise(36, 36)  # resize size 36: the centre crop keeps a symmetric window
    clean = eval_transform(PRE)(image)
    for _ in range(3):
        assert torch.equal(train_transform(PRE, [{"op": "hflip", "p": 0.0}])(image), clean)
        flipped = train_transform(PRE, [{"op": "hflip", "p": 1.0}])(image)
        torch.testing.assert_close(flipped, clean.flip(-1))
        torch.testing.assert_close(train_transform(PRE, [{"op": "vflip", "p": 1.0}])(image), clean.flip(-2))


def test_seeded_transforms_repeat():
    image = _noise()
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        transform = train_transform(PRE, "heavy")
        runs.append(torch.stack([transform(image) for _ in range(4)]))
    assert torch.equal(runs[0], runs[1])


@pytest.mark.parametrize("spec", [*PRESETS, "[rotate, zoom, shear, translate]"])
def test_tiny_images_are_upscaled_not_rejected(spec):
    tiny = _noise(5, 7)  # far smaller than the 32 px crop
    assert train_transform(PRE, spec)(tiny).shape == (3, 32, 32)


def test_presets_resolve_to_op_lists():
    assert [op.name for op in resolve_augment("light").ops] == ["crop", "hflip"]
    assert [op.name for op in resolve_augment("heavy").ops] == ["crop", "hflip", "affine", "color_jitter"]
    assert resolve_augment("none").ops == () and resolve_augment(None).ops == ()
    assert resolve_augment(None, default="medium").name == "medium"
    crop = dict(resolve_augment("medium").ops[0].params)
    assert crop["scale"] == (0.3, 1.0) and crop["ratio"] == pytest.approx((0.75, 4 / 3))


def test_defaults_fill_in_and_canonical_text_round_trips():
    spec = resolve_augment("[hflip, {op: rotate, degrees: 30}, {op: crop, scale: [0.4, 0.9]}]")
    assert spec.name == "inline"
    assert spec.to_list() == [{"op": "hflip", "p": 0.5}, {"op": "rotate", "degrees": 30.0},
                              {"op": "crop", "scale": [0.4, 0.9], "ratio": [0.75, 4 / 3]}]
    assert resolve_augment(spec.canonical()).ops == spec.ops
    assert resolve_augment(spec.to_list()).ops == spec.ops
    assert resolve_augment("rotate").to_list() == [{"op": "rotate", "degrees": 15.0}]  # one op by name


def test_yaml_file_specs(tmp_path):
    path = tmp_path / "aug.yaml"
    path.write_text("# mine\n- hflip\n- op: color_jitter\n  brightness: 0.3\n- {op: grayscale, p: 0.2}\n")
    spec = resolve_augment(str(path))
    assert spec.name == str(path) and [op.name for op in spec.ops] == ["hflip", "color_jitter", "grayscale"]
    assert dict(spec.ops[1].params) == {"brightness": 0.3, "contrast": 0.2, "saturation": 0.2, "hue": 0.0}
    wrapped = tmp_path / "wrapped.yml"
    wrapped.write_text("augment:\n  - vflip\n")
    assert [op.name for op in resolve_augment(str(wrapped)).ops] == ["vflip"]
    again = tmp_path / "again.yaml"
    again.write_text(spec.to_yaml())  # what a run directory's augment.yaml holds
    assert resolve_augment(str(again)).ops == spec.ops


@pytest.mark.parametrize("spec, message", [
    ("[{op: rotate, degrees: 400}]", "augment op 'rotate': degrees must be in [0, 180], got 400"),
    ("[{op: hflip, p: -0.1}]", "augment op 'hflip': p must be in [0, 1], got -0.1"),
    ("[{op: hue, amount: 0.7}]", "augment op 'hue': amount must be in [0, 0.5], got 0.7"),
    ("[{op: crop, scale: [0.9, 0.2]}]", "augment op 'crop': scale must be [a, b] with 0.05 <= a <= b <= 1, got [0.9, 0.2]"),
    ("[{op: crop, scale: 0.5}]", "augment op 'crop': scale must be [a, b] with 0.05 <= a <= b <= 1, got 0.5"),
    ("[{op: zoom, amount: yes}]", "augment op 'zoom': amount must be in [0, 0.9], got true"),
    ("[{op: rotate, degrees: abc}]", "augment op 'rotate': degrees must be in [0, 180], got 'abc'"),
    ("[3]", "each augment item is an op name or a mapping with 'op', got 3"),
    ("{op: hflip}", "an augment spec is a list of operations"),
    ("[unclosed", "inline augment spec: not valid YAML"),
])
def test_bad_values_give_one_line_naming_op_and_range(spec, message):
    with pytest.raises(AugmentSpecError) as info:
        resolve_augment(spec)
    text = str(info.value)
    assert message in text and "\n" not in text and isinstance(info.value, TransferlabError)


def test_unknown_names_suggest_close_matches(tmp_path):
    with pytest.raises(UnknownNameError, match=r"unknown augment op 'rotat': did you mean rotate"):
        resolve_augment("[hflip, rotat]")
    with pytest.raises(UnknownNameError, match=r"augment op 'rotate': unknown parameter 'degree': did you mean degrees"):
        resolve_augment("[{op: rotate, degree: 3}]")
    with pytest.raises(UnknownNameError, match=r"unknown augmentation preset 'mediun': did you mean medium") as info:
        resolve_augment("mediun")
    assert ".yaml file" in str(info.value)
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {op: shear, degrees: 90}\n")
    with pytest.raises(AugmentSpecError, match=rf"^{bad}: augment op 'shear': degrees must be in \[0, 45\], got 90$"):
        resolve_augment(str(bad))
    with pytest.raises(AugmentSpecError, match="augment spec file not found"):
        resolve_augment(str(tmp_path / "missing.yaml"))


def test_describe_ops_lists_ranges_and_defaults():
    table = {row["op"]: row for row in describe_ops()}
    assert set(table) == set(list_ops())
    assert {"hflip", "vflip", "crop", "zoom", "rotate", "translate", "shear", "affine", "brightness",
            "contrast", "saturation", "hue", "color_jitter"} <= set(table)
    assert table["rotate"]["params"]["degrees"] == {"range": "number in [0, 180]", "default": 15.0}


def test_undo_normalisation_inverts_the_eval_transform():
    image = _noise(36, 36)
    shown = undo_normalisation(eval_transform(PRE)(image), PRE)  # (S, S, 3) uint8
    expected = image[:, 2:34, 2:34].permute(1, 2, 0)  # the centre crop
    assert shown.dtype == torch.uint8 and shown.shape == (32, 32, 3)
    assert (shown.int() - expected.int()).abs().max() <= 1


def test_preview_rows_are_seeded_and_leave_the_global_rng_alone():
    images = [_noise(36, 40, seed=i) for i in range(3)]
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    rows = preview_views(images, PRE, "heavy", views=4, seed=5)
    assert torch.rand(1) == before  # the caller's random stream is untouched
    assert len(rows) == 3 and all(len(row) == 5 for row in rows)
    assert all(img.shape == (32, 32, 3) and img.dtype == torch.uint8 for row in rows for img in row)
    torch.testing.assert_close(rows[0][0], undo_normalisation(eval_transform(PRE)(images[0]), PRE))
    again = preview_views(images, PRE, "heavy", views=4, seed=5)
    assert all(torch.equal(a, b) for ra, rb in zip(rows, again) for a, b in zip(ra, rb))
    other = preview_views(images, PRE, "heavy", views=4, seed=6)
    assert not torch.equal(rows[0][1], other[0][1])


@pytest.mark.parametrize("spec", ["[trivial_augment]", "[{op: randaugment, ops: 3, magnitude: 15}]", "trivial"])
def test_the_recipes_augmentations_change_images_reproducibly_and_show_in_the_preview(spec):
    image = torch.randint(0, 256, (3, 40, 40), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    transform = train_transform(PRE, spec)
    torch.manual_seed(3)
    first = torch.stack([transform(image) for _ in range(6)])
    torch.manual_seed(3)
    again = torch.stack([transform(image) for _ in range(6)])
    assert first.shape == (6, 3, 32, 32) and torch.equal(first, again)
    assert len({tuple(view.flatten()[:64].tolist()) for view in first}) > 1
    rows = preview_views([image], PRE, spec, views=3, seed=2)
    assert len(rows) == 1 and len(rows[0]) == 1 + 3  # the original, then the views


def test_randaugment_refuses_a_magnitude_out_of_range():
    with pytest.raises(AugmentSpecError, match="magnitude"):
        resolve_augment("[{op: randaugment, magnitude: 40}]")
