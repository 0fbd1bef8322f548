"""From measurements to the notes' 2x2 guide, and from the guide to a concrete plan.

The guide (notes, lesson 13 and module 5 summary): small + similar -> a linear classifier on
the end of the conv base (beware fine-tuning); small + different -> a linear classifier on an
earlier layer; large + similar -> fine-tune; large + different -> fine-tune or retrain (still
initialised from ImageNet). Every threshold below is a named constant with its reason, and every
decision returns the sentence that explains it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .candidates import Candidate, paired_se
from .dataset import DatasetFacts
from .similarity import Similarity
from .sweep import SweepResult, layer_label

# "Small" vs "large": the notes' small-data example (Chollet's cats vs dogs, "bases de datos
# pequeñas") has 1,000 training images per class; large means clearly more, twice that.
LARGE_PER_CLASS = 2000
# The ImageNet head's mean top-1 probability: ~0.75 on ImageNet's own validation images; a
# head that guesses (textures, digits, micrographs) stays far below. Half-way-ish cut.
HEAD_CONFIDENCE_SIMILAR = 0.30
# Mean over BatchNorm layers of the median per-channel Gaussian KL(dataset || ImageNet).
# Zero for ImageNet itself; photos of ImageNet-like objects stay near a few hundredths.
BN_KL_SIMILAR = 0.10
# A frozen base already this accurate (CV on train) leaves fine-tuning nothing to measure.
SATURATED = 0.995
# Fine-tuning every layer of data unlike ImageNet: one rate for every group. The default (2e-4 at
# the head, x0.5 per group going shallower) starts the first blocks at 1/64-1/32 of the head's
# rate; 5e-4 everywhere gained 3.6 and 7.3 points on two unlike held-out sets (issue 16). On
# flowers and neu_steel_defects it tied the default (BENCHMARKS.md): auto's trial measures it.
UNLIKE_RATES = {"lr": 5e-4, "lr_mult": 1.0}
# Largest/smallest class above this: weight the loss by inverse class frequency.
IMBALANCED = 3.0
# Images much smaller than the backbone's input are fine-tuned at twice their side, at least
# this, instead of upsampled to the whole input: a training step costs about the pixels, and
# below ~96 px per-image overheads take over. mnist5k (28 px), 10 epochs of every layer:
# 35 s an epoch at 96 px (test 0.982), 26 s at 64 px (0.974); 150-166 s at 224 px.
MIN_FINETUNE_SIDE = 96
# Where fine-tuning at that side does not fit the budget (large data), smaller sides are tried,
# each 3/4 of the one before, down to the images' own median side or half the backbone's input,
# never below this. 17,264 tiles of 64 px (neu_steel_defects cut 4x4), every layer at 96 px:
# 152 s an epoch, val 0.951 after 3 epochs against 0.929 for the best frozen base at 224 px.
SMALLEST_FINETUNE_SIDE = 64
MAX_FINETUNE_SIDES = 3

NOTES_ADVICE = {
    ("small", "similar"): "a linear classifier on the end of the conv base (beware fine-tuning)",
    ("small", "different"): "a linear classifier on an earlier layer",
    ("large", "similar"): "fine-tuning",
    ("large", "different"): "fine-tuning or retraining, still initialised from ImageNet",
}


def choose_layer(sweep: SweepResult) -> tuple[str | None, str]:
    """The sweep's best layer, unless the end of the base is within one standard error of it
    (the one-standard-error rule: keep the simpler, exportable, fine-tunable end)."""
    best, end = sweep.best, sweep.end
    gain, se = sweep.gain_over_end()
    if best.layer is None or gain <= se:
        why = (f"the end of the conv base scores {end.cv_mean:.4f}" + (
            f", within one standard error ({se:.4f}) of the best, {best.label} at {best.cv_mean:.4f}"
            if best.layer is not None else ", the best of every depth"))
        return None, f"Depth sweep ({sweep.folds}-fold CV on train): {why}: cut at the end."
    return best.layer, (f"Depth sweep ({sweep.folds}-fold CV on train): {best.label} scores {best.cv_mean:.4f}, "
                        f"{100 * gain:.2f} points above the end ({end.cv_mean:.4f}; standard error "
                        f"{100 * se:.2f}): cut at {best.label}.")


def size_class(facts: DatasetFacts) -> tuple[str, str]:
    """`small` or `large` by the median training images per class."""
    median = facts.per_class_median
    name, smallest = facts.smallest_class
    size = "large" if median >= LARGE_PER_CLASS else "small"
    return size, (f"Size: {median:,.0f} training images per class (median; smallest {name}: {smallest}) is "
                  f"{'at least' if size == 'large' else 'below'} {LARGE_PER_CLASS:,}: {size}.")


def similarity_votes(similarity: Similarity | None, sweep: SweepResult | None,
                     layer: str | None) -> tuple[dict, str, str]:
    """Each signal's value, threshold and verdict; the majority verdict (ties: the sweep's)."""
    votes = {}
    if similarity is not None and similarity.head_confidence is not None:
        votes["imagenet_head"] = _vote(similarity.head_confidence, HEAD_CONFIDENCE_SIMILAR, higher_is_similar=True)
    if similarity is not None and similarity.bn_kl is not None:
        votes["batchnorm_kl"] = _vote(similarity.bn_kl, BN_KL_SIMILAR, higher_is_similar=False)
    if sweep is not None:
        gain, se = sweep.gain_over_end()
        votes["depth_sweep"] = {"value": round(gain, 4), "threshold": f"one standard error ({se:.4f})",
                                "says": "similar" if layer is None else "different"}
    if not votes:
        return votes, "similar", "Similarity: nothing measurable without ImageNet weights; assumed similar."
    different = sum(v["says"] == "different" for v in votes.values())
    verdict = "different" if different * 2 > len(votes) else "similar"
    if different * 2 == len(votes) and "depth_sweep" in votes:
        verdict = votes["depth_sweep"]["says"]
    return votes, verdict, _similarity_sentence(votes, similarity, verdict)


def _vote(value: float, threshold: float, higher_is_similar: bool) -> dict:
    similar = value >= threshold if higher_is_similar else value <= threshold
    return {"value": round(value, 4), "threshold": threshold, "says": "similar" if similar else "different"}


def _similarity_sentence(votes: dict, similarity: Similarity | None, verdict: str) -> str:
    parts = []
    if "imagenet_head" in votes:
        guess = similarity.imagenet_classes[0] if similarity.imagenet_classes else None
        parts.append(f"ImageNet head mean top-1 probability {votes['imagenet_head']['value']:.2f} "
                     f"(similar if >= {HEAD_CONFIDENCE_SIMILAR})"
                     + (f", most frequent guess '{guess[0].split(',')[0]}' ({guess[1]:.0%})" if guess else ""))
    if "batchnorm_kl" in votes:
        parts.append(f"BatchNorm KL to ImageNet statistics {votes['batchnorm_kl']['value']:.3f} "
                     f"(similar if <= {BN_KL_SIMILAR})")
    if "depth_sweep" in votes:
        parts.append(f"depth sweep cut {'at the end' if votes['depth_sweep']['says'] == 'similar' else 'earlier'}")
    count = sum(v["says"] == verdict for v in votes.values())
    return f"Similarity: {'; '.join(parts)}: {count} of {len(votes)} signals say {verdict}."


def quadrant(size: str, similarity: str) -> dict:
    """The cell of the notes' guide and what the notes advise there."""
    return {"size": size, "similarity": similarity, "cell": f"{size} + {similarity}",
            "notes_advise": NOTES_ADVICE[(size, similarity)]}


