"""Generate the bad-input corpus: every awkward file and dataset a user's folder can hold.

    python tests/corpus/make_corpus.py /tmp/corpus      # writes the files and manifest.json

Importable too: `make_corpus(root) -> list[Case]`. Nothing here is a checked-in binary; every
file is made from a few pixels in well under a second.

Layout under `root`:
    clean/{a,b}/        a small trainable dataset (the model that evaluate/predict use)
    mixed/{a,b}/        clean images plus every file-level case, all inside one dataset
    datasets/<case>/    one dataset per dataset-level case (or a CSV inside it)
"""

from __future__ import annotations

import io
import json
import os
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

COMMANDS = ("train", "extract", "advise", "evaluate", "predict", "visualize")

# outcome of a case for one command
USED = "used"  # read and used like any other image
SKIPPED = "skipped"  # left out, with one report line naming the file and the reason
IGNORED = "ignored"  # never an image (OS metadata, hidden, a link back up the tree): silently passed over
REFUSED = "refused"  # the command stops at once: exit code 2 and one error line

DATASET_CASES = ("empty-class-folder", "single-class", "val-class-not-in-train", "csv-missing-duplicates",
                 "all-unreadable", "no-images", "one-image-class")
COLOURS = {"a": (220, 40, 40), "b": (40, 40, 220)}
GOOD_PER_CLASS = 6


@dataclass(frozen=True)
class Expect:
    """What one command must do with a case: an outcome and a fragment of the line it prints."""

    outcome: str
    says: str = ""  # a fragment of the skip reason or of the error line (empty for used/ignored)


@dataclass(frozen=True)
class Case:
    """One corpus case.

    Attributes:
        name: short identifier (`truncated-jpeg`).
        what: the case in words, for the README table.
        scope: "file" (a file inside `mixed/`) or "dataset" (a dataset of its own).
        path: the file (file scope) or the dataset (dataset scope), relative to the corpus root.
        expect: command -> expected behaviour.
        reported: for dataset cases, the paths (relative to the root) that must each appear in a
            skip line, when the command's outcome is not `refused`.
        eval_path: dataset cases: what evaluate/predict are pointed at, when not `path`.
    """

    name: str
    what: str
    scope: str
    path: str
    expect: dict[str, Expect]
    reported: tuple[str, ...] = ()
    eval_path: str | None = None
    notes: str = ""

    def data_path(self, command: str) -> str:
        """The path (relative to the root) a command is given for this case."""
        if self.scope == "file":
            return "mixed"
        uses_a_model = command in ("evaluate", "predict", "visualize")  # new images, not a dataset to learn
        return self.eval_path if uses_a_model and self.eval_path else self.path


# --- pixels --------------------------------------------------------------------------------------


