"""`scratch`: a network trained from random weights, a small CNN spec or a registered backbone."""

from __future__ import annotations

from ..backbones import create_backbone
from ..errors import unknown_name
from ..models.classifier import Classifier
from ..models.recipes import get_recipe, list_recipes
from ..models.scratch import build_scratch_backbone, is_scratch_spec
from .common import RunContext, StrategyOutcome, resolve_preprocessing
from .endtoend import Phase, decode_split, train_on_images

DEFAULT_SCRATCH_SIZE = 32


def build_scratch_classifier(model: str | None, backbone: str, num_classes: int, input_size: int | None) -> Classifier:
    """A recipe, a spec string, or a registered backbone with random weights and its own top."""
    if model is None:
        net = create_backbone(backbone, "none", include_top=True, num_classes=num_classes, input_size=input_size)
    elif model in list_recipes():
        net = get_recipe(model).build(num_classes=num_classes, input_size=input_size)
    elif is_scratch_spec(model):
        net = build_scratch_backbone(model, num_classes, input_size or DEFAULT_SCRATCH_SIZE)
    else:
        raise unknown_name("scratch model (recipe or spec)", model, list_recipes())
    return Classifier(net, None)


def run_scratch(ctx: RunContext) -> StrategyOutcome:
    config = ctx.config
    classifier = build_scratch_classifier(config.model, config.backbone, len(ctx.splits.classes), config.input_size)
    backbone = classifier.backbone
    pre = backbone.preprocessing = resolve_preprocessing(ctx, backbone.preprocessing)
    train = decode_split(ctx, ctx.splits.train, pre.resize_size, pre.interpolation)
    val = decode_split(ctx, ctx.splits.val, pre.resize_size, pre.interpolation)
    groups = [{"params": list(classifier.parameters()), "lr": config.lr or 1e-3, "name": "all"}]
    history = train_on_images(ctx, classifier, groups, train, val,
                              Phase("scratch", config.epochs or 20, config.augment or "none"))
    details = {"model": backbone.name, "trainable_params": sum(p.numel() for p in classifier.parameters())}
    return StrategyOutcome(classifier, history, details)
