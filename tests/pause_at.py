"""Run the transferlab CLI, but stop still at the N-th call of one function, so a test can kill it there.

    python pause_at.py module:Attr.path N -- train DATA ...

On the N-th call of the target the process prints `paused at call N` on its stdout and waits
for a signal; every other call goes through untouched. The test reads that line, then sends
SIGKILL or SIGINT: the kill lands at a known point of the run whatever the machine's speed.
"""

from __future__ import annotations

import functools
import importlib
import queue
import signal
import sys
import threading
from typing import IO


def _pause_at(target: str, call: int) -> None:
    module_name, _, attr_path = target.partition(":")
    owner = importlib.import_module(module_name)
    *parents, name = attr_path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    original, calls = getattr(owner, name), [0]

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == call:
            print(f"paused at call {call}", flush=True)
            while True:
                signal.pause()  # SIGINT raises KeyboardInterrupt out of here; SIGKILL ends the process
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def wait_until_paused(stdout: IO[str], timeout: float) -> bool:
    """Read the run's stdout until it says it is paused (True) or ends (False); `timeout` guards a hang."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in stdout:
            lines.put(line)
            if line.startswith("paused at call"):
                return
        lines.put("")

    threading.Thread(target=read, daemon=True).start()
    while True:
        line = lines.get(timeout=timeout)
        if line.startswith("paused at call") or not line:
            return bool(line)


if __name__ == "__main__":
    # Ctrl-C as in a terminal, even when the test runner was started in the background (which
    # leaves SIGINT ignored in every child, and Python then never raises KeyboardInterrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    target, call, separator, *argv = sys.argv[1:]
    assert separator == "--", "usage: pause_at.py module:attr N -- ARGS"
    _pause_at(target, int(call))
    from transferlab.cli.main import main

    raise SystemExit(main(argv))
