"""The run report: written by `train`, rebuilt from the run directory, robust to missing parts."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch
from report_pages import decode_data_uri, read_page, train_tiny, write_image

from transferlab.errors import TransferlabError
from transferlab.reports import RunData, Text, build_report, collect_report
from transferlab.reports import build as build_module

FEATURES_SECTIONS = ["overview", "data", "strategy", "model", "curves", "validation", "calibration", "top-losses",
                     "data-check", "gradcam", "activations", "filters", "class-images", "timings", "environment"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One features run shared by the module (training is most of a test's time)."""
    root = tmp_path_factory.mktemp("shared")
    with pytest.MonkeyPatch.context() as env:  # what the autouse hermetic fixture does per test
        env.setenv("TRANSFERLAB_CACHE", str(root / "cache"))
        env.setenv("TRANSFERLAB_OFFLINE", "1")
        colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
        for split, count in (("train", 10), ("val", 4)):
            for label, colour in colours.items():
                for i in range(count):
                    write_image(root / "data" / split / label / f"{i}.png", colour, seed=(0 if split == "train" else 100) + i)  # str hash varies per process
        return train_tiny(root / "data", root / "run")


@pytest.fixture
def features_run(trained_run, tmp_path):
    """A copy of the shared run that a test may change."""
    return shutil.copytree(trained_run, tmp_path / "run")


def test_train_writes_a_self_contained_report(features_run):
    html = (features_run / "report.html").read_text(encoding="utf-8")
    data = json.loads((features_run / "report.json").read_text(encoding="utf-8"))
    page = read_page(html)
    assert page.sections == [s["key"] for s in data["sections"]] == FEATURES_SECTIONS
    assert page.titles == [s["title"] for s in data["sections"]]
    # every image is embedded, decodes, and has the size its attributes announce
    json_figures = [f for s in data["sections"] for b in s["blocks"] if b["kind"] == "figures" for f in b["items"]]
    maps = [f for s in data["sections"] if s["key"] == "activations" for b in s["blocks"] if b["kind"] == "figures"
            for f in b["items"]]
    checks = [f for s in data["sections"] if s["key"] == "data-check" for b in s["blocks"] if b["kind"] == "figures"
              for f in b["items"]]
    # examples 12, top losses 12, curves + confusion + reliability 3, Grad-CAM 8, activation maps, filters 1,
    # class images 6, data check: one picture per finding shown
    assert len(page.images) == len(json_figures) == 12 + 12 + 3 + 8 + len(maps) + 1 + 6 + len(checks)
    for attrs in page.images:
        image = decode_data_uri(attrs["src"])
        assert image.size == (int(attrs["width"]), int(attrs["height"])) and attrs["alt"]
    assert "base64" not in json.dumps(data)  # the JSON names images, it does not carry them


def test_report_fetches_nothing(features_run):
    html = (features_run / "report.html").read_text(encoding="utf-8")
    page = read_page(html)
    assert page.urls and all(u.startswith(("data:image/", "#")) for u in page.urls)
    assert not {"link", "iframe", "object", "embed", "base"} & set(page.tags)
    assert "url(" not in html and "@import" not in html
    assert "default-src 'none'" in html  # the page's CSP forbids any fetch should one slip in


def test_report_sections_hold_the_run(features_run):
    data = json.loads((features_run / "report.json").read_text())
    sections = {s["key"]: s for s in data["sections"]}
    overview = sections["overview"]["blocks"][1]["items"]
    assert overview["strategy"] == "features" and overview["backbone"] == "tiny_cnn"
    counts = sections["data"]["blocks"][1]
    assert counts["header"] == ["class", "train", "val"] and counts["footer"] == ["total", "30", "12"]
    per_class = sections["validation"]["blocks"][1]
    assert [r[0] for r in per_class["rows"]] == ["blue", "green", "red"]
    curves = [b for b in sections["curves"]["blocks"] if b["kind"] == "figures"][0]["items"][0]
    assert curves["source"] == "curves.png"
    epoch_table = [b for b in sections["curves"]["blocks"] if b["kind"] == "table"][0]
    assert len(epoch_table["rows"]) == 3
    losses = [b for b in sections["top-losses"]["blocks"] if b["kind"] == "figures"][0]["items"]
    summary = json.loads((features_run / "summary.json").read_text())
    assert [f["source"] for f in losses] == [r["path"] for r in summary["val"]["top_losses"]]
    layers = [b for b in sections["model"]["blocks"] if b["kind"] == "table"]
    assert layers[0]["footer"][-1] == f"{sum(int(r[3].replace(',', '')) for r in layers[0]['rows']):,}"


