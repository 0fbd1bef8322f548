"""The package graph of src/transferlab: imports run one way, no circle between packages, nothing imports cli.

Every import statement counts, wherever it is (module level, inside a function, under
TYPE_CHECKING), absolute or relative. Each edge is named by the file and line that makes it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import transferlab

ROOT = Path(transferlab.__file__).parent
# Each package or top-level module imports only from its own tier and the tiers before it.
TIERS = (
    ("config", "errors", "paths"),
    ("data", "backbones"),
    ("models",),
    ("features", "engine", "evaluation"),
    ("viz",),
    ("advise", "doctor", "strategies"),
    ("reports",),
    ("api",),
    ("cli",),
)
RANK = {name: rank for rank, tier in enumerate(TIERS) for name in tier}
# The package's own entry points stand above every tier: `__init__` (the public names, the verbs
# loaded on first use) and `__main__` (`python -m transferlab` runs the CLI).
ENTRY_POINTS = ("__init__", "__main__")

Edges = dict[tuple[str, str], list[str]]  # (importer, imported) -> ["file:line", ...]


def top_level(path: Path, root: Path) -> str:
    """The package or top-level module `path` belongs to (`reports`, `config`, `__init__`)."""
    first = path.relative_to(root).parts[0]
    return first.removesuffix(".py")


def imported_names(path: Path, root: Path):
    """(top-level name, line) of every import of the package in `path`."""
    package = list(path.relative_to(root).parent.parts)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == root.name and len(parts) > 1:
                    yield parts[1], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = package[: len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == root.name:
                target = node.module.split(".")[1:]
            else:
                continue
            names = target[:1] or [alias.name for alias in node.names]  # `from .. import viz`
            for name in names:
                yield name, node.lineno


def package_edges(root: Path) -> Edges:
    """Every import between two different top-level packages or modules under `root`."""
    known = {path.name.removesuffix(".py") for path in root.iterdir() if path.is_dir() or path.suffix == ".py"}
    edges: Edges = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        source = top_level(path, root)
        for target, line in imported_names(path, root):
            if target in known and target != source:  # not `__version__` and the like
                edges[(source, target)].append(f"{path.relative_to(root.parent)}:{line}")
    return dict(edges)


def against_direction(edges: Edges) -> list[str]:
    return [f"{source} -> {target} ({', '.join(where)})" for (source, target), where in sorted(edges.items())
            if source not in ENTRY_POINTS and RANK[target] > RANK[source]]


def cycles(edges: Edges) -> list[list[str]]:
    """The strongly connected groups of more than one package (Tarjan), each sorted."""
    graph = defaultdict(set)
    for source, target in edges:
        graph[source].add(target)
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def cycle_message(group: list[str], edges: Edges) -> str:
    inside = [f"{s} -> {t} ({', '.join(where)})" for (s, t), where in sorted(edges.items()) if {s, t} <= set(group)]
    return f"circle between {', '.join(group)}: " + "; ".join(inside)


@pytest.fixture(scope="module")
def edges() -> Edges:
    return package_edges(ROOT)


def test_every_package_has_a_tier(edges):
    names = {top_level(path, ROOT) for path in ROOT.rglob("*.py")} - set(ENTRY_POINTS)
    assert not sorted(names - set(RANK)), "place these in TIERS (and README's Layout)"


def test_imports_follow_the_direction(edges):
    wrong = against_direction(edges)
    assert not wrong, "imports against the direction:\n" + "\n".join(wrong)


def test_no_circle_between_packages(edges):
    found = cycles(edges)
    assert not found, "\n".join(cycle_message(group, edges) for group in found)


def test_nothing_imports_cli(edges):
    wrong = [f"{s} ({', '.join(where)})" for (s, t), where in sorted(edges.items()) if t == "cli" and s != "__main__"]
    assert not wrong, "cli is imported by: " + "; ".join(wrong)


def test_the_walk_sees_every_kind_of_import(tmp_path):
    root = tmp_path / "transferlab"
    files = {
        "config.py": "from .errors import E\n",
        "errors.py": "def f():\n    from transferlab.cli import main  # function level\n",
        "cli/__init__.py": "",
        "cli/main.py": "from .. import viz\nimport transferlab.config\n",
        "viz/__init__.py": "",
        "viz/sources.py": "from .. import __version__\nfrom ..strategies.run import train\n",
        "strategies/__init__.py": "from ..viz import sources\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    found = package_edges(root)
    assert found[("config", "errors")] == ["transferlab/config.py:1"]
    assert found[("errors", "cli")] == ["transferlab/errors.py:2"]
    assert set(found) >= {("cli", "viz"), ("cli", "config"), ("viz", "strategies"), ("strategies", "viz")}
    assert against_direction(found)[0] == "errors -> cli (transferlab/errors.py:2)"
    assert sorted(cycles(found)) == [["cli", "config", "errors"], ["strategies", "viz"]]
    assert "viz -> strategies (transferlab/viz/sources.py:2)" in cycle_message(["strategies", "viz"], found)
