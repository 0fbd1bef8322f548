"""`run_ladder`: train every rung into OUT/<rung>/ and keep the comparison up to date after each one."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ...config import TrainConfig
from ...data import load_splits
from ...engine.device import pick_device
from ...errors import TransferlabError
from ..run import OnSaved, train
from ...advise.budget import format_seconds
from .plan import Plan, PlannedRung, plan_ladder
from .report import RungResult, failed_result, finished_result, write_report
from .rungs import IDENTITY, RUNGS, LadderOptions, Rung, select_rungs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LadderResult:
    """A ladder's folder, its plan and one result per rung (ladder order)."""

    out: Path
    plan: Plan
    results: tuple[RungResult, ...]

    @property
    def failed(self) -> list[RungResult]:
        return [r for r in self.results if r.status == "failed"]


def run_ladder(options: LadderOptions, out: str | Path | None = None, rungs: str | list[str] | None = None,
               progress: bool = False, resume: bool = False, on_saved: OnSaved | None = None) -> LadderResult:
    """Train the ladder's rungs one after the other and compare them.

    Each rung is an ordinary run directory `out/<rung>/` (see `transferlab.strategies.train`);
    `out/ladder.json`, `ladder.md` and `ladder.png` are rewritten after every rung, so an
    interrupted ladder still shows what it has. A rung that fails with a user error is
    recorded as failed and the ladder goes on.

    Args:
        options: what the rungs share (data, backbone, budget...).
        out: the ladder's folder (default `runs/ladder-<data>`).
        rungs: names (`"scratch,linear"` or a list) to run a subset; default all of `RUNGS`.
        progress: progress bars for each rung.
        resume: keep finished rungs, continue started ones with their saved configuration.
        on_saved: handed to `train` for every rung (the CLI writes each rung's report).

    Raises:
        TransferlabError: `out` holds a ladder and `resume` is off, or it holds a ladder of
            other data/options; an unknown rung; a configuration that cannot train.
    """
    out = Path(out or Path("runs") / f"ladder-{Path(options.data).name}")
    selected = select_rungs(rungs)
    earlier = _prepare_out(out, options, selected, resume)
    splits = load_splits(options.data, options.val_fraction, options.seed)
    plan = plan_ladder(options, selected, splits, earlier)
    _log_plan(plan)
    device = str(pick_device(options.device))
    results: dict[str, RungResult] = _other_finished(out, selected)
    write_report(out, _ordered(results), plan, options.to_dict(), device, finished=False)
    for index, planned in enumerate(plan.rungs, start=1):
        log.info("rung %d/%d: %s (%s)", index, len(plan.rungs), planned.rung.name, planned.rung.what)
        results[planned.rung.name] = _run_rung(planned, out / planned.rung.name, progress, resume, on_saved)
        write_report(out, _ordered(results), plan, options.to_dict(), device, finished=index == len(plan.rungs))
    return LadderResult(out, plan, tuple(_ordered(results)))


def _prepare_out(out: Path, options: LadderOptions, selected: tuple[Rung, ...], resume: bool) -> dict[str, TrainConfig]:
    """Check `out` can take this ladder; the saved configurations of rungs already started there."""
    saved = out / "ladder.json"
    started = [r for r in RUNGS if (out / r.name / "config.yaml").is_file()]
    if not resume:
        if saved.is_file() or started:
            raise TransferlabError(f"{out} already holds a ladder: pass --resume to continue it (finished rungs "
                                   f"are kept) or choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        return {}
    if saved.is_file():
        before = json.loads(saved.read_text(encoding="utf-8")).get("options", {})
        changed = [k for k in IDENTITY if k in before and before[k] != getattr(options, k)]
        if changed:
            raise TransferlabError(f"{out} holds a ladder with other {', '.join(changed)}: --resume needs the same "
                                   f"options, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    return {r.name: TrainConfig.load(out / r.name / "config.yaml") for r in selected if _trained(out / r.name)}


def _trained(run_dir: Path) -> bool:
    """The rung got past its start: resuming it needs its saved configuration.

    A config.yaml alone is a start that failed before training (a scratch network too big for
    the input, say): such a rung is planned afresh, so corrected options take effect.
    """
    return (run_dir / "config.yaml").is_file() and any(p.name != "config.yaml" for p in run_dir.iterdir())


def _run_rung(planned: PlannedRung, run_dir: Path, progress: bool, resume: bool,
              on_saved: OnSaved | None) -> RungResult:
    rung = planned.rung
    if resume and (run_dir / "summary.json").is_file():
        log.info("%s finished earlier: kept (%s)", rung.name, run_dir)
        return finished_result(rung, run_dir, "earlier", reductions=planned.reductions)
    start = time.perf_counter()
    try:
        train(planned.config, run_dir, progress=progress, resume=resume and _trained(run_dir), on_saved=on_saved)
    except TransferlabError as exc:
        log.error("rung %s failed: %s", rung.name, exc)
        return failed_result(rung, run_dir, str(exc), time.perf_counter() - start, planned.reductions)
    seconds = time.perf_counter() - start
    result = finished_result(rung, run_dir, "done", seconds, planned.reductions)
    log.info("%s: val accuracy %.4f in %s", rung.name, result.val_accuracy, format_seconds(seconds))
    return result


def _other_finished(out: Path, selected: tuple[Rung, ...]) -> dict[str, RungResult]:
    """Rungs not run now but finished in `out` by an earlier call: they stay in the comparison."""
    return {r.name: finished_result(r, out / r.name, "earlier") for r in RUNGS
            if r not in selected and (out / r.name / "summary.json").is_file()}


def _ordered(results: dict[str, RungResult]) -> list[RungResult]:
    return [results[r.name] for r in RUNGS if r.name in results]


def _log_plan(plan: Plan) -> None:
    for planned in plan.rungs:
        estimate = f", about {format_seconds(planned.estimate)}" if planned.estimate is not None else ""
        cut = f" [{'; '.join(planned.reductions)}]" if planned.reductions else ""
        origin = " [settings of the earlier run]" if planned.earlier else ""
        log.info("plan: %s = %s%s%s%s", planned.rung.name, planned.rung.strategy, estimate, cut, origin)
    if plan.budget_seconds is not None and plan.estimate_seconds is not None:
        log.info("plan: about %s in all, budget %s", format_seconds(plan.estimate_seconds),
                 format_seconds(plan.budget_seconds))