def test_linear_run_explains_why_there_are_no_curves(split_folder, tmp_path):
    run = train_tiny(split_folder, tmp_path / "run", strategy="linear")
    data = json.loads((run / "report.json").read_text())
    sections = {s["key"]: s for s in data["sections"]}
    assert [b["kind"] for b in sections["curves"]["blocks"]] == ["text"]
    assert "no training epochs" in sections["curves"]["blocks"][0]["text"]
    recorded = [b for b in sections["strategy"]["blocks"] if b.get("title") == "What the strategy recorded"]
    assert "C" in recorded[0]["items"]


def test_missing_pngs_are_drawn_again(features_run):
    (features_run / "curves.png").unlink()
    (features_run / "confusion.png").unlink()
    files = build_report(features_run)
    sources = [f.source for s in files.report.sections for f in s.figures]
    assert "metrics.csv" in sources and "summary.json" in sources
    assert len(read_page(files.html.read_text()).images) == files.report.num_images


def test_missing_model_metrics_and_images_cost_only_their_parts(split_folder, tmp_path, caplog):
    run = train_tiny(split_folder, tmp_path / "run")
    for name in ("model.safetensors", "metrics.csv", "curves.png"):
        (run / name).unlink()
    shutil.rmtree(split_folder)
    with caplog.at_level(logging.WARNING):
        report = build_report(run).report
    sections = {s.key: s for s in report.sections}
    assert list(sections) == FEATURES_SECTIONS
    assert sections["model"].blocks[0].tone == "warning" and "could not be built" in sections["model"].blocks[0].text
    assert "model.safetensors" in caplog.text
    assert "No per-epoch metrics" in sections["curves"].blocks[-1].text
    missing = [b for b in sections["top-losses"].blocks if isinstance(b, Text) and b.tone == "warning"]
    assert "12 of these images can no longer be read" in missing[0].text
    assert not sections["top-losses"].figures and not sections["data"].figures
    assert "Example images are not shown: the data source cannot be read now" in sections["data"].blocks[-1].text


def test_a_failing_section_is_replaced_by_its_error(features_run):
    def broken(run):
        raise ValueError("boom")

    builders = [("overview", "Overview", lambda run: [Text("fine")]), ("broken", "Broken", broken),
                ("skipped", "Not applicable", lambda run: None)]
    report = collect_report(RunData.load(features_run), builders)
    assert [s.key for s in report.sections] == ["overview", "broken"]
    assert report.sections[1].blocks[0].text == "This section could not be built: ValueError: boom"


def test_user_strings_are_escaped(tmp_path):
    nasty = ['<img src=x onerror="alert(1)">', "a&b 'c'"]
    for split, count in (("train", 6), ("val", 3)):
        for k, name in enumerate(nasty):
            for i in range(count):
                write_image(tmp_path / "data" / split / name / f"{i}.png", (200, 30 + 150 * k, 30), seed=i)
    run = train_tiny(tmp_path / "data", tmp_path / "run")
    html = (run / "report.html").read_text()
    assert nasty[0] not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "a&amp;b &#x27;c&#x27;" in html
    page = read_page(html)
    assert all(u.startswith(("data:image/", "#")) for u in page.urls)  # no <img src=x> got through


