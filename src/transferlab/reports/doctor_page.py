"""A data checkup as report blocks (the run report's "Data check") or as its own HTML page."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.images import open_rgb
from ..doctor.findings import KINDS, Checkup, Finding
from ..doctor.text import TITLES
from ..errors import BadImageError
from ..paths import atomic_write_text
from .document import Block, Facts, Figure, Figures, Report, Section, Table, Text
from .html import render_html
from .images import THUMB_SIDE, figure_from_array, strip

PAGE_NAME = "doctor.html"


def checkup_blocks(checkup: Checkup, top: int = 10, thumbnails: bool = True) -> list[Block]:
    """Summary, leaks, then per kind a ranked table and (with `thumbnails`) one picture per finding."""
    blocks: list[Block] = [Facts(_summary(checkup))]
    leaks = checkup.leaks
    if leaks:
        blocks.append(Text(f"LEAK: {len({f.paths[1] for f in leaks})} image(s) of a held-out split are copies of "
                           f"images in another split ({len(leaks)} {', '.join(sorted({f.kind for f in leaks}))} "
                           f"pairs): every score measured on that split is inflated until they are removed.",
                           tone="warning"))
    blocks += [Text(note, tone="warning") for note in checkup.notes]
    for kind in KINDS:
        found = checkup.findings.get(kind, ())[:top]
        if not found:
            continue
        blocks.append(Table(("rank", "score", "split", "label", "suggested", "path", "why"),
                            tuple(_row(rank, f) for rank, f in enumerate(found, start=1)),
                            title=f"{TITLES[kind]}: {len(checkup.findings[kind])}", numeric=(0, 1)))
        if thumbnails:
            blocks.append(Figures(tuple(_picture(rank, f) for rank, f in enumerate(found, start=1))))
    return blocks


def write_checkup_page(checkup: Checkup, out_dir: str | Path, top: int = 50) -> Path:
    """Write `out_dir/doctor.html` (thumbnails of the top findings of each kind) and `doctor.json`."""
    out = Path(out_dir)
    report = Report(title=f"transferlab doctor: {checkup.name}", run_dir=str(checkup.name),
                    generated=datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
                    sections=(Section("data-check", "Data check", tuple(checkup_blocks(checkup, top))),))
    atomic_write_text(out / PAGE_NAME, render_html(report))
    atomic_write_text(out / "doctor.json", json.dumps(checkup.to_dict(), indent=2, default=str))
    return out / PAGE_NAME


def _summary(checkup: Checkup) -> tuple[tuple[str, str], ...]:
    items = [("images", ", ".join(f"{n} {split}" for split, n in checkup.images.items())),
             ("features", checkup.backbone + (" (cached)" if checkup.from_cache else "")),
             *((TITLES[kind], str(len(found))) for kind, found in checkup.findings.items())]
    check = checkup.threshold_check
    if check is not None and check.min_similarity is not None:
        items.append(("near-duplicate rule", f"features >= {check.threshold:.2f} or thumbnails >= "
                      f"{check.pixel_threshold:.2f}: finds {check.caught} of {check.copies} augmented copies of "
                      f"sample images"))
    return tuple(items)


def _row(rank: int, finding: Finding) -> tuple[str, ...]:
    return (str(rank), f"{finding.score:.3f}", " / ".join(finding.splits), " / ".join(finding.labels),
            finding.suggested or "", "\n".join(finding.paths), finding.detail)


def _picture(rank: int, finding: Finding) -> Figure:
    """The finding's image(s) side by side at one height, captioned with its rank and score."""
    caption = f"#{rank} {finding.score:.3f} " + " = ".join(
        f"{split}/{label}" for split, label in zip(finding.splits, finding.labels))
    if finding.suggested:
        caption += f" -> {finding.suggested}"
    images = [_scaled(path) for path in finding.paths]
    side = THUMB_SIDE * len(images) + 4 * (len(images) - 1)
    return figure_from_array(strip(images), caption, side=side, alt=caption, source=" ".join(finding.paths))


def _scaled(path: str) -> np.ndarray:
    """The image at `THUMB_SIDE` pixels high (a grey square when it cannot be read)."""
    try:
        image = open_rgb(path, min_side=THUMB_SIDE)
    except BadImageError:
        return np.full((THUMB_SIDE, THUMB_SIDE, 3), 128, dtype=np.uint8)
    width = max(1, min(THUMB_SIDE * 2, round(image.width * THUMB_SIDE / image.height)))
    return np.asarray(image.resize((width, THUMB_SIDE), Image.Resampling.LANCZOS))
