"""Run reports: one self-contained HTML page (and the same sections as JSON) from a run directory.

`build_report(run_dir)` reads what `train` wrote (summary.json, config.yaml, metrics.csv, the
PNGs, the model), collects the sections of `sections.SECTIONS` as data (`document`), and writes
`report.html` (`html.render_html`) and `report.json`.
"""

from .build import ReportFiles, build_report, write_report_safely
from .collect import RunData, collect_report
from .document import Bullets, Code, Facts, Figure, Figures, Report, Section, Table, Text
from .html import render_html

__all__ = [
    "Bullets",
    "Code",
    "Facts",
    "Figure",
    "Figures",
    "Report",
    "ReportFiles",
    "RunData",
    "Section",
    "Table",
    "Text",
    "build_report",
    "collect_report",
    "render_html",
    "write_report_safely",
]
