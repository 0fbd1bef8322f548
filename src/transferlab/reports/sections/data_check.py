"""The data check section: `transferlab doctor`'s findings on the features a frozen-base run cached."""

from __future__ import annotations

from ...errors import TransferlabError
from ...strategies.registry import FROZEN_BASE
from ..collect import RunData
from ..document import Block, Text

SHOWN = 5  # findings per kind in the report (the doctor's page shows more)
# Above this many images (all splits) the report leaves the check to `transferlab doctor`: on
# 23,024 tiles it took 107 s, a third of the run it reported on (fingerprints of every file, a
# cross-validated probe for the labels).
MAX_CHECKED_IMAGES = 10_000


def data_check(run: RunData) -> list[Block]:
    """Leaks, duplicates, likely wrong labels and outliers, ranked with thumbnails."""
    config = run.config
    command = f"transferlab doctor {config.get('data', 'DATA')} --backbone {config.get('backbone', '?')}"
    if run.strategy not in FROZEN_BASE or not config.get("data"):
        return [Text(f"Not checked here: this run did not cache frozen-base features of every split. "
                     f"Run: {command}")]
    counts = (run.summary.get("data") or {}).get("counts", {})
    images = sum(n for split in counts.values() for n in split.values())
    if images > MAX_CHECKED_IMAGES:
        return [Text(f"Not checked here: {images:,} images would take the report minutes (it checks up to "
                     f"{MAX_CHECKED_IMAGES:,}). Run: {command}")]
    try:
        checkup = _checkup(run)
    except TransferlabError as exc:
        return [Text(f"Not checked: the data cannot be read now ({exc}).")]
    from ..doctor_page import checkup_blocks

    intro = Text(f"The checks of `{command}` on the features this run cached (all splits, "
                 f"{checkup.seconds:.1f} s). Each list is ranked, worst first.")
    return [intro, *checkup_blocks(checkup, top=SHOWN)]


def _checkup(run: RunData):
    from ...backbones import BackboneChoice
    from ...data import load_splits
    from ...doctor import DoctorOptions, check_splits
    from ...features import ExtractionOptions

    config = run.config
    splits = load_splits(str(config["data"]), config.get("val_fraction", 0.2), config.get("seed", 0))
    base = BackboneChoice(config["backbone"], config.get("weights", "imagenet"), config.get("input_size")).create()
    options = DoctorOptions(layer=config.get("layer"), val_fraction=config.get("val_fraction", 0.2),
                            seed=config.get("seed", 0),
                            extraction=ExtractionOptions(device=config.get("device", "auto")))
    return check_splits(splits, base, options, preprocessing=run.preprocessing)
