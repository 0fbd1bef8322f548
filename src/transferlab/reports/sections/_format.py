"""Small formatting helpers shared by the section builders: numbers, durations, arbitrary values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..document import Block, Bullets, Facts, Table, Text


def number(value: Any, digits: int = 4) -> str:
    """A float with `digits` decimals, an int with thousands separators, "n/a" for missing/NaN."""
    if value is None or isinstance(value, bool):
        return "n/a" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"


def percent(value: Any) -> str:
    """0.9164 -> "91.64 %"."""
    value = _finite(value)
    return "n/a" if value is None else f"{100.0 * value:.2f} %"


def seconds(value: Any) -> str:
    """Seconds as "0.52 s", "35.3 s" or "4 min 12 s"."""
    value = _finite(value)
    if value is None:
        return "n/a"
    if value < 10:
        return f"{value:.2f} s"
    if value < 120:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest} s"


def scalar(value: Any) -> str:
    """A short text for any JSON value (lists joined, floats trimmed)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(scalar(v) for v in value) if value else "(none)"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {scalar(v)}" for k, v in value.items())
    return "(none)" if value is None else str(value)


def value_blocks(data: Mapping[str, Any], title: str | None = None) -> list[Block]:
    """Blocks for an arbitrary mapping: scalars as facts; lists of sentences as bullets;
    mappings of numbers as a two-column table; other nested mappings recursively."""
    facts, blocks = [], []
    for key, value in data.items():
        label = str(key).replace("_", " ")
        if isinstance(value, str) and len(value) > 80:
            blocks.append(Text(f"{label}: {value}"))
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value) \
                and sum(len(v) for v in value) > 60:
            blocks.append(Bullets(tuple(value), title=label))
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Mapping) for v in value):
            blocks.append(_records_table(value, label))
        elif isinstance(value, Mapping) and value and all(_is_number(v) for v in value.values()):
            rows = tuple((str(k), scalar(v)) for k, v in value.items())
            blocks.append(Table(("key", label), rows, title=label, numeric=(1,)))
        elif isinstance(value, Mapping) and value:
            blocks.extend(value_blocks(value, title=label))
        else:
            facts.append((label, scalar(value)))
    head = [Facts(tuple(facts), title=title)] if facts else []
    return head + blocks


def _finite(value: Any) -> float | None:
    """`value` as a finite float; None when it is missing, not a number, NaN or infinite."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _records_table(records, title: str) -> Table:
    """A list of mappings (e.g. candidates with their scores) as a table, one row per mapping."""
    columns: list[str] = []
    for record in records:
        columns += [str(k) for k in record if str(k) not in columns]
    rows = tuple(tuple(scalar(record.get(c, "")) for c in columns) for record in records)
    numeric = tuple(i for i, c in enumerate(columns) if all(_is_number(r.get(c)) for r in records if c in r))
    return Table(tuple(c.replace("_", " ") for c in columns), rows, title=title, numeric=numeric)
