"""`transferlab visualize activations|filters|classmax|gradcam|kernels`: seeing inside the network.

Each subcommand computes with `transferlab.viz`, draws with `viz.render`, writes PNGs into
`--out` and prints what it wrote (`--json`: a list of files and what each shows).
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import numpy as np
import torch

from ..data.scan import Skipped, expand_image_sources
from ..engine.device import pick_device
from ..errors import BadImageError, DataError, TransferlabError
from ..paths import RunDir
from .. import viz
from . import _common

logger = logging.getLogger(__name__)

DEFAULT_OUT = "viz"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = _common.add_subcommand(
        subparsers,
        "visualize",
        summary="activation maps, filters, class images, Grad-CAM, classic kernels (PNG files)",
        description=(
            "Look inside a network. MODEL_OR_RUN is a run directory (its classifier and class names) "
            "or a network name: a backbone (ImageNet weights and classes by default; offline only "
            "efficientnet_lite0/1/2 have them, pass --weights none or a file for the others), a recipe "
            "or a scratch spec. Without --layer each command picks a layer from the network's stages. "
            "PNGs go to --out (default: RUN/viz for a run, ./viz otherwise)."
        ),
        examples=[
            "visualize activations efficientnet_lite0 cat.jpg --layer blocks.2,blocks.4",
            "visualize filters vgg16 --weights none --layer features.0",
            "visualize filters runs/ft --layer blocks.2.0.conv_pw --maximise",
            "visualize classmax efficientnet_lite0 --class tabby --images photos/",
            "visualize classmax runs/ft --class cat --count 8",
            "visualize gradcam runs/ft photos/test/*.jpg --class dog --json",
            'visualize kernels cat.jpg --kernel "0,-1,0;-1,5,-1;0,-1,0"',
        ],
    )
    commands = parser.add_subparsers(dest="viz_command", metavar="WHAT", parser_class=_common.Parser)
    commands.required = True
    for build in (_add_activations, _add_filters, _add_classmax, _add_gradcam, _add_kernels):
        build(commands)
    return parser


def run(args: argparse.Namespace) -> int:
    return args._viz_run(args)


# -- parsers -----------------------------------------------------------------------------------


def _subcommand(commands, name: str, summary: str, examples: list[str], handler, model: bool = True):
    epilog = "examples:\n" + "\n".join(f"  {_common.PROG} visualize {e}" for e in examples)
    parser = commands.add_parser(name, help=summary, description=summary, epilog=epilog,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    # SUPPRESS: given after the subcommand they count, absent they leave `visualize -q` alone
    parser.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="only warnings and errors on stderr")
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="debug messages on stderr")
    if model:
        parser.add_argument("model", metavar="MODEL_OR_RUN", help="a run directory or a network name")
        parser.add_argument("--weights", metavar="imagenet|none|FILE",
                            help="weights for a network name (default: imagenet for backbones, none otherwise)")
        parser.add_argument("--input-size", type=int, metavar="N", help="input side for a network name")
        parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--out", metavar="DIR", help="folder for the PNGs (default: RUN/viz or ./viz)")
    _common.add_json_flag(parser)
    parser.set_defaults(_viz_run=handler)
    return parser


def _add_activations(commands) -> None:
    parser = _subcommand(commands, "activations", "feature maps of chosen layers for one image",
                         ["activations efficientnet_lite0 cat.jpg",
                          "activations runs/ft cat.jpg --layer blocks.1,blocks.4 --order first"], _activations)
    parser.add_argument("image", metavar="IMAGE")
    parser.add_argument("--layer", metavar="NAME[,NAME]", help="layers (default: a middle stage)")
    parser.add_argument("--count", type=int, default=32, metavar="N", help="channels per layer (default: 32)")
    parser.add_argument("--order", choices=viz.activations.ORDERS, default="top",
                        help="top: the most active channels; first: channels 0..N-1 (default: top)")


def _add_filters(commands) -> None:
    parser = _subcommand(commands, "filters", "the kernels (weights) of a convolution",
                         ["filters efficientnet_lite0", "filters vgg16 --weights none --layer features.10",
                          "filters efficientnet_lite0 --layer blocks.1 --maximise --count 8"], _filters)
    parser.add_argument("--layer", metavar="NAME", help="a conv layer (default: the first one)")
    parser.add_argument("--count", type=int, metavar="N", help="filters shown (default: 64, or 8 rows per channel)")
    parser.add_argument("--in-count", type=int, metavar="M",
                        help="input channels shown per filter for deeper layers (default: 8; 64 for 1x1)")
    parser.add_argument("--maximise", action="store_true",
                        help="instead of weights, synthesise the input pattern that excites each channel")
    _add_synthesis_flags(parser)


def _add_classmax(commands) -> None:
    parser = _subcommand(commands, "classmax", "the image that excites a class most, synthesised and real",
                         ["classmax efficientnet_lite0 --class espresso",
                          "classmax runs/ft --class dog --count 8 --steps 128",
                          "classmax efficientnet_lite0 --layer blocks.4 --channel 12"], _classmax)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--class", dest="class_name", metavar="NAME|INDEX",
                        help="class name, an unambiguous part of it, or its index")
    target.add_argument("--channel", type=int, metavar="N", help="maximise channel N of --layer instead")
    parser.add_argument("--layer", metavar="NAME",
                        help="with --channel: its layer (default: a middle stage); with --class: the layer "
                             "whose strongest unit is boxed (default: the Grad-CAM layer)")
    parser.add_argument("--images", metavar="FOLDER_OR_DATA",
                        help="real images to rank (default for a run: its training images)")
    parser.add_argument("--count", type=int, default=6, metavar="N", help="real images shown (default: 6)")
    parser.add_argument("--max-images", type=int, default=1000, metavar="N",
                        help="rank at most N images, a seeded sample of them (default: 1000)")
    parser.add_argument("--no-synthesis", action="store_true", help="only the real images")
    _add_synthesis_flags(parser)


def _add_gradcam(commands) -> None:
    parser = _subcommand(commands, "gradcam", "where the evidence for a class lies in each image",
                         ["gradcam runs/ft dog.jpg", "gradcam efficientnet_lite0 cat.jpg --class tabby",
                          "gradcam runs/ft a.jpg b.jpg --method gradcam --layer blocks.4",
                          "gradcam runs/ft photos/test/dogs/      # every image in a folder"], _gradcam)
    parser.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER")
    parser.add_argument("--class", dest="class_name", metavar="NAME|INDEX",
                        help="also explain this class (the predicted one is always shown)")
    parser.add_argument("--layer", metavar="NAME", help="target layer (default: the last stage with maps)")
    parser.add_argument("--method", choices=tuple(viz.CAM_METHODS), default=viz.gradcam.DEFAULT_METHOD,
                        help=f"CAM variant (default: {viz.gradcam.DEFAULT_METHOD})")


def _add_kernels(commands) -> None:
    parser = _subcommand(commands, "kernels", "the classic kernels (edges, sharpen, blur) applied to an image",
                         ["kernels cat.jpg", "kernels cat.jpg --only sharpen,edge-all --grey",
                          'kernels cat.jpg --kernel "1/16 * 1,2,1;2,4,2;1,2,1"'], _kernels, model=False)
    parser.add_argument("image", metavar="IMAGE")
    parser.add_argument("--kernel", action="append", default=[], metavar="ROWS",
                        help='a custom kernel, rows split by ";" ("0,-1,0;-1,5,-1;0,-1,0"); repeatable')
    parser.add_argument("--only", metavar="NAME[,NAME]",
                        help=f"named kernels to show (default: all: {', '.join(viz.NAMED_KERNELS)}); "
                             "'none' for custom kernels only")
    parser.add_argument("--size", type=int, default=320, metavar="N",
                        help="shorter side the image is resized to first (default: 320)")
    parser.add_argument("--grey", action="store_true", help="convert the image to grey first")


def _add_synthesis_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=viz.classmax.DEFAULT_STEPS, metavar="N",
                        help=f"optimisation steps of the synthesis (default: {viz.classmax.DEFAULT_STEPS})")
    parser.add_argument("--size", type=int, metavar="N", help="side of the synthesised image (default: input size)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthesis (default: 0)")


# -- handlers ----------------------------------------------------------------------------------


def _activations(args) -> int:
    subject, out = _subject(args), _out_dir(args)
    image = viz.prepare_image(args.image, subject.preprocessing)
    inputs = image.tensor[None].to(viz.sources.model_device(subject.model))
    layers = _split(args.layer) or [viz.default_layer(subject.model, "activations", inputs)]
    grids = viz.activation_maps(subject.model, inputs, layers, args.count, args.order)
    written = []
    for grid in grids:
        path = viz.plot_activation_grid(grid, out / f"activations_{_slug(grid.layer)}_{_slug(Path(args.image).stem)}.png",
                                        image=image.display)
        written.append({"file": str(path), **grid.to_dict()})
    return _report(args, written)


def _filters(args) -> int:
    subject, out = _subject(args), _out_dir(args)
    if args.maximise:
        layer = args.layer or viz.default_layer(subject.model, "activations", subject.blank_input())
        channels = range(args.count or 8)
        results = viz.synthesise_channels(subject.model, subject.preprocessing, layer, channels, _settings(args))
        path = viz.plot_image_grid([r.image for r in results], [f"channel {c}" for c in channels],
                                   out / f"patterns_{_slug(layer)}.png",
                                   title=f"{layer}: inputs that excite each channel ({args.steps} steps)")
        return _report(args, [{"file": str(path), "layer": layer, "channels": list(channels),
                               "objective": [round(r.final, 6) for r in results]}])
    bank = viz.conv_filters(subject.model, args.layer, args.count, args.in_count)
    path = viz.plot_filters(bank, out / f"filters_{_slug(bank.layer)}.png")
    return _report(args, [{"file": str(path), **bank.to_dict()}])


def _classmax(args) -> int:
    subject, out = _subject(args), _out_dir(args)
    if args.channel is not None:
        return _channelmax(args, subject, out)
    index = viz.resolve_class(subject.classes, args.class_name)
    name = subject.classes[index]
    if args.no_synthesis and not (args.images or subject.data):
        raise DataError("--no-synthesis needs real images: pass --images FOLDER")
    synthesis = None
    if not args.no_synthesis:
        synthesis = viz.synthesise_class(subject.model, subject.preprocessing, index, name, _settings(args))
    reps, skipped = _representatives(args, subject, index)
    path = viz.plot_class_maximisation(synthesis, reps, out / f"classmax_{_slug(name)}.png",
                                       title=f"'{name}' (class {index}) for {subject.label}")
    entry = {"file": str(path), "class": name, "index": index,
             "representatives": [r.to_dict() for r in reps]}
    if synthesis is not None:
        entry["synthesis"] = {"steps": len(synthesis.history), "logit": synthesis.final,
                              "probability": synthesis.probability}
    return _report(args, [entry], skipped)


def _channelmax(args, subject, out: Path) -> int:
    layer = args.layer or viz.default_layer(subject.model, "activations", subject.blank_input())
    (result,) = viz.synthesise_channels(subject.model, subject.preprocessing, layer, [args.channel], _settings(args))
    path = viz.plot_image_grid([result.image], [f"objective {result.final:.3g}"],
                               out / f"classmax_{_slug(layer)}_channel{args.channel}.png", title=result.target)
    return _report(args, [{"file": str(path), "layer": layer, "channel": args.channel, "objective": result.final}])


def _representatives(args, subject, index: int):
    paths = _candidate_images(args, subject)
    if not paths:
        return [], []
    reps, skipped = viz.class_representatives(subject.model, subject.preprocessing, paths, index, args.count,
                                              args.layer, progress=_common.progress_enabled(args))
    return reps, skipped


def _gradcam(args) -> int:
    subject, out = _subject(args), _out_dir(args)
    chosen = viz.resolve_class(subject.classes, args.class_name) if args.class_name else None
    device = viz.sources.model_device(subject.model)
    paths = expand_image_sources(args.images)
    if not paths:
        raise DataError(f"no images found in {', '.join(args.images)}")
    written, skipped, layer = [], [], args.layer
    for number, path in enumerate(paths):
        try:
            image = viz.prepare_image(path, subject.preprocessing)
        except BadImageError as exc:
            logger.warning("skipped %s", exc)
            skipped.append(Skipped(str(path), str(exc)))
            continue
        inputs = image.tensor[None].to(device)
        layer = layer or viz.default_layer(subject.model, "gradcam", inputs)
        prefix = f"gradcam_{number:02d}_" if len(paths) > 1 else "gradcam_"
        file = out / f"{prefix}{_slug(Path(image.path).stem)}.png"
        written.append(_explain(args, subject, image, inputs, layer, chosen, file))
    if not written:
        raise DataError(f"none of the {len(paths)} images found in {', '.join(args.images)} could be read")
    return _report(args, written, skipped)


def _explain(args, subject, image, inputs, layer: str, chosen: int | None, file: Path) -> dict:
    cams = viz.class_activation_maps(subject.model, inputs, layer, None, args.method)
    if chosen is not None and chosen != cams[0].class_index:
        cams += viz.class_activation_maps(subject.model, inputs, layer, chosen, args.method)
    labels = ["predicted", "class"][: len(cams)]
    captions = [f"{label}: {subject.classes[c.class_index]} ({c.probability:.0%})" for label, c in zip(labels, cams)]
    path = viz.plot_gradcam(image.display, cams, captions, file)
    classes = [{"role": label, "class": subject.classes[c.class_index], "index": c.class_index,
                "probability": c.probability, "logit": c.score} for label, c in zip(labels, cams)]
    return {"file": str(path), "image": image.path, "layer": layer, "method": args.method, "classes": classes}


def _kernels(args) -> int:
    from ..data.decode import resize_shorter
    from ..data.images import open_rgb

    if args.size < 8:
        raise TransferlabError(f"--size must be at least 8, not {args.size}")
    only = "" if args.only == "none" else args.only
    kernels = viz.choose_kernels(only, args.kernel)
    picture = resize_shorter(open_rgb(args.image, min_side=args.size), args.size)
    array = np.asarray(picture.convert("L") if args.grey else picture)
    results = viz.kernel_gallery(array, kernels)
    out = _out_dir(args)
    path = viz.plot_kernel_gallery(array, results, out / f"kernels_{_slug(Path(args.image).stem)}.png")
    entries = [{"name": r.name, "kernel": r.kernel.tolist()} for r in results]
    return _report(args, [{"file": str(path), "image": args.image, "kernels": entries}])


# -- helpers -----------------------------------------------------------------------------------


def _subject(args) -> viz.VizSubject:
    subject = viz.load_subject(args.model, args.weights, args.input_size)
    subject.model.to(pick_device(args.device))
    return subject


def _out_dir(args) -> Path:
    if args.out:
        out = Path(args.out)
    elif getattr(args, "model", None) and viz.sources.is_run_dir(args.model):
        out = RunDir(args.model).viz
    else:
        out = Path(DEFAULT_OUT)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _settings(args) -> viz.SynthesisSettings:
    if args.size is not None and args.size < 16:
        raise TransferlabError(f"--size must be at least 16, not {args.size}")
    return viz.SynthesisSettings(steps=args.steps, size=args.size, seed=args.seed)


def _candidate_images(args, subject) -> list[str]:
    """--images (a folder, searched recursively, or a dataset), else a run's training images.

    At most --max-images of them, a seeded sample.
    """
    from ..data.images import is_image_name
    from ..data.sources import load_splits

    source = args.images or subject.data
    if source is None:
        logger.info("no real images to rank: pass --images FOLDER to add them")
        return []
    if args.images and Path(source).is_dir():
        paths = sorted(str(p) for p in Path(source).rglob("*") if p.is_file() and is_image_name(p))
        if not paths:
            raise DataError(f"{source}: no images found (searched recursively)")
    else:
        paths = list(load_splits(source).train.paths)
    if len(paths) > args.max_images:
        rng = np.random.default_rng(args.seed)
        paths = [paths[i] for i in sorted(rng.choice(len(paths), args.max_images, replace=False))]
        logger.info("ranking a seeded sample of %d images (--max-images)", args.max_images)
    return paths


def _report(args, written: list[dict], skipped: list | None = None) -> int:
    skipped = skipped or []
    if args.json:
        _common.print_json({"written": written, "skipped": [{"image": s.path, "reason": s.reason} for s in skipped]})
    else:
        for entry in written:
            print(f"wrote {entry['file']}")
    return _common.EXIT_PARTIAL if skipped else _common.EXIT_OK


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _slug(text: str) -> str:
    """A file-name-safe version of a layer or class name ("tabby, tabby cat" -> "tabby_tabby_cat")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "x"
