"""open_rgb on awkward files made in tmp_path: broken, disguised, odd modes, rotated, bombs."""

from __future__ import annotations

import io
import resource
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from transferlab.data import decode_one, open_rgb
from transferlab.data.images import MAX_PIXELS, is_image_name
from transferlab.errors import BadImageError


def _noise(size=(64, 48), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR (and its CRC) is patched to claim width x height pixels."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


# --- files that must be refused ------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_is_a_bad_image(tmp_path, fmt):
    buffer = io.BytesIO()
    _noise().save(buffer, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(BadImageError, match="cut"):
        open_rgb(path)


def test_zero_byte_file_says_empty(tmp_path):
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(BadImageError, match="empty file"):
        open_rgb(path)


def test_text_named_jpg_is_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("definitely not a JPEG\n")
    with pytest.raises(BadImageError, match="not an image"):
        open_rgb(path)


def test_missing_file(tmp_path):
    with pytest.raises(BadImageError, match="not found"):
        open_rgb(tmp_path / "ghost.png")


def test_decompression_bomb_refused_from_the_header_without_allocating(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(100_000, 100_000))
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with pytest.raises(BadImageError, match="too many pixels"):
        open_rgb(path)
    assert not decoded  # refusing reads the header only; decoding would take minutes
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 500 * 1024


def test_moderate_bomb_between_one_and_two_limits_is_refused(tmp_path):
    # Pillow only *warns* between MAX_IMAGE_PIXELS and twice that; open_rgb must still refuse.
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(10_000, 10_000))
    with pytest.raises(BadImageError, match="too many pixels"):
        open_rgb(path)


def test_own_pixel_limit_holds_when_pillow_limit_is_off(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(20_000, 20_000))
    with pytest.raises(BadImageError, match=str(MAX_PIXELS)):
        open_rgb(path)


# --- files that must load ------------------------------------------------------------------


def test_png_with_jpg_extension_loads_exactly(tmp_path):
    image = _noise()
    path = tmp_path / "really_a_png.jpg"
    image.save(path, format="PNG")
    out = open_rgb(path)
    assert out.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(image))


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path)  # pure red in CMYK
    out = open_rgb(path)
    assert out.mode == "RGB"
    r, g, b = out.getpixel((8, 8))
    assert r > 240 and g < 15 and b < 15


def test_16_bit_grayscale_png_scales_to_8_bit(tmp_path):
    path = tmp_path / "depth.png"
    Image.fromarray(np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I")
    out = np.asarray(open_rgb(path))
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[..., 0], [[0, 255], [127, 3]])
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    dim = tmp_path / "dim.png"  # a dark 16-bit image stays dark: scaled by 65535, not by its max
    Image.fromarray(np.full((2, 2), 32768, dtype=np.uint16)).save(dim)
    assert np.asarray(open_rgb(dim)).max() == 127


def test_palette_png_transparency_becomes_white(tmp_path):
    path = tmp_path / "palette.png"
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)  # index 0 black (transparent), 1 red
    image.putpixel((0, 0), 1)
    image.save(path, transparency=0)
    out = open_rgb(path)
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 0, 0)
    assert out.getpixel((3, 3)) == (255, 255, 255)  # black but transparent -> white, not black


def test_rgba_is_composited_over_white(tmp_path):
    path = tmp_path / "rgba.png"
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    rgba[0, 1] = (255, 0, 0, 0)  # invisible red
    rgba[1, 0] = (0, 0, 0, 128)  # half-transparent black
    Image.fromarray(rgba, mode="RGBA").save(path)
    out = np.asarray(open_rgb(path)).astype(int)
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[0, 1]) == (255, 255, 255)
    assert all(abs(v - 127) <= 2 for v in out[1, 0])


@pytest.mark.parametrize("mode, colour, expected", [("L", 77, (77, 77, 77)), ("LA", (100, 0), (255, 255, 255))])
def test_grayscale_modes_become_rgb(tmp_path, mode, colour, expected):
    path = tmp_path / f"{mode}.png"
    Image.new(mode, (3, 3), colour).save(path)
    out = open_rgb(path)
    assert out.mode == "RGB" and out.getpixel((1, 1)) == expected


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "phone.jpg"
    array = np.zeros((20, 40, 3), dtype=np.uint8)
    array[:, :20] = (255, 0, 0)  # left half red, right half blue
    array[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(array).save(path, exif=exif, quality=95)
    out = open_rgb(path)
    assert out.size == (20, 40)  # transposed
    assert out.getpixel((10, 5))[0] > 200  # the left half is now on top
    assert out.getpixel((10, 35))[2] > 200


def test_animated_gif_gives_first_frame_rgb(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    out = open_rgb(path)
    assert out.mode == "RGB" and out.size == (10, 10)
    assert out.getpixel((5, 5)) == (255, 0, 0)


def test_one_pixel_image_decodes_and_upscales(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (10, 20, 30)).save(path)
    assert open_rgb(path).size == (1, 1)
    tensor = decode_one(str(path), 32)
    assert tuple(tensor.shape) == (3, 32, 32)
    assert tuple(tensor[:, 16, 16].tolist()) == (10, 20, 30)


def test_jpeg_draft_mode_decodes_small_but_not_too_small(tmp_path):
    path = tmp_path / "big.jpg"
    _noise((2000, 1500)).save(path, quality=80)
    out = open_rgb(path, min_side=200)
    assert 200 <= min(out.size) < 1500
    assert out.size[0] / out.size[1] == pytest.approx(2000 / 1500, rel=0.01)
    assert open_rgb(path).size == (2000, 1500)  # no min_side: full size


def test_is_image_name():
    assert is_image_name("a/B.JPG") and is_image_name("x.tiff")
    assert not is_image_name(".hidden.png") and not is_image_name("notes.txt")
