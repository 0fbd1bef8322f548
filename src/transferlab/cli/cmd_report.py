"""`transferlab report RUN_DIR`: rebuild a run's self-contained HTML report (and its JSON)."""

from __future__ import annotations

import argparse
import sys

from . import _common

EXAMPLES = ("report runs/ft", "report runs/ft --out /tmp/ft-report.html", "report runs/ft --json")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = _common.add_subcommand(
        subparsers, "report", "rebuild a run's HTML report from its run directory",
        "Write RUN_DIR/report.html, one self-contained page (images embedded, no network): data, "
        "strategy and why, model, curves, confusion matrix, per-class metrics, top losses, timings. "
        "report.json beside it holds the same sections as data. 'train' writes both at the end of "
        "every run; this command rebuilds them from the run directory alone.",
        EXAMPLES,
    )
    parser.add_argument("run_dir", help="a run directory written by 'transferlab train'")
    parser.add_argument("--out", metavar="FILE", help="HTML file to write (default: RUN_DIR/report.html); "
                                                     "the JSON goes beside it")
    _common.add_json_flag(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..reports import build_report

    files = build_report(args.run_dir, args.out)
    report = files.report
    if args.json:
        _common.print_json({"html": str(files.html), "json": str(files.json), "seconds": round(files.seconds, 2),
                            **report.to_dict()})
        return _common.EXIT_OK
    size = files.html.stat().st_size / 1e6
    sys.stdout.write(f"report: {files.html} ({len(report.sections)} sections, {report.num_images} images, "
                     f"{size:.1f} MB, {files.seconds:.1f} s)\ndata:   {files.json}\n")
    return _common.EXIT_OK
