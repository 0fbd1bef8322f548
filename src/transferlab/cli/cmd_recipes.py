"""`transferlab recipes`: the notes' small CNNs as named specs, with their parameter counts."""

from __future__ import annotations

import argparse
import sys

import torch

from ..models.recipes import Recipe, get_recipe, list_recipes
from . import _common

EXAMPLES = (
    "recipes",
    "recipes 'mnist-*' --json",
    "summary cifar-conv-dense                       # layer by layer: 1,792 + 1,843,232 + 330",
    "train mnist5k --strategy scratch --model mnist-conv",
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = _common.add_subcommand(
        subparsers, "recipes", "list the notes' CNNs (MNIST, CIFAR-10, dogs vs cats) as named specs",
        "List the course notes' networks as recipes: name, input, parameters (counted on the built "
        "model), scratch spec and what the notes show with it. Use a name with 'train --strategy "
        "scratch --model NAME' or 'summary NAME'.",
        EXAMPLES,
    )
    parser.add_argument("pattern", nargs="?", default="*", help="shell-style name filter (default: all)")
    _common.add_json_flag(parser)
    return parser


def recipe_info(recipe: Recipe) -> dict:
    """The recipe with its parameters counted on the built network, overall and per layer."""
    with torch.device("meta"):  # shapes and counts only: nothing allocated or initialised
        body = recipe.build().body
    layers = {name: sum(p.numel() for p in module.parameters(recurse=False)) for name, module in body.named_modules()}
    return {
        "name": recipe.name,
        "spec": recipe.spec,
        "input": [recipe.input_size, recipe.input_size, recipe.in_channels],
        "classes": recipe.num_classes,
        "parameters": sum(p.numel() for p in body.parameters()),
        "layer_parameters": {name: count for name, count in layers.items() if count},
        "notes_layer_parameters": dict(recipe.reference_params),
        "notes_total": recipe.reference_total,
        "description": recipe.description,
    }


def run(args: argparse.Namespace) -> int:
    names = list_recipes(args.pattern)
    if not names:
        _common.report_error(f"no recipe matches '{args.pattern}'; recipes: {', '.join(list_recipes())}")
        return _common.EXIT_USAGE
    infos = [recipe_info(get_recipe(name)) for name in names]
    if args.json:
        _common.print_json(infos)
        return _common.EXIT_OK
    rows = [[i["name"], "x".join(map(str, i["input"])), str(i["classes"]), f"{i['parameters']:,}", _versus_notes(i),
             i["spec"]] for i in infos]
    header = ("name", "input", "classes", "parameters", "notes' layers", "spec")
    lines = [_common.format_table(header, rows, right=(2, 3)), ""]
    lines += [f"{i['name']}: {i['description']}" for i in infos]
    lines += ["", "build one: transferlab train DATA --strategy scratch --model NAME; layers: transferlab summary NAME"]
    sys.stdout.write("\n".join(lines) + "\n")
    return _common.EXIT_OK


def _versus_notes(info: dict) -> str:
    """`same` when every layer the notes list has the notes' count, else which differ."""
    reference = info["notes_layer_parameters"]
    if not reference:
        return "-"
    differ = [name for name, count in reference.items() if info["layer_parameters"].get(name) != count]
    return f"differ: {', '.join(differ)}" if differ else f"same ({len(reference)})"
