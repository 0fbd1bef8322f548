"""Advice and sweeps as plain text for people (the CLI prints these; JSON is `to_dict`)."""

from __future__ import annotations

from .advice import Advice, Plan
from .budget import format_seconds
from .sweep import SweepResult

_FLAGS = {"layer": "--layer", "views": "--views", "augment": "--augment", "epochs": "--epochs",
          "epoch_images": "--epoch-images", "unfreeze": "--unfreeze", "unfreeze_from": "--unfreeze-from", "backbone": "--backbone", "lr": "--lr",
          "lr_mult": "--lr-mult", "input_size": "--input-size", "tta": "--tta"}


def format_sweep(sweep: SweepResult) -> str:
    """The accuracy-by-depth table, the best row marked with `*`."""
    lines = [f"depth sweep: logistic probe, {sweep.folds}-fold CV on {sweep.samples:,} training images "
             f"({sweep.seconds:.0f} s)",
             f"  {'layer':<12} {'dim':>5}  {'CV acc':>7}  {'+-':>6}  {'C':>5}"]
    best = sweep.best
    for row in sweep.rows:
        mark = "  *" if row is best else ""
        lines.append(f"  {row.label:<12} {row.dim:>5}  {row.cv_mean:7.4f}  {row.cv_std:6.4f}  {row.C:5g}{mark}")
    gain, se = sweep.gain_over_end()
    lines.append(f"  best: {best.label}, {100 * gain:+.2f} points over the end (standard error {100 * se:.2f})")
    return "\n".join(lines)


def train_command(advice: Advice) -> str:
    """The `transferlab train` command line that runs the plan by hand."""
    parts = [f"transferlab train {advice.data} --strategy {advice.plan.strategy}"]
    settings = {"backbone": advice.backbone, **advice.plan.settings}
    if settings["backbone"] == "efficientnet_lite0":
        settings.pop("backbone")
    for key, value in settings.items():
        if key == "class_weights" and value:
            parts.append("--class-weights")
        elif key in _FLAGS and value is not None:
            parts.append(f"{_FLAGS[key]} {value}")
    return " ".join(parts)


def format_advice(advice: Advice) -> str:
    """Everything a person needs: the numbers, the quadrant, the plan, why, and the cost."""
    sections = [_header(advice), _dataset(advice)]
    if advice.similarity is not None or advice.votes:
        sections.append(_similarity(advice))
    if advice.backbones:
        sections.append(_backbones(advice))
    if advice.sweep is not None:
        sections.append(format_sweep(advice.sweep))
    if advice.quadrant:
        q = advice.quadrant
        sections.append(f"quadrant: {q['cell']} -> the notes advise {q['notes_advise']}")
    if advice.candidates:
        sections.append(_candidates(advice))
    sections.append(_plan(advice.plan, advice))
    sections.append("why:\n" + "\n".join(f"  - {reason}" for reason in advice.reasons))
    sections.append(_cost(advice))
    return "\n\n".join(s for s in sections if s)


def _header(advice: Advice) -> str:
    head = f"data: {advice.data}   backbone: {advice.backbone} ({advice.weights})"
    if advice.too_small:
        head += "\nWARNING: too small to measure; see below"
    return head


def _dataset(advice: Advice) -> str:
    f = advice.facts
    counts = list(f.train_counts.values())
    text = (f"dataset: {f.train_images:,} training images, {len(f.classes)} classes, {min(counts)}-{max(counts)} "
            f"per class (imbalance {f.imbalance:.1f}:1)")
    if f.widths:
        text += (f"\n  image size (median of a sample): {f.widths['median']:.0f}x{f.heights['median']:.0f} "
                 f"(widths {f.widths['min']:.0f}-{f.widths['max']:.0f})")
    if f.modes:
        total = sum(f.modes.values())
        text += "\n  modes: " + ", ".join(f"{m} {n / total:.0%}" for m, n in sorted(f.modes.items()))
    if f.grey_share is not None:
        text += f"; grey content (equal channels): {f.grey_share:.0%} of the sample"
    return text


def _similarity(advice: Advice) -> str:
    sim, votes = advice.similarity, advice.votes
    lines = ["similarity to ImageNet:"]
    if sim is not None and sim.head_confidence is not None:
        guesses = ", ".join(f"{name.split(',')[0]} {share:.0%}" for name, share in sim.imagenet_classes)
        lines.append(f"  ImageNet head: mean top-1 probability {sim.head_confidence:.3f}, entropy "
                     f"{sim.head_entropy:.3f} of the maximum (guesses: {guesses}) -> {votes['imagenet_head']['says']}")
    if sim is not None and sim.bn_kl is not None:
        lines.append(f"  BatchNorm statistics vs ImageNet's: KL {sim.bn_kl:.3f}, mean shift {sim.bn_shift:.3f} "
                     f"std over {sim.bn_layers} layers ({sim.sample} images) -> {votes['batchnorm_kl']['says']}")
    if "depth_sweep" in votes:
        vote = votes["depth_sweep"]
        where = "earlier" if vote["says"] == "different" else "at the end"
        lines.append(f"  depth sweep: best layer {where} (gain over the end {100 * vote['value']:+.2f} points) -> "
                     f"{vote['says']}")
    return "\n".join(lines)


def _backbones(advice: Advice) -> str:
    lines = ["backbones (CV probe at the end of the base, same folds):",
             f"  {'backbone':<20} {'input':>5} {'CV acc':>7} {'img/s':>7}  status"]
    for b in advice.backbones:
        score = f"{b.cv_mean:.4f}" if b.cv_mean is not None else "-"
        rate = f"{1 / b.seconds_per_image:.1f}" if b.seconds_per_image else "-"
        lines.append(f"  {b.name:<20} {b.input_size:>5} {score:>7} {rate:>7}  {b.status}")
    return "\n".join(lines)


def _candidates(advice: Advice) -> str:
    lines = ["candidates (same CV folds on train):",
             f"  {'strategy':<13} {'settings':<34} {'CV acc':>7}  {'est. run':>10}  status"]
    for c in advice.candidates:
        settings = ", ".join(f"{k}={'end' if v is None and k == 'layer' else v}" for k, v in c.settings.items()
                             if v is not None or k == "layer")
        score = f"{c.cv_mean:.4f}" if c.cv_mean is not None else "-"
        lines.append(f"  {c.strategy:<13} {settings:<34} {score:>7}  {format_seconds(c.estimated_seconds):>10}  "
                     f"{c.status}")
    return "\n".join(lines)


def _plan(plan: Plan, advice: Advice) -> str:
    return (f"recommended: {plan.strategy}\n  {train_command(advice)}\n"
            f"  (or: transferlab train {advice.data} --strategy auto)")


def _cost(advice: Advice) -> str:
    estimate = (f"needs about {format_seconds(advice.plan.estimated_seconds)} more" if advice.throughput is not None
                else "was not estimated (nothing was measured)")
    lines = [f"cost: the advice took {format_seconds(advice.seconds)}; the recommended run {estimate}"]
    if advice.throughput is not None:
        rates = advice.throughput.images_per_second()
        train = f", {rates['train']} img/s full training step" if "train" in rates else ""
        lines.append(f"  measured on {advice.throughput.device}: {rates['forward']} img/s frozen forward{train}")
    budget = advice.budget or {}
    if budget.get("seconds") is not None:
        lines.append(f"  budget {format_seconds(budget['seconds'])}")
    for item in budget.get("given_up", []):
        lines.append(f"  gave up: {item}")
    return "\n".join(lines)
