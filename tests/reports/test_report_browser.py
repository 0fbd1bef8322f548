"""The report in a real browser: headless Chromium renders every section and every image.

`make test` installs Debian's `chromium` when it is missing; where it cannot be installed the test
is skipped with a message saying so. Set TRANSFERLAB_REPORT_SCREENSHOT=FILE to keep the screenshot.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from report_pages import read_page, train_tiny, write_image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Without the background-networking flags Chromium waits for the network on a closed machine.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio")
TIMEOUT = 180  # a cold start on a busy 2-core machine can take a while

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not found: 'make test' installs Debian's chromium package; "
           "it could not be installed here, so the report's browser test is skipped",
)


@pytest.fixture
def full_run(tmp_path):
    """A features run on data with train/val/test, so every section of the report applies."""
    colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
    for split, count in (("train", 8), ("val", 4), ("test", 4)):
        for label, colour in colours.items():
            for i in range(count):
                write_image(tmp_path / "data" / split / label / f"{i}.png", colour, seed=(0 if split == "train" else 100) + i)  # str hash varies per process
    return train_tiny(tmp_path / "data", tmp_path / "run")


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def test_chromium_renders_every_section_and_image(full_run, tmp_path):
    report = full_run / "report.html"
    data = json.loads((full_run / "report.json").read_text())
    expected_images = sum(len(b["items"]) for s in data["sections"] for b in s["blocks"] if b["kind"] == "figures")
    assert [s["key"] for s in data["sections"]] == ["overview", "data", "strategy", "model", "curves",
                                                   "validation", "test", "calibration", "top-losses", "data-check",
                                                   "gradcam", "activations",
                                                   "filters", "class-images", "timings", "environment"]

    done = _chromium(tmp_path, "--dump-dom", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", done.stdout)
    assert body, done.stdout[:500]
    marks = dict(re.findall(r'data-([a-z-]+)="(\d+)"', body.group(1)))
    # set by the page's own script on load: what the browser actually rendered
    assert marks["sections"] == marks["sections-expected"] == str(len(data["sections"]))
    assert marks["images"] == marks["images-loaded"] == marks["images-expected"] == str(expected_images)
    rendered = read_page(done.stdout)
    assert rendered.sections == [s["key"] for s in data["sections"]]
    assert f"{len(data['sections'])} sections, {expected_images} of {expected_images} images rendered" in done.stdout


def test_chromium_screenshot_shows_the_report(full_run, tmp_path):
    shot = tmp_path / "report.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", (full_run / "report.html").as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1280, 2400)
        pixels = np.asarray(image.convert("RGB"))
    # a blank or error page has a handful of colours; text, tables and thumbnails have thousands
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 500 and shot.stat().st_size > 50_000
    keep = os.environ.get("TRANSFERLAB_REPORT_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
