"""Trainer callbacks: progress bar, CSV log, best checkpoint, resumable state, early stopping, deadline."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from tqdm.auto import tqdm

from ..models.storage import save_weights
from ..paths import atomic_write_text
from .checkpoint import save_training_state

log = logging.getLogger(__name__)

CSV_COLUMNS = ("epoch", "phase", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


class ProgressBar:
    """A tqdm bar per epoch with running loss and accuracy (the CLI switches it on)."""

    def __init__(self, steps_per_epoch: int, enabled: bool = True):
        self.steps = steps_per_epoch
        self.enabled = enabled
        self.bar = None

    def on_batch_end(self, trainer, loss: float, acc: float) -> None:
        if self.bar is None:
            epoch = trainer.state["epoch"] + 2
            self.bar = tqdm(total=self.steps, desc=f"epoch {epoch}", unit="batch", disable=not self.enabled, leave=False)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.3f}")

    def on_epoch_end(self, trainer, row: dict) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        log.info(
            "epoch %d [%s] train loss %.4f acc %.4f | val loss %.4f acc %.4f | %.1fs",
            row["epoch"] + 1, row["phase"], row["train_loss"], row["train_acc"], row["val_loss"], row["val_acc"],
            row["seconds"],
        )


class CSVLogger:
    """Rewrites `metrics.csv` (atomically) with every epoch so far, across phases."""

    def __init__(self, path: Path, earlier_rows: list[dict] | None = None):
        self.path = path
        self.earlier = list(earlier_rows or [])

    def on_epoch_end(self, trainer, row: dict) -> None:
        rows = self.earlier + trainer.state["history"]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, buffer.getvalue())


class BestCheckpoint:
    """Saves the model's weights whenever validation accuracy improves."""

    def __init__(self, path: Path, metadata: dict[str, str] | None = None):
        self.path = path
        self.metadata = metadata

    def on_epoch_end(self, trainer, row: dict) -> None:
        if row["improved"]:
            save_weights(trainer.model, self.path, self.metadata)


class ResumableState:
    """Saves model, optimizer, RNG and trainer state after every epoch, for `--resume`."""

    def __init__(self, path: Path):
        self.path = path

    def on_epoch_end(self, trainer, row: dict) -> None:
        save_training_state(self.path, trainer.model, trainer.optimizer, trainer.state)


class Ahead(NamedTuple):
    """A later deadline a run earns once its validation accuracy reaches `accuracy`: `auto`'s
    trial, once it beats the frozen pick by the margin, needs no time kept back for that pick."""

    accuracy: float
    until: float


class Deadline:
    """Stops when another epoch as long as the last would end after `until` (on the `now` clock).
    From the end of the first epoch whose validation accuracy reaches `ahead.accuracy`, the limit
    is `ahead.until` instead.

    `auto`'s budget: an estimate that was too low costs epochs, not the budget. The epoch is
    timed on the same clock, so a clock that does not move (the tests') never stops a run.
    """

    def __init__(self, until: float, now: Callable[[], float], ahead: Ahead | None = None):
        self.until, self.now, self.ahead = until, now, ahead
        self.last = now()

    def on_epoch_end(self, trainer, row: dict) -> None:
        now = self.now()
        epoch, self.last = now - self.last, now
        if self.ahead is not None and row["val_acc"] >= self.ahead.accuracy:
            log.info("validation accuracy %.4f reached %.4f: training may go on %.0f s longer", row["val_acc"],
                     self.ahead.accuracy, self.ahead.until - self.until)
            self.until, self.ahead = max(self.until, self.ahead.until), None
        if now + epoch > self.until:
            log.info("stopping after epoch %d: another would end past the time budget", row["epoch"] + 1)
            trainer.should_stop = True
            trainer.state["stopped"] = True


class EarlyStopping:
    """Stops when validation accuracy has not improved for `patience` epochs."""

    def __init__(self, patience: int):
        self.patience = patience

    def on_epoch_end(self, trainer, row: dict) -> None:
        if self.patience > 0 and trainer.state["bad_epochs"] >= self.patience:
            log.info("early stop: no improvement for %d epochs", self.patience)
            trainer.should_stop = True
            trainer.state["stopped"] = True
