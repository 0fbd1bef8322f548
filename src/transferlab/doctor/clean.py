"""`--write-clean`: a `path,label,split` CSV of the data without the chosen findings.

The user's files are never deleted, moved or rewritten: the CSV is a new dataset description
that `train` reads like a folder. Paths are written relative to the CSV's folder, because a
CSV's rows may only point inside it (unless `train --allow-outside-root`).
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from ..data import DataSplits
from ..errors import TransferlabError
from ..paths import atomic_write_text
from .findings import KINDS, LABEL, Checkup

log = logging.getLogger(__name__)


def clean_rows(checkup: Checkup, splits: DataSplits, drop: Iterable[str] = KINDS,
               relabel: bool = False) -> list[tuple[str, str, str]]:
    """(path, label, split) of every checked image minus the findings of the kinds in `drop`.

    Of a duplicate pair the first copy (train before val/test) stays and the other goes. With
    `relabel`, images with a label finding keep their place with the suggested label instead.

    Raises:
        TransferlabError: a kind in `drop` is not one of `KINDS`.
    """
    drop = set(drop)
    unknown = sorted(drop - set(KINDS))
    if unknown:
        raise TransferlabError(f"unknown finding kind(s) {unknown}; choose from {', '.join(KINDS)}")
    removed, new_label = set(), {}
    for kind in drop:
        for finding in checkup.findings.get(kind, ()):
            if kind == LABEL and relabel:
                new_label[finding.paths[0]] = finding.suggested
            else:
                removed.add(finding.paths[-1])
    rows = []
    for name, images in _sets(splits):
        for path, label in zip(images.paths, images.labels):
            if path not in removed:
                rows.append((path, new_label.get(path, images.classes[label]), name))
    return rows


def write_clean(rows: list[tuple[str, str, str]], target: str | os.PathLike) -> Path:
    """Write `rows` (from `clean_rows`) atomically as a CSV with a path,label,split header."""
    target = Path(target)
    root = target.parent.resolve()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("path", "label", "split"))
    outside = 0
    for path, label, split in rows:
        resolved = Path(path).resolve()
        outside += not resolved.is_relative_to(root)
        writer.writerow((os.path.relpath(resolved, root), label, split))
    atomic_write_text(target, buffer.getvalue())
    if outside:
        log.warning("%s: %d of %d paths are outside the CSV's folder; move the CSV into the data folder (or a "
                    "parent of it), or train with --allow-outside-root", target, outside, len(rows))
    return target


def _sets(splits: DataSplits) -> list:
    return [(name, s) for name, s in (("train", splits.train), ("val", splits.val), ("test", splits.test))
            if s is not None]