def test_auto_decision_is_shown(features_run):
    summary_path = features_run / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["strategy"] = "auto"
    summary["details"]["chosen_strategy"] = "features"
    summary["details"]["decision"] = {
        "strategy": "features", "images_per_class": 10,
        "reasons": ["few images per class (10): training the base would overfit",
                    "photos similar to ImageNet: end-of-base features"],
        "candidates": [{"strategy": "linear", "cv": 0.91}, {"strategy": "features", "cv": 0.93, "note": "best"}],
        "config": {"strategy": "features", "hidden": 64}}
    summary_path.write_text(json.dumps(summary))
    shutil.copyfile(features_run / "confusion.png", features_run / "sweep.png")  # any PNG will do
    strategy = {s.key: s for s in build_report(features_run).report.sections}["strategy"]
    dumped = [b.to_dict() for b in strategy.blocks]
    assert dumped[0]["text"].startswith("Strategy: features (chosen by --strategy auto). The frozen pretrained")
    assert {"kind": "bullets", "title": "reasons", "items": summary["details"]["decision"]["reasons"]} in dumped
    assert any(b.get("title", "").startswith("Why this strategy") and b["items"]["strategy"] == "features"
               for b in dumped if b["kind"] == "facts")
    candidates = [b for b in dumped if b.get("title") == "candidates"][0]
    assert candidates["header"] == ["strategy", "cv", "note"] and candidates["rows"][1] == ["features", "0.93", "best"]
    assert [f.source for f in strategy.figures] == ["sweep.png"]
    settings = [b for b in dumped if b.get("title") == "Settings"][0]["items"]
    assert settings["hidden"] == "64"  # auto's choice, not the option it was given


def test_not_a_run_and_a_json_out_are_user_errors(tmp_path, features_run):
    with pytest.raises(TransferlabError, match="not a finished run"):
        build_report(tmp_path / "empty")
    with pytest.raises(TransferlabError, match="name it .html"):
        build_report(features_run, tmp_path / "r.json")
    (features_run / "summary.json").write_text("{not json")
    with pytest.raises(TransferlabError, match="corrupt"):
        build_report(features_run)


def test_report_out_elsewhere_writes_json_beside_it(features_run, tmp_path):
    files = build_report(features_run, tmp_path / "elsewhere" / "mine.html")
    assert files.html.is_file() and files.json == tmp_path / "elsewhere" / "mine.json" and files.json.is_file()


def test_report_failure_at_the_end_of_train_keeps_the_run(split_folder, tmp_path, monkeypatch, caplog):
    def fail(run, builders=None):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(build_module, "collect_report", fail)
    with caplog.at_level(logging.WARNING):
        run = train_tiny(split_folder, tmp_path / "run")
    assert (run / "summary.json").is_file() and (run / "model.safetensors").is_file()
    assert not (run / "report.html").exists()
    assert "RuntimeError: disk on fire" in caplog.text and f"transferlab report {run}" in caplog.text


@pytest.mark.parametrize("strategy,changes", [("finetune", {}), ("scratch", {"model": "conv8-pool-flatten-dense16"}),
                                              ("features-aug", {"views": 2})])
def test_every_strategy_gets_every_section_built(split_folder, tmp_path, strategy, changes):
    run = train_tiny(split_folder, tmp_path / "run", strategy=strategy, **changes)
    data = json.loads((run / "report.json").read_text())
    augmented = strategy != "scratch"  # scratch trains without augmentation unless asked
    expected = FEATURES_SECTIONS[:3] + ["augmentation"] * augmented + FEATURES_SECTIONS[3:]
    assert [s["key"] for s in data["sections"]] == expected
    if augmented:
        blocks = {s["key"]: s for s in data["sections"]}["augmentation"]["blocks"]
        assert [b["kind"] for b in blocks] == ["text", "code", "figures"]
        assert "- {op: hflip" in blocks[1]["text"]
    texts = [b["text"] for s in data["sections"] for b in s["blocks"] if b["kind"] == "text"]
    assert not [t for t in texts if "could not be built" in t]
    model = {s["key"]: s for s in data["sections"]}["model"]["blocks"][0]["items"]
    assert model["trained"].startswith({"finetune": "the head on the frozen base", "scratch": "every layer",
                                        "features-aug": "the head only"}[strategy])


