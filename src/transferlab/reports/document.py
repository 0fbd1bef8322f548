"""The report as data: sections made of a few kinds of blocks, renderable to HTML or JSON.

A block is plain data (text, key/value facts, a table, figures, code); nothing here knows about
HTML. `Figure` carries its encoded image bytes for the HTML file and leaves them out of the
JSON, which names the image's source instead.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union


@dataclass(frozen=True)
class Text:
    """A paragraph; `tone` "warning" marks something the reader should act on."""

    text: str
    tone: str = "info"
    kind: ClassVar[str] = "text"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "tone": self.tone}


@dataclass(frozen=True)
class Bullets:
    """A list of short sentences."""

    items: tuple[str, ...]
    title: str | None = None
    kind: ClassVar[str] = "bullets"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "items": list(self.items)}


@dataclass(frozen=True)
class Facts:
    """Key/value pairs, shown as a two-column list."""

    items: tuple[tuple[str, str], ...]
    title: str | None = None
    kind: ClassVar[str] = "facts"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "items": {k: v for k, v in self.items}}


@dataclass(frozen=True)
class Table:
    """A table of strings; columns listed in `numeric` are right-aligned."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str | None = None
    numeric: tuple[int, ...] = ()
    footer: tuple[str, ...] | None = None  # e.g. a "macro average" row, set apart
    collapsed: bool = False  # long tables start folded
    kind: ClassVar[str] = "table"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "header": list(self.header),
                "rows": [list(r) for r in self.rows], "footer": list(self.footer) if self.footer else None}


@dataclass(frozen=True)
class Figure:
    """One encoded image (PNG or JPEG) with a caption.

    Attributes:
        data: the encoded bytes, embedded in the HTML as a `data:` URI; not in the JSON.
        mime: "image/png" or "image/jpeg".
        width, height: pixel size, so the page lays out before decoding.
        caption: text under the image.
        alt: text for screen readers (defaults to the caption).
        source: where it came from (a run file name or an image path), for the JSON.
        wide: full width (plots) rather than a thumbnail in a grid.
    """

    data: bytes = field(repr=False)
    mime: str
    width: int
    height: int
    caption: str = ""
    alt: str = ""
    source: str | None = None
    wide: bool = False

    def data_uri(self) -> str:
        """The image as a `data:` URI."""
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    def to_dict(self) -> dict[str, Any]:
        return {"caption": self.caption, "alt": self.alt or self.caption, "source": self.source,
                "mime": self.mime, "width": self.width, "height": self.height, "bytes": len(self.data)}


@dataclass(frozen=True)
class Figures:
    """Plots shown full width, or thumbnails in a grid."""

    items: tuple[Figure, ...]
    title: str | None = None
    columns: int | None = None  # thumbnails per row; None fits as many as the page allows
    kind: ClassVar[str] = "figures"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "items": [f.to_dict() for f in self.items]}


@dataclass(frozen=True)
class Code:
    """Preformatted text (a model table, a config file), optionally folded."""

    text: str
    title: str | None = None
    collapsed: bool = False
    kind: ClassVar[str] = "code"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "text": self.text}


Block = Union[Text, Bullets, Facts, Table, Figures, Code]


@dataclass(frozen=True)
class Section:
    """One titled part of the report; `key` is its stable id (HTML anchor, JSON key)."""

    key: str
    title: str
    blocks: tuple[Block, ...]

    @property
    def figures(self) -> list[Figure]:
        """Every figure in this section."""
        return [f for b in self.blocks if isinstance(b, Figures) for f in b.items]

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "blocks": [b.to_dict() for b in self.blocks]}


@dataclass(frozen=True)
class Report:
    """A whole run report."""

    title: str
    run_dir: str
    generated: str
    sections: tuple[Section, ...]
    format: ClassVar[int] = 1

    @property
    def num_images(self) -> int:
        """How many images the report embeds."""
        return sum(len(s.figures) for s in self.sections)

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "title": self.title, "run_dir": self.run_dir,
                "generated": self.generated, "sections": [s.to_dict() for s in self.sections]}
