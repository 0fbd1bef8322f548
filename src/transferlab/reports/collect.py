"""A run directory read once (`RunData`) and turned into report sections, each independently."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from ..errors import TransferlabError
from ..evaluation.curves import read_metrics_csv
from ..paths import RunDir
from .document import Report, Section, Text

log = logging.getLogger(__name__)


@dataclass
class RunData:
    """What a finished run left on disk, loaded lazily where loading costs time.

    Attributes:
        run_dir: the run directory.
        summary: summary.json.
        config: config.yaml as a dict ({} if missing).
        classifier: an in-memory model to use instead of loading model.safetensors (`train`
            passes the one it just trained, which saves loading it again).
        memo: results one section computes and another may reuse (e.g. the Grad-CAM layer).
    """

    run_dir: Path
    summary: dict[str, Any]
    config: dict[str, Any]
    classifier: Any = field(default=None, repr=False)
    memo: dict[str, Any] = field(default_factory=dict, repr=False)  # values sections share (a layer name)

    @classmethod
    def load(cls, run_dir: str | Path, classifier=None) -> "RunData":
        """Read summary.json and config.yaml from `run_dir`.

        Raises:
            TransferlabError: `run_dir` is not a finished run (no or corrupt summary.json).
        """
        files = RunDir(run_dir)
        summary_path = files.summary
        if not summary_path.is_file():
            raise TransferlabError(f"{files.root}: no summary.json, so not a finished run; train first")
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise TransferlabError(f"{summary_path}: corrupt ({exc}); retrain the run") from None
        return cls(files.root, summary, _read_config(files.config), classifier)

    def path(self, name: str) -> Path | None:
        """`run_dir / name` if that file exists, else None."""
        candidate = self.run_dir / name
        return candidate if candidate.is_file() else None

    @cached_property
    def metrics(self) -> dict[str, list] | None:
        """metrics.csv as columns (epoch >= 0 rows only), or None without per-epoch rows."""
        path = self.path(RunDir.METRICS)
        if path is None:
            return None
        columns = read_metrics_csv(path)
        epochs = columns.get("epoch", [])
        keep = [i for i, e in enumerate(epochs) if isinstance(e, float) and not math.isnan(e) and e >= 0]
        if not keep:
            return None
        return {name: [values[i] for i in keep] for name, values in columns.items()}

    @cached_property
    def model(self):
        """(classifier, preprocessing) of the run: the one passed in, else loaded from disk."""
        if self.classifier is not None:
            return self.classifier, self.classifier.preprocessing
        from ..models.artifacts import load_model  # heavy; only sections that need it pay

        loaded = load_model(self.run_dir)
        return loaded.classifier, loaded.preprocessing

    @cached_property
    def preprocessing(self):
        """The model's input preprocessing, from model.json (no weights loaded)."""
        if self.classifier is not None:
            return self.classifier.preprocessing
        from ..backbones import Preprocessing

        path = self.path(RunDir.MODEL_META)
        if path is None:
            raise TransferlabError(f"{self.run_dir}: model.json missing")
        return Preprocessing.from_dict(json.loads(path.read_text(encoding="utf-8"))["preprocessing"])

    @property
    def strategy(self) -> str:
        """The strategy that trained the model (for `--strategy auto`, the one it chose)."""
        details = self.summary.get("details") or {}
        return str(details.get("chosen_strategy") or self.summary.get("strategy") or self.config.get("strategy", "?"))

    @property
    def classes(self) -> list[str]:
        return list(self.summary.get("classes") or self.summary.get("data", {}).get("classes", []))

    def evaluation(self, split: str) -> dict[str, Any] | None:
        """summary.json's metrics for `split` ("val" or "test"), or None."""
        value = self.summary.get(split)
        return value if isinstance(value, dict) and "accuracy" in value else None


def collect_report(run: RunData, builders=None) -> Report:
    """Every section of the report for `run`, in order.

    A section whose builder returns None does not apply to this run and is left out; one whose
    builder fails is replaced by a section that says what went wrong, so one broken artefact
    never costs the rest of the report.

    Args:
        run: the loaded run directory.
        builders: (key, title, builder) triples; default `sections.SECTIONS`.
    """
    if builders is None:
        from .sections import SECTIONS

        builders = SECTIONS
    sections = []
    for key, title, builder in builders:
        section = _build_one(run, key, title, builder)
        if section is not None:
            sections.append(section)
    name = run.run_dir.resolve().name
    return Report(
        title=f"transferlab run report: {name}",
        run_dir=str(run.run_dir),
        generated=datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
        sections=tuple(sections),
    )


def _build_one(run: RunData, key: str, title: str, builder) -> Section | None:
    try:
        blocks = builder(run)
    except Exception as exc:  # noqa: BLE001 - one section's failure must not lose the report
        log.warning("report section '%s' could not be built: %s: %s", key, type(exc).__name__, exc)
        log.debug("report section '%s' failed", key, exc_info=True)
        message = f"This section could not be built: {type(exc).__name__}: {exc}"
        return Section(key, title, (Text(message, tone="warning"),))
    if blocks is None:
        return None
    return Section(key, title, tuple(blocks))


def _read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        log.warning("%s: unreadable (%s); the report leaves the configuration out", path, exc)
        return {}
    return data if isinstance(data, dict) else {}
