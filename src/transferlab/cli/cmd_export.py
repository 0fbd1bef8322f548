"""`transferlab export`: a trained run as an ONNX file."""

from __future__ import annotations

import argparse
import sys

from . import _common

EXAMPLES = ("export runs/ft --onnx model.onnx",)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = _common.add_subcommand(
        subparsers, "export", "export a trained run to ONNX",
        "Write the whole classifier as ONNX (input 'image': normalised NCHW float32, output\n"
        "'logits'); class names and preprocessing are stored in the model's metadata.",
        EXAMPLES,
    )
    parser.add_argument("run_dir", help="a run directory written by 'transferlab train'")
    parser.add_argument("--onnx", required=True, help="output .onnx file")
    parser.add_argument("--opset", type=int, default=17)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..strategies.export import export_onnx

    out = export_onnx(args.run_dir, args.onnx, args.opset)
    sys.stdout.write(f"wrote {out}\n")
    return _common.EXIT_OK
