"""Test helpers: train a tiny run, and read a report page back (sections, images, links)."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image

from transferlab.api import train_config
from transferlab.config import TrainConfig

TINY = {"backbone": "tiny_cnn", "weights": "none", "input_size": 32, "device": "cpu"}


def write_image(path: Path, colour: tuple[int, int, int], size: int = 24, seed: int = 0) -> Path:
    """A small noisy image dominated by `colour` (as tests/conftest.py's; imported from here because
    a second `conftest` module elsewhere in tests/ can shadow that name)."""
    rng = np.random.default_rng(seed)
    array = np.clip(np.array(colour)[None, None, :] + rng.normal(0, 20, (size, size, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)
    return path


def train_tiny(data: Path, out: Path, strategy: str = "features", **changes) -> Path:
    """A tiny_cnn run (seconds on a CPU); returns its run directory."""
    epochs = {"features": 3, "finetune": 2, "scratch": 2}.get(strategy)
    options = {**TINY, "epochs": epochs, **changes}
    return train_config(TrainConfig(data=str(data), strategy=strategy, **options), out).out


@dataclass
class Page:
    """What a report page holds, as parsed from its HTML."""

    sections: list[str] = field(default_factory=list)  # data-key of each <section>
    titles: list[str] = field(default_factory=list)  # <h2> texts
    images: list[dict] = field(default_factory=list)  # attributes of each <img>
    urls: list[str] = field(default_factory=list)  # every src/href/action/srcset value
    tags: list[str] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page, self._in_h2 = Page(), False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.page.tags.append(tag)
        if tag == "section":
            self.page.sections.append(attrs.get("data-key"))
        if tag == "img":
            self.page.images.append(attrs)
        self._in_h2 = tag == "h2"
        self.page.urls += [v for k, v in attrs.items() if k in ("src", "href", "action", "srcset", "poster") and v]

    def handle_data(self, data):
        if self._in_h2:
            self.page.titles.append(data)
            self._in_h2 = False


def read_page(html: str) -> Page:
    """Parse a report page."""
    reader = _Reader()
    reader.feed(html)
    return reader.page


def decode_data_uri(uri: str) -> Image.Image:
    """The image inside a `data:image/...;base64,` URI (raises if it is not one)."""
    head, payload = uri.split(",", 1)
    assert head in ("data:image/png;base64", "data:image/jpeg;base64"), head
    image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
    image.load()
    return image
