"""Error types. Every user mistake is a `TransferlabError`: one line, exit code 2 in the CLI."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TransferlabError(Exception):
    """A problem the user can fix; its message is one line that says how."""


class UnknownNameError(TransferlabError, KeyError):
    """A name (backbone, layer, class, dataset) that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsError(TransferlabError):
    """Weights that cannot be found, read or loaded."""


class DataError(TransferlabError):
    """A dataset that cannot be used as given."""


class BadImageError(TransferlabError):
    """One image file that cannot be decoded."""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """Build an `UnknownNameError` that lists the closest valid names first."""
    choices = list(choices)
    close = difflib.get_close_matches(name, choices, n=5, cutoff=0.4)
    rest = [c for c in choices if c not in close]
    shown = close + rest[: max(0, 8 - len(close))]
    more = f" (+{len(choices) - len(shown)} more)" if len(choices) > len(shown) else ""
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return UnknownNameError(f"unknown {kind} '{name}': {hint}valid: {', '.join(shown)}{more}")
