"""Where transferlab keeps caches and runs, and how it writes files without leaving half-written ones."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

RUNS = Path("runs")  # where runs go when no --out is given


def cache_dir() -> Path:
    """Root of transferlab's caches: `$TRANSFERLAB_CACHE`, else `~/.cache/transferlab`."""
    root = os.environ.get("TRANSFERLAB_CACHE") or Path.home() / ".cache" / "transferlab"
    return Path(root)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o644)  # mkstemp makes 0600; results are meant to be shared
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    """Write `text` to `target` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class RunDir:
    """The layout of a run directory: every file `train` writes there, by what it holds.

    The names are class attributes (a report cites them as sources); each property is the
    file's path in this run. `train` writes `config.yaml` (and `augment.yaml`) before training,
    `metrics.csv`, `best.safetensors` and `state.safetensors` while training, then the model
    (`model.safetensors` + `model.json`), `summary.json`, the plots and the report.

    Attributes:
        root: the run directory.
    """

    root: Path  # a str or os.PathLike is turned into a Path

    CONFIG: ClassVar[str] = "config.yaml"
    AUGMENT: ClassVar[str] = "augment.yaml"
    METRICS: ClassVar[str] = "metrics.csv"
    BEST: ClassVar[str] = "best.safetensors"
    STATE: ClassVar[str] = "state.safetensors"
    MODEL_WEIGHTS: ClassVar[str] = "model.safetensors"
    MODEL_META: ClassVar[str] = "model.json"
    CALIBRATION: ClassVar[str] = "calibration.safetensors"
    RELIABILITY: ClassVar[str] = "reliability.png"
    SUMMARY: ClassVar[str] = "summary.json"
    CONFUSION: ClassVar[str] = "confusion.png"
    CURVES: ClassVar[str] = "curves.png"
    SWEEP: ClassVar[str] = "sweep.png"
    REPORT: ClassVar[str] = "report.html"
    TRIAL: ClassVar[str] = "trial"
    VIZ: ClassVar[str] = "viz"
    START_FILES: ClassVar[frozenset[str]] = frozenset({CONFIG, AUGMENT})  # written before training starts

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def default(cls, data: str | os.PathLike, strategy: str) -> "RunDir":
        """Where `train` puts a run without `--out`: `runs/<data folder name>-<strategy>`."""
        return cls(RUNS / f"{Path(data).name}-{strategy}")

    @property
    def config(self) -> Path:
        return self.root / self.CONFIG

    @property
    def augment(self) -> Path:
        return self.root / self.AUGMENT

    @property
    def metrics(self) -> Path:
        return self.root / self.METRICS

    @property
    def best(self) -> Path:
        """The weights of the best epoch so far."""
        return self.root / self.BEST

    @property
    def state(self) -> Path:
        """What `--resume` continues from."""
        return self.root / self.STATE

    @property
    def model_weights(self) -> Path:
        return self.root / self.MODEL_WEIGHTS

    @property
    def model_meta(self) -> Path:
        """How to rebuild the model before loading its weights."""
        return self.root / self.MODEL_META

    @property
    def calibration(self) -> Path:
        """The training features' class centroids, for the unknown flag (scalars are in model.json)."""
        return self.root / self.CALIBRATION

    @property
    def reliability(self) -> Path:
        """Confidence vs accuracy on validation, before and after the temperature."""
        return self.root / self.RELIABILITY

    @property
    def summary(self) -> Path:
        return self.root / self.SUMMARY

    @property
    def confusion(self) -> Path:
        return self.root / self.CONFUSION

    @property
    def curves(self) -> Path:
        return self.root / self.CURVES

    @property
    def sweep(self) -> Path:
        """`auto`'s depth sweep plot."""
        return self.root / self.SWEEP

    @property
    def report(self) -> Path:
        return self.root / self.REPORT

    @property
    def trial(self) -> Path:
        """The folder of `auto`'s fine-tuning trial (removed once decided)."""
        return self.root / self.TRIAL

    @property
    def viz(self) -> Path:
        """Where `visualize` writes pictures of this run's model."""
        return self.root / self.VIZ

    def has_model(self) -> bool:
        """True once `train` has saved the model (model.json is there)."""
        return self.model_meta.is_file()
