"""Learning-rate schedules as pure functions of the step: exact on resume, no hidden state."""

from __future__ import annotations

import math
from collections.abc import Callable

from ..errors import unknown_name


def lr_multiplier(name: str, total_steps: int, warmup_steps: int = 0) -> Callable[[int], float]:
    """Multiplier of each group's base learning rate at optimizer step `step`.

    cosine: linear warm-up then cosine decay to 1 %. onecycle: warm-up over 30 % from 4 %
    to 100 %, then cosine to ~0. step: x0.1 at 1/2 and 3/4 of the steps. constant: 1.
    """
    total = max(1, total_steps)
    if name == "cosine":
        return lambda step: _warmup(step, warmup_steps) * _cosine(step, total, floor=0.01)
    if name == "onecycle":
        peak = max(1, int(0.3 * total))
        return lambda step: (
            0.04 + 0.96 * step / peak if step < peak else _cosine(step - peak, total - peak, floor=1e-4)
        )
    if name == "step":
        return lambda step: _warmup(step, warmup_steps) * (0.1 ** (int(step >= total / 2) + int(step >= 3 * total / 4)))
    if name == "constant":
        return lambda step: _warmup(step, warmup_steps)
    raise unknown_name("schedule", name, ["cosine", "onecycle", "step", "constant"])


def _warmup(step: int, warmup_steps: int) -> float:
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


def _cosine(step: int, total: int, floor: float) -> float:
    progress = min(1.0, step / max(1, total))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