def pick_candidate(candidates: Sequence[Candidate]) -> tuple[Candidate, str]:
    """The cheapest candidate within one paired standard error of the best CV score.

    `candidates` are in order of cost (cheapest first) and share the same folds.
    """
    scored = [c for c in candidates if c.cv_mean is not None]
    best = max(scored, key=lambda c: c.cv_mean)
    for candidate in scored:
        se = paired_se(best.fold_scores, candidate.fold_scores)
        if best.cv_mean - candidate.cv_mean <= se:
            table = ", ".join(f"{c.strategy} {c.cv_mean:.4f}" for c in scored)
            why = ("the best" if candidate is best
                   else f"within one standard error ({se:.4f}) of {best.strategy} and cheaper")
            return candidate, f"Compared by the same CV folds on train: {table}: {candidate.strategy} is {why}."
    return best, ""


def finetune_settings(layers: Sequence[str | None], layer: str | None, similarity: str) -> tuple[dict, str]:
    """Where to unfreeze, read off the sweep: everything after the best layer is ImageNet-specific.

    Data unlike ImageNet: everything (the notes' "retrain", initialised from ImageNet; on unlike
    data whole-network fine-tuning gained 3-7 points over the top groups, issue 16). Cut at the
    end: the last two stage groups (the features are right, adapt them gently). Otherwise:
    every layer after the cut.
    """
    if similarity == "different":
        where = "at the end" if layer is None else f"at {layer_label(layer)}"
        return {"unfreeze": -1, "unfreeze_from": None, **UNLIKE_RATES}, (
            f"Fine-tune every layer at one rate, {UNLIKE_RATES['lr']:g} (the data is unlike ImageNet; the sweep "
            f"peaks {where}: retrain, initialised from ImageNet).")
    if layer is None:
        return {"unfreeze": 2, "unfreeze_from": None}, (
            "Fine-tune the last two stage groups (the sweep peaks at the end).")
    after = layers[list(layers).index(layer) + 1]
    if after is None:
        return {"unfreeze": 1, "unfreeze_from": None}, "Fine-tune the layers after the cut (the top group)."
    return {"unfreeze": 2, "unfreeze_from": after}, (
        f"Unfreeze from {after}, the first layer after the sweep's best ({layer_label(layer)}): "
        f"deeper layers are ImageNet-specific.")


