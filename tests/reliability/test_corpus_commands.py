"""Every bad-input corpus case through train, extract, advise, evaluate, predict and visualize (in-process).

A file is either used or skipped with exactly one report line naming it and the reason, and
the command finishes; a dataset that cannot be used stops at once with exit code 2, one error
line and nothing written.
"""

from __future__ import annotations

import json

import pytest

from corpus.make_corpus import (DATASET_CASES, IGNORED, REFUSED, SKIPPED, USED, expected_used_in_mixed,
                                 make_corpus)
from corpus.runner import ARGV, classify, data_for, matches, prepare, run_command


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The corpus and a model trained on its clean images, made once for this module."""
    base = tmp_path_factory.mktemp("corpus")
    with pytest.MonkeyPatch.context() as patch:  # the autouse fixture is per test: stay hermetic here too
        patch.setenv("TRANSFERLAB_CACHE", str(base / "cache"))
        patch.setenv("TRANSFERLAB_OFFLINE", "1")
        cases = make_corpus(base / "root", isolated=True)
        ws = prepare(base / "root", base / "work")
    return cases, ws


def _file_cases(cases, outcome=None):
    return [c for c in cases if c.scope == "file" and (outcome is None or c.expect["train"].outcome == outcome)]


@pytest.mark.parametrize("command", list(ARGV))
def test_every_bad_file_is_reported_once_and_the_rest_used(corpus, command):
    cases, ws = corpus
    seen = run_command(command, ws.root / "mixed", ws)
    assert seen.code in (0, 1), seen.stderr  # 1: finished, some files skipped (evaluate, predict)
    assert "Traceback" not in seen.stderr and seen.error is None
    for case in _file_cases(cases, SKIPPED):
        path = str(ws.root / case.path)
        assert len(seen.skips.get(path, [])) == 1, (case.name, seen.skips.keys())
        assert case.expect[command].says in seen.skips[path][0], case.name
    for case in _file_cases(cases, USED) + _file_cases(cases, IGNORED):
        assert str(ws.root / case.path) not in seen.skips, case.name
    assert seen.used in (None, expected_used_in_mixed(cases))  # None: the command does not count them
    if seen.used_paths is not None:  # predict and extract say exactly which files they used
        expected = {str(ws.root / c.path) for c in _file_cases(cases, USED)}
        expected |= {str(ws.root / "mixed" / label / f"good_{i}.png") for label in "ab" for i in range(6)}
        assert seen.used_paths == expected


def test_train_lists_every_left_out_file_in_its_summary(corpus):
    cases, ws = corpus
    seen = run_command("train", ws.root / "mixed", ws)
    summary = json.loads(seen.stdout)
    listed = {item["path"] for item in summary["data"]["skipped"]}
    assert listed == set(seen.skips)  # decode failures as well as scan-time ones
    assert {str(ws.root / c.path) for c in _file_cases(cases, SKIPPED)} <= listed
    assert all((ws.last / name).is_file() for name in ("model.safetensors", "summary.json"))


@pytest.mark.parametrize("name, command", [(n, c) for n in DATASET_CASES for c in ARGV])
def test_dataset_cases(corpus, name, command):
    cases, ws = corpus
    (case,) = [c for c in cases if c.name == name]
    seen = run_command(command, data_for(case, command, ws.root), ws)
    cell = classify(case, command, seen, ws.root, isolated=True)
    assert matches(case, command, cell, seen, ws.root), (cell, seen.stderr)
    assert "Traceback" not in seen.stderr
    if command in ("train", "extract"):
        assert ws.last.exists() == (cell.outcome != REFUSED)  # a refused dataset leaves nothing behind


@pytest.mark.parametrize("name", ["png-as-jpg", "decompression-bomb", "ds-store"])
def test_isolated_file_cases_classify_as_expected(corpus, name):
    # The per-case table's method, on three cases: used, skipped and ignored by image counts.
    cases, ws = corpus
    (case,) = [c for c in cases if c.name == name]
    seen = run_command("predict", data_for(case, "predict", ws.root), ws)
    cell = classify(case, "predict", seen, ws.root, isolated=True)
    assert cell.outcome == case.expect["predict"].outcome and matches(case, "predict", cell, seen, ws.root)
