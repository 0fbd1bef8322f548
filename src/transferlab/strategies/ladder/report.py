"""A ladder's results: one row per rung, written as ladder.json, ladder.md and ladder.png."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ...evaluation import read_metrics_csv
from ...models.heads import Head
from ...paths import RunDir, atomic_write_text
from ...viz.render.ladder import plot_ladder
from ...advise.budget import format_seconds
from .plan import Plan
from .rungs import KAGGLE_WINNER, NOTES_SETUP, Rung

FILES = ("ladder.json", "ladder.md", "ladder.png")
HEADER = ("rung", "strategy", "input", "val acc", "test acc", "trainable params", "epochs", "wall time",
          "notes (dogs/cats)")
RIGHT = (2, 3, 4, 5, 6, 7, 8)  # numeric columns


@dataclass(frozen=True)
class RungResult:
    """What one rung produced (or why it did not).

    Attributes:
        name, strategy: the rung.
        status: `done` (trained now), `earlier` (finished by an earlier run, kept) or `failed`.
        run_dir: its run directory.
        val_accuracy, test_accuracy: from its summary.json (test: None without a test split).
        trainable_params: parameters the rung trained (the head alone on a frozen base).
        epochs: epochs trained (None for the closed-form `linear` probe).
        input_size: input side of the network.
        seconds: wall time of this rung (as recorded by its run when kept from earlier).
        notes_accuracy: the notes' figure for the rung.
        reductions: what the plan cut from its full settings.
        model: scratch network, if any.
        chosen: the strategy `auto` chose.
        error: the error of a failed rung.
    """

    name: str
    strategy: str
    status: str
    run_dir: Path
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    trainable_params: int | None = None
    epochs: int | None = None
    input_size: int | None = None
    seconds: float | None = None
    notes_accuracy: float | None = None
    reductions: tuple[str, ...] = ()
    model: str | None = None
    chosen: str | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return data | {"run_dir": str(self.run_dir), "reductions": list(self.reductions)}


def finished_result(rung: Rung, run_dir: Path, status: str, seconds: float | None = None,
                    reductions: tuple[str, ...] = ()) -> RungResult:
    """The result of a rung whose run directory holds a summary.json."""
    files = RunDir(run_dir)
    summary = json.loads(files.summary.read_text(encoding="utf-8"))
    model = json.loads(files.model_meta.read_text(encoding="utf-8"))
    chosen = summary.get("details", {}).get("chosen_strategy")
    return RungResult(
        rung.name, rung.strategy, status, run_dir,
        val_accuracy=summary["val"]["accuracy"],
        test_accuracy=summary["test"]["accuracy"] if "test" in summary else None,
        trainable_params=trainable_parameters(summary, model),
        epochs=None if (chosen or summary["strategy"]) == "linear" else summary["epochs"],
        input_size=model.get("input_size"),
        seconds=seconds if seconds is not None else summary["seconds"]["total"],
        notes_accuracy=rung.notes_accuracy, reductions=reductions, model=model.get("model"), chosen=chosen,
    )


def failed_result(rung: Rung, run_dir: Path, error: str, seconds: float, reductions: tuple[str, ...]) -> RungResult:
    return RungResult(rung.name, rung.strategy, "failed", run_dir, seconds=seconds, notes_accuracy=rung.notes_accuracy,
                      reductions=reductions, error=error)


def trainable_parameters(summary: dict, model: dict) -> int | None:
    """Parameters trained: as the run recorded them, else those of its head on a frozen base."""
    recorded = summary.get("details", {}).get("trainable_params")
    if recorded is not None:
        return int(recorded)
    if model.get("head"):
        return sum(p.numel() for p in Head(**model["head"]).parameters())
    return None


def table_rows(results: list[RungResult]) -> list[list[str]]:
    """Cells of the results table (see `HEADER`), numbers formatted."""
    return [[r.name, _strategy(r), _cell(r.input_size, "{} px"),
             _cell(r.val_accuracy, "{:.4f}") if r.status != "failed" else "failed", _cell(r.test_accuracy, "{:.4f}"),
             _cell(r.trainable_params, "{:,}"), _cell(r.epochs, "{}"),
             format_seconds(r.seconds) if r.seconds is not None else "-", _cell(r.notes_accuracy, "~{:.2f}")]
            for r in results]


def markdown(results: list[RungResult], plan: Plan, data: str, backbone: str, device: str) -> str:
    """ladder.md: the table, the notes' reference points and every caveat."""
    lines = [f"# Ladder on `{data}`", "",
             f"Transfer rungs: `{backbone}`. Device: {device}. Notes' column: {NOTES_SETUP} (validation accuracy).",
             "", "| " + " | ".join(HEADER) + " |",
             "|" + "|".join("---:" if i in RIGHT else "---" for i in range(len(HEADER))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    lines += ["", f"Kaggle Dogs vs. Cats winner (25,000 training photos, its own test set): {KAGGLE_WINNER:.4f}.",
              "Validation accuracy also chose each rung's best epoch (and the probe's C), so it is slightly "
              "optimistic; the test column, where the data has a test split, is untouched by any choice."]
    notes = [f"- `{r.name}`: {', '.join(r.reductions)}" for r in results if r.reductions]
    notes += [f"- `{r.name}` failed: {r.error}" for r in results if r.status == "failed"]
    notes += [f"- `{r.name}`: kept from an earlier run of this ladder" for r in results if r.status == "earlier"]
    notes += [f"- {warning}" for warning in plan.warnings]
    if plan.budget_seconds is not None:
        estimate = format_seconds(plan.estimate_seconds) if plan.estimate_seconds is not None else "-"
        notes.append(f"- budget {format_seconds(plan.budget_seconds)}, estimated {estimate} for the rungs run")
    return "\n".join(lines + (["", "Notes:", *notes] if notes else [])) + "\n"


def write_report(out: Path, results: list[RungResult], plan: Plan, options: dict, device: str,
                 finished: bool) -> None:
    """Write ladder.json, ladder.md and (once a rung has results) ladder.png into `out`."""
    report = {"options": options, "device": device, "finished": finished, "notes_setup": NOTES_SETUP,
              "kaggle_winner": KAGGLE_WINNER, "plan": plan.to_dict(), "rungs": [r.to_dict() for r in results],
              "files": list(FILES)}
    atomic_write_text(out / "ladder.json", json.dumps(report, indent=2, default=str))
    atomic_write_text(out / "ladder.md", markdown(results, plan, options["data"], options["backbone"], device))
    scored = [r for r in results if r.val_accuracy is not None]
    if scored:
        plot_ladder(_curves(scored), [_final(r) for r in scored], out / "ladder.png",
                    title=f"Ladder on {Path(options['data']).name}",
                    reference=("Kaggle dogs/cats winner", KAGGLE_WINNER))


def _curves(results: list[RungResult]) -> dict[str, dict[str, list[float]]]:
    """Validation accuracy per epoch; epoch 0 is the head on the frozen base where there is one."""
    curves = {}
    for r in results:
        path = RunDir(r.run_dir).metrics
        if not path.is_file():
            curves[r.name] = {"epoch": [0.0], "val_acc": [r.val_accuracy]}
            continue
        columns = read_metrics_csv(path)
        curves[r.name] = {"epoch": [float(e) + 1 for e in columns.get("epoch", [])],
                          "val_acc": [float(v) for v in columns.get("val_acc", [])]}
    return curves


def _final(r: RungResult) -> dict:
    return {"name": r.name, "val": r.val_accuracy, "test": r.test_accuracy, "notes": r.notes_accuracy}


def _strategy(r: RungResult) -> str:
    """`scratch (cats-dogs-small)`, `auto -> finetune`."""
    text = r.strategy + (f" -> {r.chosen}" if r.chosen else "")
    return text + (f" ({r.model})" if r.model else "")


def _cell(value, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return pattern.format(value)
