"""A large dataset of small images from one we have: each image cut into a grid of tiles.

`neu_tiles`: neu_steel_defects (1,439 images of 200 px) cut 4x4 into tiles of 50 px saved at
64x64 PNG, train and val kept apart as in the source: 17,264 training and 5,760 validation tiles
in 6 classes. It stands in for the large, small-image, unlike-ImageNet data (a 27,000-tile
satellite set) that `auto` is judged on: the same size class, image side and distance from
ImageNet, though tiles of one steel plate look more alike than satellite scenes do.

Usage:
    .venv/bin/python bench/tiles.py OUT [--source ../shared/datasets/neu_steel_defects] [--grid 4] [--side 64]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "datasets" / "neu_steel_defects"


def tile_folder(source: Path, out: Path, grid: int = 4, side: int = 64) -> Path:
    """`out/<split>/<class>/<name>_<row><col>.png` for every image of `source/<split>/<class>/`
    (train, val, test where present); a finished `out` is left as it is."""
    done = out / ".complete"
    if done.is_file():
        return out
    for split_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            target = out / split_dir.name / class_dir.name
            target.mkdir(parents=True, exist_ok=True)
            for path in sorted(class_dir.iterdir()):
                _cut(path, target, grid, side)
    done.touch()
    return out


def _cut(path: Path, target: Path, grid: int, side: int) -> None:
    image = Image.open(path).convert("RGB")
    width, height = image.size
    for row in range(grid):
        for col in range(grid):
            x, y = col * width // grid, row * height // grid
            tile = image.crop((x, y, x + width // grid, y + height // grid)).resize((side, side), Image.BILINEAR)
            tile.save(target / f"{path.stem}_{row}{col}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--grid", type=int, default=4)
    parser.add_argument("--side", type=int, default=64)
    args = parser.parse_args()
    print(tile_folder(args.source, args.out, args.grid, args.side))


if __name__ == "__main__":
    main()
