"""`transferlab` entry point: parse, set up the process, dispatch to one subcommand module.

Adding a subcommand: write `cmd_<name>.py` with `add_parser(subparsers) -> ArgumentParser` and
`run(args) -> int`, then list the module in `COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from ..engine.distributed import finish as finish_distributed
from . import _common
from . import cmd_advise
from . import cmd_augment
from . import cmd_backbones
from . import cmd_doctor
from . import cmd_evaluate
from . import cmd_export
from . import cmd_extract
from . import cmd_ladder
from . import cmd_lr_find
from . import cmd_predict
from . import cmd_probe
from . import cmd_recipes
from . import cmd_report
from . import cmd_summary
from . import cmd_train
from . import cmd_visualize
from ._runtime import cli_logging, tune_allocator

COMMANDS = (
    cmd_train,
    cmd_advise,
    cmd_doctor,
    cmd_probe,
    cmd_lr_find,
    cmd_evaluate,
    cmd_predict,
    cmd_extract,
    cmd_export,
    cmd_report,
    cmd_backbones,
    cmd_summary,
    cmd_ladder,
    cmd_recipes,
    cmd_augment,
    cmd_visualize,
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per module in `COMMANDS`."""
    parser = _common.Parser(
        prog=_common.PROG,
        description="Image classification with CNNs and transfer learning.",
        epilog=f"Run '{_common.PROG} COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_common.Parser)
    subparsers.required = True
    for module in COMMANDS:
        module.add_parser(subparsers).set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: `sys.argv[1:]`); return the exit code.

    Exit codes: 0 success, 1 partial success (e.g. some images unreadable), 2 usage or user
    error (one line on stderr, no traceback), 130 interrupted.
    """
    tune_allocator()  # before the command allocates its tensors
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
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
