"""Time budgets: "90s", "10m", "1h30m" <-> seconds, and how much of a budget is left."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import TransferlabError

# `train --strategy auto` and `advise` without `--budget`: a coffee break on the machine at hand
# (the cost model measures that machine, so the plan scales with it).
DEFAULT_BUDGET = 600.0
_UNITS = {"s": 1, "m": 60, "h": 3600}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smh]?)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?\s*[smh]\s*)+|\d+(?:\.\d+)?")  # 1h30m, 2m 30s, or plain seconds


def parse_budget(text: str | float | int) -> float:
    """Seconds in a budget written `90`, `90s`, `10m`, `1.5h` or `1h30m`.

    Raises:
        TransferlabError: not a positive duration.
    """
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        spec = str(text).strip().lower()
        if not _WHOLE.fullmatch(spec):
            raise TransferlabError(f"budget '{text}' is not a duration: use e.g. 90s, 10m, 1h or 1h30m")
        seconds = sum(float(n) * _UNITS[u or "s"] for n, u in _PART.findall(spec))
    if not seconds > 0:
        raise TransferlabError(f"budget must be positive, not '{text}'")
    return seconds


def format_seconds(seconds: float) -> str:
    """`42 s`, `3 min 20 s`, `1 h 05 min`."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest:02d} s"
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{hours} h {rest:02d} min"


@dataclass
class Clock:
    """A budget being spent: seconds since the start, seconds left, and what was given up.

    `now` is the time source (seconds, any origin): tests pass a fixed one, so every budget
    decision is computed from the cost model's numbers, not from how fast the machine is.
    """

    budget: float | None
    now: Callable[[], float] = time.perf_counter
    given_up: list[str] = field(default_factory=list)
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.now()

    def elapsed(self) -> float:
        return self.now() - self.started

    def left(self) -> float:
        """Seconds left (infinite without a budget)."""
        return float("inf") if self.budget is None else self.budget - self.elapsed()

    def fits(self, seconds: float, share: float = 1.0) -> bool:
        """Whether `seconds` more fit in `share` of what is left."""
        return seconds <= share * self.left()

    def give_up(self, sentence: str) -> None:
        self.given_up.append(sentence)

    def to_dict(self) -> dict:
        return {"seconds": self.budget, "given_up": list(self.given_up)}
