"""`transferlab report RUN_DIR [--out FILE] [--json]` in-process through `main([...])`."""

from __future__ import annotations

import json

from report_pages import read_page, train_tiny

from transferlab.cli.main import main


def test_report_rebuilds_the_page_from_the_run_directory(split_folder, tmp_path, capsys):
    run = train_tiny(split_folder, tmp_path / "run", strategy="linear")
    (run / "report.html").unlink()
    (run / "report.json").unlink()
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"report: {run / 'report.html'} (15 sections, ") and f"data:   {run / 'report.json'}" in out
    assert len(read_page((run / "report.html").read_text()).sections) == 15


def test_report_json_and_out(split_folder, tmp_path, capsys):
    run = train_tiny(split_folder, tmp_path / "run", strategy="linear")
    target = tmp_path / "copy" / "page.html"
    assert main(["report", str(run), "--out", str(target), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["html"] == str(target) and printed["json"] == str(target.with_suffix(".json"))
    assert printed["sections"] == json.loads(target.with_suffix(".json").read_text())["sections"]
    assert [s["key"] for s in printed["sections"]][:3] == ["overview", "data", "strategy"]


def test_report_of_a_folder_that_is_no_run_is_one_error_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"transferlab: error: {tmp_path}: no summary.json, so not a finished run; train first"]
