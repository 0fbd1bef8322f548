"""`transferlab` entry point: parse, set up the process, dispatch to one subcommand module.

Adding a subcommand: write `cmd_<name>.py` with `add_parser(subparsers) -> ArgumentParser` and
`run(args) -> int`, then list its name in `COMMANDS`. A command line imports only the module of
the command it names.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from .. import __version__
from ..engine.distributed import finish as finish_distributed
from . import _common
from ._runtime import cli_logging, tune_allocator

# Subcommands, in the order `--help` lists them; each is the module `cmd_<name>` ("-" as "_").
COMMANDS = ("train", "advise", "doctor", "probe", "lr-find", "evaluate", "predict", "extract", "export", "report",
            "backbones", "summary", "ladder", "recipes", "augment", "visualize")


def command_module(name: str) -> ModuleType:
    """The module that implements subcommand `name`."""
    return importlib.import_module(f"{__package__}.cmd_{name.replace('-', '_')}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with one subparser per command in `COMMANDS`.

    `only`: that command's subparser alone, so that a command line naming it imports only its
    module (matplotlib and scikit-learn alone cost seconds that `predict` does not need).
    """
    parser = _common.Parser(
        prog=_common.PROG,
        description="Image classification with CNNs and transfer learning.",
        epilog=f"Run '{_common.PROG} COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_common.Parser)
    subparsers.required = True
    for name in COMMANDS if only is None else (only,):
        module = command_module(name)
        module.add_parser(subparsers).set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: `sys.argv[1:]`); return the exit code.

    Exit codes: 0 success, 1 partial success (e.g. some images unreadable), 2 usage or user
    error (one line on stderr, no traceback), 130 interrupted.
    """
    tune_allocator()  # before the command allocates its tensors
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else _common.EXIT_USAGE
    args._argv = argv
    try:
        with cli_logging(quiet=args.quiet, verbose=args.verbose):
            return _common.run_safely(args._run, args)
    finally:
        finish_distributed()


if __name__ == "__main__":
    raise SystemExit(main())
