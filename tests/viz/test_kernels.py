"""The notes' kernels: parsed exactly, applied as a conv layer does (cross-correlation)."""

from __future__ import annotations

import numpy as np
import pytest

from transferlab.errors import TransferlabError, UnknownNameError
from transferlab.viz import NAMED_KERNELS, apply_kernel, choose_kernels, kernel_gallery, parse_kernel


def _photo(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (12, 15, 3)).astype(np.uint8)


def test_the_notes_kernels_are_all_there_with_their_weights():
    assert list(NAMED_KERNELS) == ["identity", "edge-diagonal", "edge-laplacian", "edge-all", "sharpen",
                                   "box-blur", "gaussian-blur"]
    assert NAMED_KERNELS["edge-all"][1, 1] == 8 and NAMED_KERNELS["edge-all"].sum() == 0
    assert NAMED_KERNELS["gaussian-blur"][1, 1] == pytest.approx(4 / 16)
    assert NAMED_KERNELS["box-blur"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0,-1,0;-1,5,-1;0,-1,0", NAMED_KERNELS["sharpen"]),
        ("0 -1 0; -1 5 -1; 0 -1 0", NAMED_KERNELS["sharpen"]),
        ("1/16 * 1,2,1;2,4,2;1,2,1", NAMED_KERNELS["gaussian-blur"]),
        ("1/9,1/9,1/9;1/9,1/9,1/9;1/9,1/9,1/9", NAMED_KERNELS["box-blur"]),
        ("0.5", np.array([[0.5]])),
        ("1,0,-1", np.array([[1, 0, -1]])),
    ],
)
def test_parse_kernel(text, expected):
    np.testing.assert_allclose(parse_kernel(text), expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("1,2;3", "same number"), ("1,2;3,4", "odd"), ("1,x,1", "'x' is not a number"), ("1/0", "not a number"),
     (";", "same number"), (",".join(["1"] * 33), "at most 31x31")],
)
def test_bad_kernels_say_why(text, fragment):
    with pytest.raises(TransferlabError, match=fragment):
        parse_kernel(text)


def test_identity_blur_sharpen_and_edges_on_known_images():
    photo = _photo()
    np.testing.assert_allclose(apply_kernel(photo, NAMED_KERNELS["identity"]), photo)
    flat = np.full((9, 9, 3), 100, dtype=np.uint8)
    for name in ("box-blur", "gaussian-blur", "sharpen"):
        np.testing.assert_allclose(apply_kernel(flat, NAMED_KERNELS[name]), 100.0, rtol=1e-5)
    for name in ("edge-diagonal", "edge-laplacian", "edge-all"):
        np.testing.assert_allclose(apply_kernel(flat, NAMED_KERNELS[name]), 0.0, atol=1e-4)


def test_it_is_cross_correlation_like_a_conv_layer():
    image = np.zeros((5, 5), dtype=np.uint8)
    image[2, 2] = 10
    kernel = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.float32)
    out = apply_kernel(image, kernel)
    # a single bright pixel leaves the kernel flipped (a true convolution would leave it upright)
    np.testing.assert_allclose(out[1:4, 1:4], 10 * kernel[::-1, ::-1])


def test_gallery_clips_for_display_and_keeps_the_raw_response():
    photo = _photo(1)
    results = kernel_gallery(photo, {"edge-all": NAMED_KERNELS["edge-all"]})
    (edges,) = results
    assert edges.display.dtype == np.uint8 and edges.display.shape == photo.shape
    assert edges.response.min() < 0 and edges.response.max() > 255  # raw, before clipping
    np.testing.assert_array_equal(edges.display, np.clip(np.round(edges.response), 0, 255))


def test_choose_kernels():
    assert list(choose_kernels(None)) == list(NAMED_KERNELS)
    chosen = choose_kernels("sharpen, box-blur", ["0,1,0;1,-4,1;0,1,0"])
    assert list(chosen) == ["sharpen", "box-blur", "custom 1"]
    assert list(choose_kernels("", ["1"])) == ["custom 1"]
    with pytest.raises(UnknownNameError, match="did you mean sharpen"):
        choose_kernels("sharpn")
    with pytest.raises(TransferlabError, match="no kernels"):
        choose_kernels("")
