"""Run transferlab's commands on corpus cases and say what each did: used, skipped, ignored or refused.

Each command is one row of `ARGV` (command -> argv builder), so a new command (advise,
visualize...) is one more entry. Commands run in-process through `transferlab.cli.main.main`
with stdout/stderr captured; what they did is read back from their `--json` output and from
the one-line reports on stderr (`transferlab: warning: skipped PATH: REASON`).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from transferlab.cli.main import main

from .make_corpus import COLOURS, GOOD_PER_CLASS, IGNORED, REFUSED, SKIPPED, USED, Case

TINY = ("--backbone", "tiny_cnn", "--weights", "none", "--input-size", "32", "--device", "cpu")
_SKIP_LINE = re.compile(r"^transferlab: (?:warning: )?skipped (.+?): (.+)$")
_ERROR_PREFIX = "transferlab: error: "
CRASHED = "crashed"  # a traceback: never acceptable
UNCOUNTED = "not reported"  # a command that does not say how many images it used: only its reports count


@dataclass
class Workspace:
    """The corpus, a scratch folder for run directories, and a model trained on `clean/`."""

    root: Path
    work: Path
    model: Path | None = None
    last: Path | None = None  # the run directory handed out most recently
    _counter: itertools.count = field(default_factory=itertools.count)

    def fresh(self, name: str, suffix: str = "") -> Path:
        """A run directory (or output file) that does not exist yet."""
        self.last = self.work / f"{name}-{next(self._counter)}{suffix}"
        return self.last


ARGV: dict[str, Callable[[str, Workspace], list[str]]] = {
    "train": lambda data, ws: ["train", data, "--strategy", "linear", *TINY, "--json", "--out", str(ws.fresh("train"))],
    "extract": lambda data, ws: ["extract", data, *TINY, "--out", str(ws.fresh("extract", ".npz"))],
    # advise with random weights skips its ImageNet measurements: the packaged lite0 at 32 px runs them all
    "advise": lambda data, ws: ["advise", data, "--backbone", "efficientnet_lite0", "--input-size", "32",
                                "--device", "cpu", "--json"],
    "evaluate": lambda data, ws: ["evaluate", str(ws.model), data, "--json", "--device", "cpu"],
    "predict": lambda data, ws: ["predict", str(ws.model), data, "--json", "--device", "cpu"],
    "visualize": lambda data, ws: ["visualize", "gradcam", str(ws.model), data, "--json", "--device", "cpu",
                                   "--out", str(ws.fresh("viz"))],
}


@dataclass(frozen=True)
class Observed:
    """What one command printed and returned."""

    command: str
    code: int
    stdout: str
    stderr: str
    skips: dict[str, list[str]]  # path -> the reason of every skip line naming it
    used: int | None  # images the command used (None when it failed)
    used_paths: frozenset[str] | None = None  # predict, extract: exactly which

    @property
    def error(self) -> str | None:
        """The `transferlab: error:` line, if any."""
        lines = [line for line in self.stderr.splitlines() if line.startswith(_ERROR_PREFIX)]
        return lines[-1][len(_ERROR_PREFIX):] if lines else None


@dataclass(frozen=True)
class Cell:
    """A case's outcome under one command, and the line that says so."""

    outcome: str
    text: str = ""


def capture(argv: list[str]) -> tuple[int, str, str]:
    """Run the CLI in-process; return exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except Exception:  # a bug, not a reported problem: what the interpreter would print and return
            traceback.print_exc()
            code = 1
    return code, out.getvalue(), err.getvalue()


def prepare(root: Path, work: Path) -> Workspace:
    """A workspace whose model (tiny_cnn + logistic regression) is trained on the corpus' clean images."""
    ws = Workspace(root, work)
    ws.model = work / "model"
    code, _, err = capture(["train", str(root / "clean"), "--strategy", "linear", *TINY, "--out", str(ws.model)])
    if code != 0:
        raise RuntimeError(f"training the corpus model failed ({code}): {err}")
    return ws


def run_command(command: str, data: str | Path, ws: Workspace) -> Observed:
    """Run `command` on `data` as `ARGV` says and parse what it reported."""
    code, out, err = capture(ARGV[command](str(data), ws))
    skips: dict[str, list[str]] = {}
    for line in err.splitlines():
        match = _SKIP_LINE.match(line)
        if match:
            skips.setdefault(match.group(1), []).append(match.group(2))
    used, used_paths = _used(command, code, out, ws)
    return Observed(command, code, out, err, skips, used, used_paths)


def _used(command: str, code: int, out: str, ws: Workspace) -> tuple[int | None, frozenset[str] | None]:
    if code not in (0, 1) or not out.strip():
        return None, None
    if command == "extract":  # the feature file lists the path of every row
        with np.load(ws.last) as saved:
            paths = frozenset(str(p) for p in saved["paths"])
        return len(paths), paths
    data = json.loads(out)
    if command == "train":
        return sum(sum(counts.values()) for counts in data["data"]["counts"].values()), None
    if command == "evaluate":
        return data["num_samples"], None
    if command == "predict":
        paths = frozenset(row["image"] for row in data["results"])
        return len(paths), paths
    if command == "visualize":
        paths = frozenset(row["image"] for row in data["written"])
        return len(paths), paths
    return None, None  # a command without a machine-readable count: reports and exit code only


def classify(case: Case, command: str, seen: Observed, root: Path, isolated: bool) -> Cell:
    """The outcome of `case` under `command`, from what the command did.

    File cases must be run on their isolated dataset (`single/<case>`): the case file is used
    when one image more than the clean ones was used, skipped when a line names it.
    """
    if seen.code == 2:
        return Cell(REFUSED, seen.error or "")
    if "Traceback" in seen.stderr:
        return Cell(CRASHED, seen.stderr.strip().splitlines()[-1])
    if case.scope == "file":
        if not isolated:
            raise ValueError("file cases are classified on their isolated dataset")
        target = str(root / "single" / case.name / "a" / Path(case.path).name)
        if target in seen.skips:
            return Cell(SKIPPED, "; ".join(seen.skips[target]))
        if seen.used is None:
            return Cell(UNCOUNTED)
        baseline = GOOD_PER_CLASS * len(COLOURS)
        return Cell(USED if seen.used == baseline + 1 else IGNORED if seen.used == baseline else "?")
    hits = [f"{Path(p).name}: {seen.skips[p][0]}" for p in _reported(case, root) if p in seen.skips]
    return Cell(SKIPPED, "; ".join(hits)) if hits else Cell(USED)


def matches(case: Case, command: str, cell: Cell, seen: Observed, root: Path) -> bool:
    """Whether `cell` is what the manifest expects: same outcome, the expected words, every report."""
    expected = case.expect[command]
    if cell.outcome == UNCOUNTED:
        return expected.outcome in (USED, IGNORED)
    if cell.outcome != expected.outcome or expected.says not in cell.text:
        return False
    if cell.outcome == REFUSED:
        return seen.used is None and len([ln for ln in seen.stderr.splitlines() if ln.startswith(_ERROR_PREFIX)]) == 1
    if case.scope == "dataset" and cell.outcome == SKIPPED:
        return all(len(seen.skips.get(p, [])) == 1 for p in _reported(case, root))
    return True


def _reported(case: Case, root: Path) -> list[str]:
    return [str(root / path) for path in case.reported]


def data_for(case: Case, command: str, root: Path) -> Path:
    """What `command` is pointed at for `case` in the per-case table."""
    if case.scope == "file":
        return root / "single" / case.name
    return root / case.data_path(command)
