"""The augmentation section: the resolved spec a run trained with, and views drawn with it."""

from __future__ import annotations

import random

from ...errors import TransferlabError
from ...paths import RunDir
from ..collect import RunData
from ..document import Block, Code, Figures, Text
from ..images import render_figure

PREVIEW_ROWS = 3
PREVIEW_VIEWS = 5


def augmentation(run: RunData) -> list[Block] | None:
    """augment.yaml (written by runs that augment) and a preview grid of augmented training images."""
    from ...data.augment import resolve_augment

    spec_path = run.path(RunDir.AUGMENT)
    if spec_path is None or not resolve_augment(str(spec_path)).ops:
        return None  # no augmentation: nothing to show
    blocks: list[Block] = [
        Text("Each epoch the training images went through these random operations; validation and test "
             "images only through the evaluation resize and centre crop."),
        Code(spec_path.read_text(encoding="utf-8"),
             title=f"augment.yaml (reuse with --augment {spec_path})"),
    ]
    try:
        blocks.append(Figures((_preview(run, str(spec_path)),)))
    except (TransferlabError, OSError) as exc:
        blocks.append(Text(f"No preview: the training images cannot be read now ({exc})."))
    return blocks


def _preview(run: RunData, spec_path: str):
    from ...data import decode_images, load_splits
    from ...data.augment import preview_views, resolve_augment
    from ...viz.render.augment import plot_augment_grid

    spec, pre = resolve_augment(spec_path), run.preprocessing
    train = load_splits(str(run.config["data"]), run.config.get("val_fraction", 0.2), run.config.get("seed", 0)).train
    picked = _one_per_class(train.labels, PREVIEW_ROWS, run.config.get("seed", 0))
    decoded, _ = decode_images([train.paths[i] for i in picked], pre.resize_size, pre.interpolation)
    if not decoded.images:
        raise TransferlabError("none of the chosen images could be decoded")
    label_of = {train.paths[i]: train.classes[train.labels[i]] for i in picked}
    rows = preview_views(decoded.images, pre, spec, PREVIEW_VIEWS, seed=0)
    names = [f"{label_of[p]}: {p.rsplit('/', 1)[-1]}" for p in decoded.paths]
    caption = (f"First column: the image as evaluated; then {PREVIEW_VIEWS} random training views drawn "
               f"with the augmentation above (normalisation undone).")
    return render_figure(lambda out: plot_augment_grid([[v.numpy() for v in row] for row in rows], names, out),
                         caption, source=RunDir.AUGMENT)


def _one_per_class(labels, count: int, seed: int) -> list[int]:
    """`count` image indices from different classes (as many classes as there are), seeded."""
    rng, first = random.Random(seed), {}
    order = list(range(len(labels)))
    rng.shuffle(order)
    for index in order:
        first.setdefault(int(labels[index]), index)
    return [first[k] for k in sorted(first)][:count]
