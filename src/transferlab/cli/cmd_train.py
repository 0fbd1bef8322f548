"""`transferlab train`: a folder of labelled images -> a trained, evaluated classifier."""

from __future__ import annotations

import argparse
import json
import sys

from ..config import NORMALISATIONS, OPTIMIZERS, SCHEDULES, STRATEGIES, TrainConfig
from ..engine.distributed import is_main_process, launched_distributed
from ..paths import RunDir
from . import _common
from ._runtime import launch_processes

EXAMPLES = (
    "train digits                                   # --strategy auto: measure the data, run the plan",
    "train digits --strategy features",
    "train photos/ --strategy linear --backbone efficientnet_lite0",
    "train steel/ --strategy linear --layer blocks.4        # an earlier layer for data unlike ImageNet",
    "train photos/ --strategy finetune --unfreeze 2 --epochs 5 --out runs/ft",
    "train photos/ --strategy finetune --backbone vgg16 --unfreeze-from features.24",
    "train mnist5k --strategy scratch --model conv32-pool-conv64-pool-flatten-dense128-dropout0.5",
    "train photos/ --strategy finetune --out runs/ft --resume",
    "train photos/ --strategy finetune --augment trivial --mixup 0.2 --cutmix 1.0",
    "train photos/ --strategy auto --budget 10m      # measure (as transferlab advise), then run the plan",
    "train photos/ --strategy finetune --devices 2   # 2 processes (DDP) on this machine, as torchrun would",
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = _common.add_subcommand(
        subparsers, "train", "train a classifier with a transfer-learning strategy",
        "Train on DATA: a folder root/<class>/*.jpg (optionally train/ val/ test/ inside), a CSV\n"
        "with columns path,label[,split], or a built-in dataset (digits, mnist5k, lfw-faces).\n"
        "Writes config.yaml, metrics.csv, model.safetensors, summary.json, curves.png and\n"
        "confusion.png into the run directory.",
        EXAMPLES,
    )
    parser.add_argument("data", help="image folder, CSV file or built-in dataset name")
    parser.add_argument("--strategy", default="auto", choices=STRATEGIES,
                        help="how to train (default: auto, which measures the data and picks one)")
    _common.add_backbone_arguments(parser, measured=True)
    parser.add_argument("--model", help="scratch: a recipe name (transferlab recipes) or a spec string")
    parser.add_argument("--layer", help="take features from this named layer (linear/features)")
    parser.add_argument("--out", help="run directory (default: runs/<data>-<strategy>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--epochs", type=int, help="epochs (default: strategy's own)")
    optim.add_argument("--epoch-images", type=int, help="finetune/scratch: training images per epoch, drawn afresh "
                                                        "each epoch (default: all)")
    optim.add_argument("--batch-size", type=int, default=32)
    optim.add_argument("--lr", type=float, help="learning rate (default: strategy's own)")
    optim.add_argument("--optimizer", default="adamw", choices=OPTIMIZERS)
    optim.add_argument("--schedule", default="cosine", choices=SCHEDULES)
    optim.add_argument("--weight-decay", type=float, help="L2 regularisation (decoupled for adamw)")
    optim.add_argument("--l1", type=float, default=0.0, help="L1 penalty on weights")
    optim.add_argument("--max-norm", type=float, help="max-norm constraint on each unit's weights")
    optim.add_argument("--dropout", type=float, default=0.5, help="dropout of the dense head")
    optim.add_argument("--hidden", type=int, default=256, help="hidden units of the dense head (0: linear)")
    optim.add_argument("--label-smoothing", type=float, default=0.0)
    optim.add_argument("--class-weights", action="store_true", help="weight classes by inverse frequency")
    optim.add_argument("--patience", type=int, default=5, help="early stop after this many epochs without gain")
    optim.add_argument("--probe", default="logistic", choices=("logistic", "svm"), help="linear strategy's head")
    optim.add_argument("--views", type=int, default=TrainConfig.views,
                       help=f"features-aug: augmented views cached per image (default: {TrainConfig.views})")
    optim.add_argument("--budget", help="auto: time for advice + training, e.g. 90s, 10m, 1h (the plan fits it; "
                                        "default 10m)")
    tune = parser.add_argument_group("fine-tuning")
    tune.add_argument("--unfreeze", type=int, default=2, help="unfreeze the last N stage groups (-1: all)")
    tune.add_argument("--unfreeze-from", help="unfreeze every layer from this named layer on")
    tune.add_argument("--lr-mult", type=float, help="rate multiplier per group going shallower (default: 0.5; with --unfreeze -1: 1.0, one rate)")
    tune.add_argument("--no-frozen-prefix", dest="frozen_prefix", action="store_false",
                      help="run the whole network every epoch instead of the frozen prefix once per image and view")
    tune.add_argument("--lr-find", action="store_true",
                      help="run the learning-rate range test (transferlab lr-find) before phase 2 and train at "
                           "its suggestion")
    tune.add_argument("--bn-policy", default="frozen", choices=("frozen", "train"),
                      help="BatchNorm statistics in unfrozen parts (frozen parts are always frozen)")
    data = parser.add_argument_group("data")
    data.add_argument("--normalisation", default="backbone", choices=NORMALISATIONS,
                      help="backbone's mean/std, plain 0-1, or measured on the training set")
    data.add_argument("--augment", metavar="SPEC",
                      help="training augmentation: none|light|medium|heavy, a YAML file, or an inline list "
                           "such as '[hflip, {op: rotate, degrees: 10}]' (see: transferlab augment --ops)")
    data.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                      help="finetune/scratch: blend pairs of images and their labels, weights drawn from "
                           "Beta(ALPHA, ALPHA), e.g. 0.2 (default: 0, off)")
    data.add_argument("--cutmix", type=float, default=0.0, metavar="ALPHA",
                      help="finetune/scratch: paste a box of one image into another, labels mixed by area, "
                           "e.g. 1.0 (default: 0, off); with --mixup, one of the two per batch")
    _common.add_split_arguments(data)
    data.add_argument("--workers", type=int, help="DataLoader worker processes (default: 0 on CPU, up to 8 with CUDA)")
    data.add_argument("--tta", default=None, choices=("none", "flip", "crops"),
                      help="score val/test averaging over test-time views (flip: 2, crops: 6), also the saved "
                           "model's default for predict/evaluate (default: none; auto measures it)")
    speed = parser.add_argument_group("speed")
    speed.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                       help="feature extraction: auto = bf16 on CUDA, fp32 on the CPU; bf16 on a CPU with "
                            "AVX512-BF16/AMX is about twice as fast (features within 0.1%% of fp32)")
    speed.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                       help="torch.compile the base for feature extraction (default: only for large extractions)")
    speed.add_argument("--devices", type=int, default=1, metavar="N",
                       help="train in N processes on this machine (DistributedDataParallel; GPUs or CPU cores); "
                            "the same as torchrun --standalone --nproc_per_node N -m transferlab train ...")
    _common.add_json_flag(parser)
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The `TrainConfig` described by the parsed flags."""
    return TrainConfig(
        data=args.data, strategy=args.strategy, backbone=args.backbone or TrainConfig.backbone,
        compare_backbones=False if args.backbone else None, weights=args.weights, model=args.model,
        input_size=args.input_size, layer=args.layer, epochs=args.epochs, epoch_images=args.epoch_images, batch_size=args.batch_size, lr=args.lr,
        optimizer=args.optimizer, schedule=args.schedule, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing, class_weights=args.class_weights, l1=args.l1, max_norm=args.max_norm,
        dropout=args.dropout, hidden=args.hidden, patience=args.patience, probe=args.probe, views=args.views, unfreeze=args.unfreeze,
        unfreeze_from=args.unfreeze_from, lr_mult=args.lr_mult, bn_policy=args.bn_policy, frozen_prefix=args.frozen_prefix,
        normalisation=args.normalisation, augment=args.augment, mixup=args.mixup, cutmix=args.cutmix,
        val_fraction=args.val_fraction, seed=args.seed,
        device=args.device, workers=args.workers, precision=args.precision, compile=args.compile,
        engine=args.engine, tta=args.tta,
        lr_find=args.lr_find,
        budget=_budget(args.budget),
    )


def _budget(text: str | None) -> float | None:
    from ..advise.budget import parse_budget

    return parse_budget(text) if text else None


def _without_devices(argv: list[str]) -> list[str]:
    """`argv` minus `--devices N` / `--devices=N` (each launched process is one device)."""
    kept, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--devices":
            skip = True
        elif not item.startswith("--devices="):
            kept.append(item)
    return kept


def run(args: argparse.Namespace) -> int:
    from ..api import train_config
    from ..data.augment import resolve_augment

    if args.devices > 1 and not launched_distributed():
        return launch_processes(args.devices, _without_devices(args._argv))
    config = config_from_args(args)
    if config.augment is not None:
        resolve_augment(config.augment)  # a bad spec fails now, in one line, not after extraction
    try:
        result = train_config(config, args.out, progress=_common.progress_enabled(args), resume=args.resume)
    except KeyboardInterrupt:
        out = args.out or RunDir.default(args.data, args.strategy).root
        _common.report_error(f"interrupted; completed epochs and cached features are saved: rerun the same "
                             f"command with --out {out} --resume")
        return 130
    summary = result.summary
    if not is_main_process():  # rank 0 speaks for a distributed run
        return _common.EXIT_OK
    if args.json:
        _common.print_json({"out": str(result.out), **summary})
        return _common.EXIT_OK
    val = summary["val"]
    lines = [
        f"run: {result.out}",
        f"strategy: {summary['strategy']}  backbone: {summary['backbone']}  weights: {summary['weights']}",
        f"val accuracy: {val['accuracy']:.4f}  loss: {val['loss']:.4f}  ({val['num_samples']} images)",
    ]
    if "test" in summary:
        lines.append(f"test accuracy: {summary['test']['accuracy']:.4f}  ({summary['test']['num_samples']} images)")
    skipped = summary["data"]["skipped"]
    if skipped:
        lines.append(f"skipped {len(skipped)} unreadable or unusable files (listed in summary.json)")
    decision = summary["details"].get("decision")
    if decision:
        lines.append(f"auto: {decision['reasons'][-1]}")
        lines += [f"auto gave up: {item}" for item in decision["budget"].get("given_up", [])]
    lines.append(f"time: {summary['seconds']['total']:.1f}s")
    sys.stdout.write("\n".join(lines) + "\n")
    return _common.EXIT_OK
