"""`transferlab augment`: see what the network will see, list the operations, check a spec."""

from __future__ import annotations

import argparse
import random
import sys

from ..errors import TransferlabError
from . import _common

EXAMPLES = (
    "augment photos/ --preview grid.png                       # the medium preset, 4 images x 6 views",
    "augment photos/ --preview grid.png --augment heavy --rows 6 --views 8 --seed 1",
    "augment steel/ --preview grid.png --augment '[hflip, vflip, {op: rotate, degrees: 90}]'",
    "augment photos/ --preview grid.png --augment trivial --mixup 0.2 --cutmix 1.0   # + rows of mixed pairs",
    "augment --augment my_aug.yaml                             # validate a spec, print it resolved",
    "augment --ops                                              # every operation with its valid ranges",
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = _common.add_subcommand(
        subparsers, "augment", "preview training augmentation, list its operations",
        "With DATA and --preview, draw a grid: each row one training image, the first column as\n"
        "the network sees it at evaluation, the next columns augmented versions (normalisation\n"
        "undone). Without DATA, print the resolved spec; with --ops, every operation, its\n"
        "parameters and their valid ranges. A spec is a preset (none, light, medium, heavy), a\n"
        "YAML file holding a list such as '- hflip' / '- {op: rotate, degrees: 20}', or such a\n"
        "list inline. --mixup/--cutmix add one row of batch-mixed examples per image (each image\n"
        "mixed with the row above it, as training mixes neighbours in a batch), captioned with the\n"
        "soft label the loss sees.",
        EXAMPLES,
    )
    parser.add_argument("data", nargs="?", help="image folder, CSV or built-in dataset name")
    parser.add_argument("--preview", metavar="PNG", help="write the preview grid to this file")
    parser.add_argument("--augment", default="medium", metavar="SPEC",
                        help="preset, YAML file or inline list (default: medium)")
    parser.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA", help="show MixUp at this alpha")
    parser.add_argument("--cutmix", type=float, default=0.0, metavar="ALPHA", help="show CutMix at this alpha")
    parser.add_argument("--rows", type=int, default=4, help="source images, one per row (default: 4)")
    parser.add_argument("--views", type=int, default=6, help="augmented views per image (default: 6)")
    parser.add_argument("--seed", type=int, default=0, help="which images and which random draws")
    parser.add_argument("--backbone", default="efficientnet_lite0", help="whose preprocessing (size, crop)")
    parser.add_argument("--input-size", type=int, help="square input side (default: the backbone's)")
    parser.add_argument("--ops", action="store_true", help="list the operations and presets, then exit")
    _common.add_json_flag(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..data.augment import describe_ops, resolve_augment
    from ..data.mix import batch_mix, describe_mix

    if args.ops:
        return _print_ops(describe_ops(), args.json)
    spec = resolve_augment(args.augment)
    batch_mix(args.mixup, args.cutmix, 2)  # a bad alpha fails now, in one line
    if args.data is None:
        if args.preview:
            raise TransferlabError("--preview needs DATA: the images to augment")
        return _print_spec(spec, args.json)
    if not args.preview:
        raise TransferlabError("give --preview FILE.png to draw the augmented images of DATA")
    if not 1 <= args.rows <= 32 or not 1 <= args.views <= 32:
        raise TransferlabError(f"--rows and --views must be between 1 and 32, got {args.rows} and {args.views}")
    out, sources = _draw_preview(args, spec)
    if args.json:
        _common.print_json({"out": str(out), "augment": spec.name, "ops": spec.to_list(),
                            "mix": describe_mix(args.mixup, args.cutmix),
                            "rows": [{"path": p, "label": label} for p, label in sources]})
    else:
        mixed = f", then {len(sources)} rows mixed by {describe_mix(args.mixup, args.cutmix)}" \
            if args.mixup or args.cutmix else ""
        sys.stdout.write(f"wrote {out}: {len(sources)} images x {args.views} views of augmentation "
                         f"'{spec.name}'{mixed}\n")
    return _common.EXIT_OK


def _draw_preview(args: argparse.Namespace, spec):
    from ..backbones.registry import get_backbone_spec
    from ..data import decode_images, load_splits
    from ..data.augment import preview_views
    from ..data.mix import describe_mix
    from ..viz.render.augment import plot_augment_grid

    pre = get_backbone_spec(args.backbone).preprocessing
    pre = pre.at_size(args.input_size) if args.input_size else pre
    train = load_splits(args.data, seed=args.seed).train
    picked = _pick_rows(train.paths, train.labels, args.rows, args.seed)
    decoded, _ = decode_images([train.paths[i] for i in picked], pre.resize_size, pre.interpolation)
    if not decoded.images:
        raise TransferlabError(f"{args.data}: none of the chosen images could be read")
    label_of = {train.paths[i]: train.classes[train.labels[i]] for i in picked}
    sources = [(p, label_of[p]) for p in decoded.paths]
    rows = preview_views(decoded.images, pre, spec, args.views, args.seed)
    names = [f"{label}: {p.rsplit('/', 1)[-1]}" for p, label in sources]
    title = f"augment '{spec.name}': " + ", ".join(op.name for op in spec.ops) if spec.ops else "no augmentation"
    mixed = _mixed_rows(args, spec, pre, decoded.images, [label for _, label in sources], train.classes)
    if mixed:
        title += f"; then {describe_mix(args.mixup, args.cutmix)}"
    out = plot_augment_grid([[img.numpy() for img in row] for row in rows], names, args.preview, title, mixed)
    return out, sources


def _mixed_rows(args: argparse.Namespace, spec, pre, images, labels: list[str], classes) -> list:
    """The preview's batch-mixed rows (label, [(image, soft-label caption)]), none when mixing is off."""
    from ..data.mix import batch_mix, mixed_caption, preview_mixed

    mix = batch_mix(args.mixup, args.cutmix, len(classes))
    if mix is None:
        return []
    index = {name: k for k, name in enumerate(classes)}
    rows = preview_mixed(images, [index[label] for label in labels], pre, spec, mix, args.views, args.seed + 1)
    return [(f"{labels[i]} + {labels[i - 1]}", [(img.numpy(), mixed_caption(soft, classes)) for img, soft in row])
            for i, row in enumerate(rows)]


def _pick_rows(paths, labels, rows: int, seed: int) -> list[int]:
    """Up to `rows` image indices, taking classes in turn so the rows show different classes."""
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(index)
    for members in by_class.values():
        rng.shuffle(members)
    picked, turn = [], 0
    queues = [by_class[k] for k in sorted(by_class)]
    while len(picked) < min(rows, len(paths)):
        queue = queues[turn % len(queues)]
        if queue:
            picked.append(queue.pop())
        turn += 1
    return picked


def _print_spec(spec, as_json: bool) -> int:
    if as_json:
        _common.print_json({"augment": spec.name, "ops": spec.to_list()})
    else:
        sys.stdout.write(f"# augmentation '{spec.name}' ({len(spec.ops)} operations, applied in order)\n")
        sys.stdout.write(spec.to_yaml() if spec.ops else "[]\n")
    return _common.EXIT_OK


def _print_ops(ops: list[dict], as_json: bool) -> int:
    from ..data.augment import PRESETS, resolve_augment

    presets = {name: resolve_augment(name).to_list() for name in PRESETS}
    if as_json:
        _common.print_json({"ops": ops, "presets": presets})
        return _common.EXIT_OK
    width = max(len(op["op"]) for op in ops) + 2
    lines = []
    for op in ops:
        lines.append(f"{op['op']:<{width}}{op['summary']}")
        lines += [f"{'':<{width}}  {k}: {p['range']}, default {p['default']}" for k, p in op["params"].items()]
    lines += ["", "presets (transferlab augment --augment NAME prints one resolved):"]
    lines += [f"  {name}: " + (", ".join(item["op"] for item in ops_) or "nothing") for name, ops_ in presets.items()]
    sys.stdout.write("\n".join(lines) + "\n")
    return _common.EXIT_OK
