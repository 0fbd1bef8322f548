"""The README's reliability table: every bad-input corpus case through every command that reads images.

    .venv/bin/python bench/reliability_table.py            # prints the markdown table (~1-2 min, 2 cores)

Each file-level case runs alone beside 12 clean images (`single/<case>` in the corpus), so
"used" and "ignored" are read from the image counts the commands report; each dataset-level
case is its own dataset. Cells come from what the commands did (exit code, `--json` output,
the one-line reports on stderr), compared with the corpus manifest's expectations; the exit
code is 1 if any case did not behave as expected.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from corpus.make_corpus import make_corpus  # noqa: E402
from corpus.runner import ARGV, UNCOUNTED, classify, data_for, matches, prepare, run_command  # noqa: E402


def _short(text: str, root: Path, limit: int) -> str:
    text = text.replace(f"{root}/", "").replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cell_text(cell, ok: bool, root: Path, limit: int = 70) -> str:
    label = {"refused": "**exit 2**"}.get(cell.outcome, cell.outcome)
    text = _short(cell.text, root, limit)
    return (f"{label}: {text}" if text else label) + ("" if ok else " (UNEXPECTED)")


def _run_case(case, ws, root: Path) -> list[tuple]:
    """(cell, ok) for each command."""
    results = []
    for command in ARGV:
        seen = run_command(command, data_for(case, command, root), ws)
        cell = classify(case, command, seen, root, isolated=True)
        results.append((cell, matches(case, command, cell, seen, root)))
    return results


def build_table(tmp: Path) -> tuple[str, int]:
    """Make the corpus in `tmp`, run every case through every command; the tables and the failures."""
    root = tmp / "corpus"
    cases = make_corpus(root, isolated=True)
    ws = prepare(root, tmp / "work")
    commands = ", ".join(f"`{c}`" for c in ARGV)
    files = [f"Files inside a dataset (the same in {commands}):", "",
             "| file | outcome | the one line reported |", "|---|---|---|"]
    datasets = ["Whole datasets:", "", "| dataset | " + " | ".join(f"`{c}`" for c in ARGV) + " |",
                "|---|" + "---|" * len(ARGV)]
    failures = 0
    for case in cases:
        results = _run_case(case, ws, root)
        failures += sum(not ok for _, ok in results)
        counted = [(cell, ok) for cell, ok in results if cell.outcome != UNCOUNTED]
        same = bool(counted) and len({(cell.outcome, cell.text) for cell, _ in counted}) == 1
        if case.scope == "file" and same:
            cell, ok = counted[0]
            verdict = cell.outcome + ("" if all(ok for _, ok in results) else " (UNEXPECTED)")
            uncounted = [c for c, (cell, _) in zip(ARGV, results) if cell.outcome == UNCOUNTED]
            verdict += f" ({', '.join(uncounted)}: not counted, nothing reported)" if uncounted else ""
            files.append(f"| {case.what} | {verdict} | {_short(cell.text, root, 90) or '-'} |")
        elif case.scope == "file":  # commands disagree: say what each did
            each = "; ".join(f"{c}: {_cell_text(cell, ok, root, 40)}" for c, (cell, ok) in zip(ARGV, results))
            files.append(f"| {case.what} | {each} | |")
        else:
            datasets.append(f"| {case.what} | " + " | ".join(_cell_text(cell, ok, root) for cell, ok in results) + " |")
    return "\n".join(files + [""] + datasets), failures


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="transferlab-reliability-") as tmp:
        os.environ.update(TRANSFERLAB_CACHE=str(Path(tmp) / "cache"), TRANSFERLAB_OFFLINE="1", HF_HUB_OFFLINE="1")
        table, failures = build_table(Path(tmp))
    print(table)
    if failures:
        print(f"\n{failures} cell(s) did not behave as the corpus manifest expects", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