def test_inside_sections_explain_the_right_images(features_run):
    data = json.loads((features_run / "report.json").read_text())
    sections = {s["key"]: s for s in data["sections"]}
    summary = json.loads((features_run / "summary.json").read_text())
    cams = [b for b in sections["gradcam"]["blocks"] if b["kind"] == "figures"][0]["items"]
    rows = summary["val"]["top_losses"][:8]
    assert [f["source"] for f in cams] == [r["path"] for r in rows]
    for figure, row in zip(cams, rows):
        tiles = 3 if row["true"] != row["predicted"] else 2  # input, predicted[, true]
        assert figure["width"] == tiles * 160 + (tiles - 1) * 4 and figure["caption"][0] == "✗✓"[tiles == 2]
    reps = [b for b in sections["class-images"]["blocks"] if b["kind"] == "figures"][0]["items"]
    assert [f["caption"].split(":")[0] for f in reps] == ["blue", "blue", "green", "green", "red", "red"]
    assert all(f"/val/{f['caption'].split(':')[0]}/" in f["source"] for f in reps)
    maps = [b for b in sections["activations"]["blocks"] if b["kind"] == "figures"]
    assert [b["title"].split(":")[0] for b in maps[1:]] == ["stem", "stage1", "stage2"]  # shallow to deep
    assert maps[0]["items"][0]["source"] in {r["path"] for r in summary["val"]["top_losses"]}
    for block in maps[1:]:
        channels = int(block["title"].split(": ")[1].split()[0])
        assert len(block["items"]) == min(12, channels) and {f["source"] for f in block["items"]} == {block["title"].split(":")[0]}
    assert [f["source"] for f in sections["filters"]["blocks"][1]["items"]] == ["stem.0"]


def test_report_leaves_the_model_as_it_was(features_run):
    from transferlab.models.artifacts import load_model

    model = load_model(features_run).classifier.train()
    model.backbone.body.stem.eval()  # a mix of modes must survive too
    modes = [m.training for m in model.modules()]
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    build_report(features_run, classifier=model)
    assert [m.training for m in model.modules()] == modes
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert not any(m._forward_hooks or m._backward_hooks for m in model.modules())  # every hook removed


@pytest.mark.parametrize("peak", [(0, 0), (6, 2), (31, 17), (15, 31)])
def test_class_image_box_is_the_unit_at_the_evidence_peak(peak):
    from transferlab.reports.sections.inside import _box_at_peak
    from transferlab.viz import ReceptiveField

    field = ReceptiveField(size=(7, 7), jump=(4, 4), start=(1.5, 1.5))  # an 8x8 map over a 32x32 image
    heatmap = np.zeros((32, 32), dtype=np.float32)
    heatmap[peak] = 1.0
    top, left, bottom, right = _box_at_peak(heatmap, field, (8, 8), 32)
    assert top <= peak[0] < bottom and left <= peak[1] < right  # the box covers the peak
    assert 4 <= bottom - top <= 7 and 4 <= right - left <= 7  # one unit's field, clipped at the border


def test_the_report_leaves_a_large_data_check_to_the_doctor(monkeypatch):
    from pathlib import Path

    import importlib

    section = importlib.import_module("transferlab.reports.sections.data_check")

    monkeypatch.setattr(section, "MAX_CHECKED_IMAGES", 10)
    summary = {"strategy": "linear", "data": {"counts": {"train": {"a": 6, "b": 4}, "val": {"a": 1}}}}
    run = RunData(Path("/nowhere"), summary, {"data": "photos/", "backbone": "efficientnet_lite0"})
    blocks = section.data_check(run)
    assert len(blocks) == 1 and "Not checked here: 11 images" in blocks[0].text
    assert "transferlab doctor photos/ --backbone efficientnet_lite0" in blocks[0].text
