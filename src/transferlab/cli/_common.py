"""Helpers shared by the subcommands: parser conventions, errors, progress bars, JSON."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from ..data.transforms import TTA_MODES
from ..errors import TransferlabError

if TYPE_CHECKING:  # imported where used: parsing the command line stays light
    from ..backbones import BackboneChoice
    from ..features import ExtractionOptions

PROG = "transferlab"
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) that suggest close matches for bad choices."""

    def error(self, message: str) -> None:  # argparse's hook; must not return
        if "invalid choice" in message:
            message = _suggest(message)
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{PROG}: error: {message}\n")


def _suggest(message: str) -> str:
    # argparse says: "argument X: invalid choice: 'nme' (choose from 'a', 'b')"
    try:
        bad = message.split("invalid choice: ", 1)[1].split(" (choose from", 1)[0].strip("'\"")
        choices = [c.strip(" '\")") for c in message.split("(choose from", 1)[1].split(",")]
    except IndexError:
        return message
    close = difflib.get_close_matches(bad, choices, n=3, cutoff=0.4)
    return f"{message}; did you mean {', '.join(close)}?" if close else message


def add_subcommand(
    subparsers: argparse._SubParsersAction,
    name: str,
    summary: str,
    description: str,
    examples: Sequence[str],
) -> argparse.ArgumentParser:
    """A subcommand parser with the shared flags (`--quiet`, `--verbose`) and an examples epilog."""
    epilog = "examples:\n" + "\n".join(f"  {PROG} {example}" for example in examples)
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=textwrap.fill(description, 88),  # the raw formatter keeps the epilog's layout
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug messages on stderr")
    return parser


def add_backbone_arguments(parser, measured: bool = False) -> None:
    """`--backbone`, `--weights`, `--input-size` (a parser or an argument group).

    `measured`: without `--backbone`, auto/advise compare the backbones at hand (None is stored).
    """
    if measured:
        parser.add_argument("--backbone", help="registered backbone (transferlab backbones); default: "
                                               "efficientnet_lite0, and auto compares every backbone whose ImageNet "
                                               "weights are at hand (lite0/1/2 offline) and keeps the best")
    else:
        parser.add_argument("--backbone", default="efficientnet_lite0",
                            help="registered backbone (transferlab backbones)")
    parser.add_argument("--weights", default="imagenet", help="none | imagenet | path to .pth/.pt/.safetensors")
    parser.add_argument("--input-size", type=int, help="square input side (default: the backbone's)")


def backbone_choice(args: argparse.Namespace) -> BackboneChoice:
    """The backbone `--backbone`, `--weights` and `--input-size` name."""
    from ..backbones import BackboneChoice

    return BackboneChoice(args.backbone or BackboneChoice.name, args.weights, args.input_size)


def extraction_options(args: argparse.Namespace, batch_size: int = 64) -> ExtractionOptions:
    """How `--device` and `--engine` say frozen passes run (progress bars as `progress_enabled`)."""
    from ..features import ExtractionOptions

    return ExtractionOptions(batch_size=batch_size, device=args.device, engine=args.engine,
                             progress=progress_enabled(args))


def add_split_arguments(parser) -> None:
    """`--val-fraction`, `--seed`, `--device` (a parser or an argument group)."""
    parser.add_argument("--val-fraction", type=float, default=0.2, help="held out per class when there is no val/")
    parser.add_argument("--seed", type=int, default=0)
    add_device_argument(parser)


def add_device_argument(parser) -> None:
    """`--device`: where the network runs; `--engine`: what runs its frozen forward passes."""
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--engine", default="auto", choices=("auto", "torch", "openvino"),
                        help="frozen forward passes: OpenVINO on the CPU where it reproduces torch (auto: for "
                             "large extractions or a network exported before), else torch")


def add_tta_argument(parser: argparse.ArgumentParser) -> None:
    """`--tta`: average the probabilities over test-time views of every image."""
    parser.add_argument("--tta", choices=TTA_MODES,
                        help="test-time augmentation: none, flip (2 views) or crops (flip + 4 corner crops: 6 views); "
                             "default: the run's own choice (none where train chose none)")


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """`--json`: machine-readable output on stdout instead of the table."""
    parser.add_argument("--json", action="store_true", help="print JSON on stdout instead of a table")


def print_json(data) -> None:
    """Write `data` as indented JSON to stdout."""
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def report_error(message: str) -> None:
    """One line on stderr: `transferlab: error: <message>`."""
    one_line = " ".join(str(message).split())
    sys.stderr.write(f"{PROG}: error: {one_line}\n")


def run_safely(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand; user errors become one line on stderr and exit code 2, no traceback."""
    try:
        return int(run(args) or EXIT_OK)
    except TransferlabError as exc:
        report_error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        report_error("interrupted")
        return 130


def progress_enabled(args: argparse.Namespace) -> bool:
    """Progress bars only for a person watching: stderr is a terminal and no `--quiet`."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def progress(iterable: Iterable, enabled: bool, total: int | None = None, desc: str = "") -> Iterable:
    """`iterable` wrapped in a tqdm bar on stderr when `enabled`, else unchanged."""
    if not enabled:
        return iterable
    from tqdm import tqdm  # only needed on a terminal

    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)


def format_table(header: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[int] = ()) -> str:
    """Plain text table; columns listed in `right` are right-aligned (numbers)."""
    rows = [list(map(str, row)) for row in rows]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])
