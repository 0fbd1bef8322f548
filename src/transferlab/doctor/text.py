"""A checkup as readable text: leaks first and loud, then the top findings of each kind."""

from __future__ import annotations

from .findings import EXACT, KINDS, LABEL, NEAR, OUTLIER, Checkup, Finding

TITLES = {EXACT: "exact duplicates (same bytes)", NEAR: "near duplicates (similar features or thumbnails)",
          LABEL: "likely wrong labels (out-of-fold probe)", OUTLIER: "outliers (unlike the rest of the data)"}


def format_checkup(checkup: Checkup, top: int = 10) -> str:
    """The checkup as text: a header, the leaks, then up to `top` findings per kind and the notes."""
    counts = ", ".join(f"{n} {split}" for split, n in checkup.images.items())
    lines = [f"{checkup.name}: {sum(checkup.images.values())} images checked ({counts}) with {checkup.backbone} "
             f"features in {checkup.seconds:.1f} s" + (" (features cached)" if checkup.from_cache else "")]
    leaks = checkup.leaks
    if leaks:
        lines += ["", f"LEAK: {len({f.paths[1] for f in leaks})} image(s) are copies of images in another split "
                      f"({len(leaks)} pairs); every score on the held-out split is inflated until they are removed:"]
        lines += [f"  {_pair(f)}  [{f.kind}, {f.score:.3f}]" for f in leaks[:top]]
        if len(leaks) > top:
            lines.append(f"  ... and {len(leaks) - top} more")
    for kind in KINDS:
        found = checkup.findings.get(kind, ())
        lines += ["", f"{TITLES[kind]}: {len(found)}"]
        lines += [f"  {rank:>3}. {_line(f)}" for rank, f in enumerate(found[:top], start=1)]
        if len(found) > top:
            lines.append(f"       ... and {len(found) - top} more (--json or --out for all)")
    check = checkup.threshold_check
    if check is not None and check.min_similarity is not None:
        lines += ["", f"near-duplicate rule (features >= {check.threshold:.2f}, or thumbnails >= "
                      f"{check.pixel_threshold:.2f}): finds {check.caught} of {check.copies} augmented copies "
                      f"(JPEG q70, 90 % size, cropped) of sample images; lowest similarities "
                      f"{check.min_similarity:.3f} (features), {check.min_pixel_similarity:.3f} (thumbnails)"]
    if checkup.notes:
        lines += ["", "data:", *(f"  - {note}" for note in checkup.notes)]
    return "\n".join(lines)


def _line(finding: Finding) -> str:
    if len(finding.paths) == 2:
        return f"{finding.score:.3f}  {_pair(finding)}"
    where = f"{finding.splits[0]}/{finding.labels[0]}"
    suggestion = f" -> {finding.suggested}" if finding.suggested else ""
    return f"{finding.score:.3f}  {finding.paths[0]}  ({where}{suggestion}; {finding.detail})"


def _pair(finding: Finding) -> str:
    a, b = (f"{path} ({split}/{label})" for path, split, label in zip(finding.paths, finding.splits, finding.labels))
    return f"{a} = {b}"