def _pixels(colour, size=(24, 24), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    width, height = size
    noisy = np.array(colour)[None, None, :] + rng.normal(0, 20, (height, width, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _rgb(colour, size=(24, 24), seed: int = 0) -> Image.Image:
    return Image.fromarray(_pixels(colour, size, seed))


def _good_images(folder: Path, n: int = GOOD_PER_CLASS, seed: int = 0) -> None:
    for label, colour in COLOURS.items():
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            _rgb(colour, seed=seed + i).save(folder / label / f"good_{i}.png")


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header (with a valid CRC) claims `width` x `height` pixels."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _jpeg_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


# --- file-level cases: (name, what, file name, writer, expected outcome, reason fragment) --------------

def _write_truncated(path: Path) -> None:
    data = _jpeg_bytes(_rgb(COLOURS["a"], (64, 64)), quality=90)
    path.write_bytes(data[: len(data) // 2])


def _write_exif_rotated(path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    _rgb(COLOURS["a"], (40, 20)).save(path, exif=exif, quality=95)


def _write_cmyk(path: Path) -> None:
    _rgb(COLOURS["a"]).convert("CMYK").save(path, "JPEG", quality=95)


def _write_gray16(path: Path) -> None:
    array = (_pixels(COLOURS["a"])[..., 0].astype(np.uint16) * 257).astype(np.uint16)
    Image.fromarray(array).save(path)  # mode I;16


def _write_palette_transparent(path: Path) -> None:
    image = _rgb(COLOURS["a"]).quantize(16)
    image.save(path, transparency=0)


def _write_rgba(path: Path) -> None:
    rgba = _rgb(COLOURS["a"]).convert("RGBA")
    rgba.putalpha(Image.fromarray(np.full((24, 24), 180, dtype=np.uint8)))
    rgba.save(path)


def _write_gif(path: Path) -> None:
    frames = [_rgb(COLOURS["a"], seed=s).quantize(64) for s in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)


def _symlink_dir_loop(path: Path) -> None:
    os.symlink(".", path)  # a/loop -> a: never descended into


def _symlink_file_loop(path: Path) -> None:
    other = path.with_name("loop-2.jpg")
    os.symlink(other.name, path)
    os.symlink(path.name, other)


FILE_CASES: tuple[tuple[str, str, str, Callable[[Path], None], str, str], ...] = (
    ("truncated-jpeg", "truncated JPEG", "truncated.jpg", _write_truncated, SKIPPED, "truncated"),
    ("zero-byte", "zero-byte file", "zero-byte.jpg", lambda p: p.write_bytes(b""), SKIPPED, "empty file"),
    ("text-as-jpg", "text file named .jpg", "notes.jpg", lambda p: p.write_text("shopping list\n"), SKIPPED,
     "not an image"),
    ("png-as-jpg", "PNG with a .jpg extension", "png-inside.jpg", lambda p: _rgb(COLOURS["a"]).save(p, "PNG"), USED, ""),
    ("cmyk-jpeg", "CMYK JPEG", "cmyk.jpg", _write_cmyk, USED, ""),
    ("png-16-bit", "16-bit grayscale PNG", "gray16.png", _write_gray16, USED, ""),
    ("palette-transparency", "palette PNG with transparency", "palette.png", _write_palette_transparent, USED, ""),
    ("rgba", "RGBA PNG (composited over white)", "rgba.png", _write_rgba, USED, ""),
    ("grayscale", "grayscale JPEG", "gray.jpg", lambda p: _rgb(COLOURS["a"]).convert("L").save(p), USED, ""),
    ("exif-rotated", "EXIF-rotated photo (orientation 6)", "exif-rotated.jpg", _write_exif_rotated, USED, ""),
    ("animated-gif", "animated GIF (first frame)", "animated.gif", _write_gif, USED, ""),
    ("decompression-bomb", "decompression bomb (PNG header claiming 100000x100000)", "bomb.png",
     lambda p: p.write_bytes(_png_claiming(100_000, 100_000)), SKIPPED, "too many pixels"),
    ("one-pixel", "1x1 image", "one-pixel.png", lambda p: Image.new("RGB", (1, 1), COLOURS["a"]).save(p), USED, ""),
    ("spaces-unicode-name", "file name with spaces and non-ASCII", "photo of ñandú 猫 01.png",
     lambda p: _rgb(COLOURS["a"], seed=7).save(p), USED, ""),
    ("symlink-dir-loop", "symlink loop (folder linking to itself)", "loop", _symlink_dir_loop, IGNORED, ""),
    ("symlink-file-loop", "symlink loop (two links to each other)", "loop-1.jpg", _symlink_file_loop, SKIPPED,
     "broken link"),
    ("dangling-symlink", "dangling symlink", "dangling.png", lambda p: os.symlink("gone.png", p), SKIPPED,
     "broken link"),
    ("hidden-file", "hidden file (.name.png, macOS ._ files)", ".hidden.png",
     lambda p: _rgb(COLOURS["a"]).save(p, "PNG"), IGNORED, ""),
    ("ds-store", ".DS_Store", ".DS_Store", lambda p: p.write_bytes(b"\x00\x00\x00\x01Bud1"), IGNORED, ""),
    ("thumbs-db", "Thumbs.db", "Thumbs.db", lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0"), IGNORED, ""),
    ("non-image-suffix", "other file (README.txt)", "README.txt", lambda p: p.write_text("about\n"), SKIPPED,
     "not an image file name"),
)


def _file_cases(root: Path, isolated: bool) -> list[Case]:
    cases = []
    for name, what, filename, write, outcome, says in FILE_CASES:
        write(root / "mixed" / "a" / filename)
        if isolated:  # the same file alone beside clean images: single/<case>/{a,b}
            _good_images(root / "single" / name)
            write(root / "single" / name / "a" / filename)
        expect = dict.fromkeys(COMMANDS, Expect(outcome, says))
        cases.append(Case(name, what, "file", f"mixed/a/{filename}", expect))
    return cases


# --- dataset-level cases --------------------------------------------------------------------------


def _all(outcome: str, says: str = "", **overrides: Expect) -> dict[str, Expect]:
    if "train" in overrides:  # extract and advise read a dataset exactly as train does
        overrides.setdefault("extract", overrides["train"])
        overrides.setdefault("advise", overrides["train"])
    if "predict" in overrides:  # visualize gradcam takes images and folders exactly as predict does
        overrides.setdefault("visualize", overrides["predict"])
    return {command: overrides.get(command, Expect(outcome, says)) for command in COMMANDS}


def _dataset_cases(root: Path) -> list[Case]:
    base = root / "datasets"
    cases = []

    _good_images(base / "empty-class-folder")
    (base / "empty-class-folder" / "c").mkdir()
    cases.append(Case("empty-class-folder", "empty class folder", "dataset", "datasets/empty-class-folder",
                      _all(SKIPPED, "empty class folder", predict=Expect(USED)),
                      reported=("datasets/empty-class-folder/c",)))

    for i in range(4):
        _rgb(COLOURS["a"], seed=i).save(_mkdir(base / "single-class" / "a") / f"{i}.png")
    cases.append(Case("single-class", "single-class dataset", "dataset", "datasets/single-class",
                      _all(USED, train=Expect(REFUSED, "at least 2 class folders"))))

    _good_images(base / "val-class-not-in-train" / "train")
    _good_images(base / "val-class-not-in-train" / "val", n=2, seed=50)
    _rgb((40, 200, 40)).save(_mkdir(base / "val-class-not-in-train" / "val" / "c") / "0.png")
    cases.append(Case("val-class-not-in-train", "`val` class that is not in `train`", "dataset",
                      "datasets/val-class-not-in-train",
                      _all(REFUSED, "not in the training classes", evaluate=Expect(REFUSED, "['c']"),
                           predict=Expect(USED)),
                      eval_path="datasets/val-class-not-in-train/val"))

    cases.append(_csv_case(base))

    for label in COLOURS:
        folder = _mkdir(base / "all-unreadable" / label)
        for i in range(3):
            (folder / f"{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg " + bytes([i]))
    cases.append(Case("all-unreadable", "every image unreadable", "dataset", "datasets/all-unreadable",
                      _all(REFUSED, "could be read", evaluate=Expect(REFUSED, "no readable images"))))

    for label in COLOURS:
        (_mkdir(base / "no-images" / label) / "README.txt").write_text("nothing here\n")
    cases.append(Case("no-images", "class folders without images", "dataset", "datasets/no-images",
                      _all(REFUSED, "no training images", evaluate=Expect(REFUSED, "no readable images"),
                           predict=Expect(REFUSED, "no images found"))))

    _good_images(base / "one-image-class")
    for extra in range(1, GOOD_PER_CLASS):
        (base / "one-image-class" / "b" / f"good_{extra}.png").unlink()
    cases.append(Case("one-image-class", "a class with one image and no `val/`", "dataset",
                      "datasets/one-image-class", _all(USED, train=Expect(REFUSED, "at least 2 per class"),
                           advise=Expect(USED))))  # advice that says it is too small
    return cases


def _csv_case(base: Path) -> Case:
    folder = base / "csv-missing-duplicates"
    _good_images(folder / "img")
    _rgb(COLOURS["b"]).save(_mkdir(base / "outside") / "elsewhere.png")
    rows = ["path,label"] + [f"img/{label}/good_{i}.png,{label}" for label in COLOURS for i in range(GOOD_PER_CLASS)]
    rows += ["img/a/missing.png,a", "img/a/good_0.png,a", "../outside/elsewhere.png,b", "img/b/good_1.png,"]
    (folder / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    first = GOOD_PER_CLASS * 2 + 2  # line numbers of the bad rows (header is line 1)
    lines = [f"datasets/csv-missing-duplicates/labels.csv:{first + k}" for k in range(4)]
    return Case("csv-missing-duplicates",
                "CSV with a missing file, a duplicate row, a path outside its folder, a row without label",
                "dataset", "datasets/csv-missing-duplicates/labels.csv",
                _all(SKIPPED, "", predict=Expect(REFUSED, "none of the 1 images")), reported=tuple(lines),
                notes="predict takes image files or folders; a CSV given to it is one unreadable file")


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- entry points --------------------------------------------------------------------------------


def make_corpus(root: str | os.PathLike, isolated: bool = False) -> list[Case]:
    """Write the whole corpus under `root` (created; must be empty or absent) and its manifest.

    Args:
        root: the folder to fill.
        isolated: also write each file-level case alone in a dataset of its own,
            `single/<case>/{a,b}` (for the per-case reliability table).

    Returns:
        The cases, in table order: file-level cases first, then dataset-level ones.
    """
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    _good_images(root / "clean")
    _good_images(root / "mixed")
    cases = _file_cases(root, isolated) + _dataset_cases(root)
    assert tuple(c.name for c in cases if c.scope == "dataset") == DATASET_CASES
    manifest = [{**asdict(case), "expect": {k: asdict(v) for k, v in case.expect.items()}} for case in cases]
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return cases


def expected_used_in_mixed(cases: list[Case]) -> int:
    """How many images of `mixed/` a command should use: the clean ones plus the used cases."""
    used_cases = sum(1 for c in cases if c.scope == "file" and c.expect["train"].outcome == USED)
    return GOOD_PER_CLASS * len(COLOURS) + used_cases


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_corpus.py OUT_DIR")
    made = make_corpus(sys.argv[1], isolated=True)
    print(f"{len(made)} cases written to {sys.argv[1]} (manifest.json lists them)")
