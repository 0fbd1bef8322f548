"""Process-wide setup done by the CLI only: glibc allocator tuning and logging handlers.

The library never calls these; importing `transferlab` changes nothing in the process.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
from collections.abc import Iterator, Sequence

from ..engine.distributed import is_main_process

logger = logging.getLogger(__name__)

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 30  # 1 GiB
# 4 GiB as the MALLOC_TRIM_THRESHOLD_ variable would say, but mallopt takes a C int:
# 4 GiB would wrap to 0 (trim on every free, the opposite of the intent), so use INT_MAX.
TRIM_THRESHOLD = min(4 << 30, 2**31 - 1)
OPT_OUT_VARIABLE = "TRANSFERLAB_MALLOC_TUNING"


def tune_allocator() -> bool:
    """Keep large freed blocks in glibc's heap instead of returning them to the OS.

    With glibc's defaults every large activation tensor is mmapped and page-faulted afresh,
    which halves CPU inference speed (see BENCHMARKS.md, "Allocator"). Does nothing where the
    C library is not glibc, when the user set `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_`
    themselves, or when `TRANSFERLAB_MALLOC_TUNING=0`.

    Returns:
        True when both settings were applied.
    """
    if os.environ.get(OPT_OUT_VARIABLE) == "0":
        return False
    if any(v in os.environ for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    libc = _glibc()
    if libc is None:
        return False
    applied = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    logger.debug("glibc allocator tuning %s", "applied" if applied else "refused")
    return applied


def _glibc() -> ctypes.CDLL | None:
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        libc = ctypes.CDLL("libc.so.6")
    except (AttributeError, ValueError, OSError):  # no confstr name, not glibc, no libc.so.6
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return libc


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at emit time (tests swap it between calls)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "transferlab: "
        if record.levelno >= logging.WARNING:
            prefix += f"{record.levelname.lower()}: "
        return prefix + super().format(record)


@contextlib.contextmanager
def cli_logging(quiet: bool = False, verbose: bool = False) -> Iterator[None]:
    """Send the `transferlab` loggers to stderr while the context is open.

    Warnings only with `quiet`, debug with `verbose`; in the other processes of a distributed run
    only errors (rank 0 speaks for the run). On exit the handler and level are removed again, so
    `main()` called in-process (tests, notebooks) leaves logging as it was.
    """
    root = logging.getLogger("transferlab")
    handler = _StderrHandler()
    handler.setFormatter(_Formatter("%(message)s"))
    old_level = root.level
    root.addHandler(handler)
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    root.setLevel(level if is_main_process() else logging.ERROR)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def launch_processes(count: int, argv: Sequence[str]) -> int:
    """Run `transferlab ARGV` as `count` processes on this machine under torchrun; its exit code.

    torchrun gives each process its rank and, on the CPU, one thread each (OMP_NUM_THREADS=1).
    """
    import subprocess

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={count}",
               "-m", "transferlab", *argv]
    logger.info("starting %d processes: torchrun --standalone --nproc_per_node=%d -m transferlab %s",
                count, count, " ".join(argv))
    return subprocess.call(command)
