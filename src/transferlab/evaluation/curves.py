"""Training curves as data: read a per-epoch metrics CSV, smooth noisy series, find phases."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Sequence


def ema(values: Iterable[float | None], factor: float = 0.8) -> list[float]:
    """Exponential moving average, as used to smooth noisy validation curves.

    Each output is `previous * factor + point * (1 - factor)`; the first finite point starts the
    average as is (no bias correction). A NaN or None point yields NaN at that position and
    leaves the running average untouched, so gaps stay gaps and do not poison later points.

    Args:
        values: the raw series (may be empty, may contain NaN or None).
        factor: weight of the past, in [0, 1); 0 returns the input, nearer 1 smooths more.

    Returns:
        The smoothed series, same length as `values`.

    Raises:
        ValueError: `factor` outside [0, 1).
    """
    if not 0.0 <= factor < 1.0:
        raise ValueError(f"factor must be in [0, 1), got {factor}")
    smoothed: list[float] = []
    previous: float | None = None
    for value in values:
        point = math.nan if value is None else float(value)
        if math.isnan(point):
            smoothed.append(math.nan)
            continue
        previous = point if previous is None else previous * factor + point * (1.0 - factor)
        smoothed.append(previous)
    return smoothed


def read_metrics_csv(path: str | os.PathLike) -> dict[str, list[float | str]]:
    """Read a per-epoch metrics CSV into one list per column.

    A column whose non-empty cells all parse as numbers becomes floats (empty cells -> NaN);
    any other column (e.g. `phase`) stays strings. Unknown columns are kept as they are.

    Args:
        path: CSV file with a header row (e.g. epoch, train_loss, train_acc, val_loss, val_acc,
            lr, phase, seconds).

    Returns:
        Column name -> values, columns in file order; empty dict for an empty file.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            return {}
        header = [name.strip() for name in header]
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    columns = {name: [_cell(row, i) for row in rows] for i, name in enumerate(header) if name}
    return {name: _parse_column(cells) for name, cells in columns.items()}


def phase_changes(phases: Sequence[str]) -> list[int]:
    """Indices i where `phases[i]` differs from `phases[i - 1]` (a new training phase starts).

    Args:
        phases: one phase name per epoch, e.g. ["head", "head", "finetune"].

    Returns:
        The indices of the first epoch of each phase after the first, e.g. [2].
    """
    return [i for i in range(1, len(phases)) if phases[i] != phases[i - 1]]


def _cell(row: list[str], index: int) -> str:
    """The stripped cell at `index`, or "" when the row is short."""
    return row[index].strip() if index < len(row) else ""


def _parse_column(cells: list[str]) -> list[float | str]:
    """Floats (empty -> NaN) if every non-empty cell is numeric, else the strings unchanged."""
    try:
        return [float(cell) if cell else math.nan for cell in cells]
    except ValueError:
        return list(cells)