def finetune_input_size(facts: DatasetFacts, default: int) -> int | None:
    """The square side to fine-tune at when the images are much smaller than `default` (the
    backbone's input): twice their median shorter side, rounded up to a multiple of 32 and at
    least `MIN_FINETUNE_SIDE`; None where that is not smaller than `default`."""
    if not facts.widths or not facts.heights:
        return None
    side = min(facts.widths["median"], facts.heights["median"])
    size = max(MIN_FINETUNE_SIDE, 32 * math.ceil(2 * side / 32))
    return size if size < default else None


def finetune_sides(facts: DatasetFacts, default: int) -> list[int | None]:
    """Input sides to fine-tune at, preferred first: `finetune_input_size` (None: the backbone's
    `default`), then smaller ones for a budget that does not fit it (see `SMALLEST_FINETUNE_SIDE`)."""
    first = finetune_input_size(facts, default)
    sides, side = [first], first or default
    if facts.widths and facts.heights:
        own = 32 * math.ceil(min(facts.widths["median"], facts.heights["median"]) / 32)
        floor = max(SMALLEST_FINETUNE_SIDE, min(own, default // 2))
        smaller = 32 * round(0.75 * side / 32)
        while len(sides) < MAX_FINETUNE_SIDES and floor <= smaller < side:
            side, smaller = smaller, 32 * round(0.75 * smaller / 32)
            sides.append(side)
    return sides


def wants_class_weights(facts: DatasetFacts) -> bool:
    return facts.imbalance >= IMBALANCED


def se_of(scores: Sequence[float]) -> float | None:
    return float(np.std(scores, ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else None
