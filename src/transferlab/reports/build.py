"""Build and write a run's report: `report.html` (self-contained) and `report.json` beside it."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import TransferlabError
from ..paths import RunDir, atomic_write_text
from .collect import RunData, collect_report
from .document import Report
from .html import render_html

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportFiles:
    """What `build_report` wrote.

    Attributes:
        html: the HTML page.
        json: the same sections as data (images named by source, not embedded).
        report: the report itself.
        seconds: how long building took.
    """

    html: Path
    json: Path
    report: Report
    seconds: float


def build_report(run_dir: str | Path, out: str | Path | None = None, classifier=None) -> ReportFiles:
    """Build the report of the finished run in `run_dir` from what it wrote to disk.

    Args:
        run_dir: a run directory written by `train` (summary.json at least).
        out: the HTML file to write (default `run_dir/report.html`); the JSON goes beside it
            with the suffix `.json`.
        classifier: the run's trained model if already in memory (saves loading it again).

    Returns:
        The files written and the report.

    Raises:
        TransferlabError: `run_dir` is not a finished run, or `out` ends in `.json`.
    """
    started = time.perf_counter()
    html_path = Path(out) if out is not None else RunDir(run_dir).report
    if html_path.suffix.lower() == ".json":
        raise TransferlabError(f"{html_path}: the report is HTML; name it .html (report.json is written beside it)")
    json_path = html_path.with_suffix(".json")
    run = RunData.load(run_dir, classifier)
    report = collect_report(run)
    atomic_write_text(html_path, render_html(report))
    atomic_write_text(json_path, json.dumps(report.to_dict(), indent=2, default=str))
    elapsed = time.perf_counter() - started
    log.debug("report: %s (%d sections, %d images, %.1f s)", html_path, len(report.sections), report.num_images, elapsed)
    return ReportFiles(html_path, json_path, report, elapsed)


def write_report_safely(run_dir: str | Path, classifier=None) -> Path | None:
    """`build_report` for the end of `train`: a failure is logged, never raised.

    The run's model and summary.json are already on disk when this runs; losing the run over
    its report would be worse than a missing report, which `transferlab report` can rebuild.

    Returns:
        The HTML path, or None if the report failed.
    """
    try:
        files = build_report(run_dir, classifier=classifier)
    except Exception as exc:  # noqa: BLE001 - see docstring; the warning says how to retry
        log.warning("the run is saved, but its report failed (%s: %s); rebuild it with: transferlab report %s",
                    type(exc).__name__, exc, run_dir)
        log.debug("report failure", exc_info=True)
        return None
    log.info("report: %s (%.1f s)", files.html, files.seconds)
    return files.html
