"""A `Report` as one self-contained HTML page: inline CSS, images as `data:` URIs, no URL at all.

Every piece of text from the run (class names, paths, notes) goes through `html.escape`. A
Content-Security-Policy forbids any network fetch, so the page renders the same offline. A
small inline script marks `<body>` on load with how many sections and images rendered
(`data-sections`, `data-images`, `data-images-loaded`), which the browser test reads back.
"""

from __future__ import annotations

from html import escape

from .document import Block, Bullets, Code, Facts, Figures, Report, Section, Table, Text

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

_NUM = ' class="num"'  # right-aligned numeric cell

_CSS = """
:root { --fg: #1d2433; --muted: #5b6475; --line: #d9dee7; --accent: #2f6fde; --warn-bg: #fff4e0; --warn: #8a5300; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: #f5f7fa; }
header, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 12px; border-bottom: 2px solid var(--line); padding-bottom: 6px; }
h3 { font-size: 15px; margin: 16px 0 8px; color: var(--muted); }
.meta { color: var(--muted); margin: 0 0 12px; }
nav ol { display: flex; flex-wrap: wrap; gap: 6px 16px; list-style: none; padding: 0; margin: 0 0 16px; }
nav a { color: var(--accent); text-decoration: none; }
section.report-section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 18px 22px;
                         margin: 0 0 18px; }
p.tone-warning { background: var(--warn-bg); color: var(--warn); border-left: 4px solid #f0a020; padding: 8px 12px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 8px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 14px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #eef1f6; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: 600; border-top: 2px solid var(--line); }
details { margin: 8px 0; }
summary { cursor: pointer; color: var(--accent); }
pre { background: #f0f2f6; padding: 10px 12px; border-radius: 6px; overflow-x: auto; font-size: 13px; }
.figures.wide figure { margin: 8px 0 14px; }
.figures.wide img { max-width: 100%; height: auto; }
.figures.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; }
.figures.grid figure { margin: 0; text-align: center; }
.figures.grid img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { font-size: 12.5px; color: var(--muted); margin-top: 4px; }
footer { color: var(--muted); font-size: 13px; padding-bottom: 32px; }
"""

# Counts what rendered once everything (all images) has loaded; the browser test reads it back.
_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  var sections = document.querySelectorAll("section.report-section").length;
  document.body.dataset.sections = String(sections);
  document.body.dataset.images = String(images.length);
  document.body.dataset.imagesLoaded = String(loaded);
  document.getElementById("render-status").textContent =
    sections + " sections, " + loaded + " of " + images.length + " images rendered";
});
"""


def render_html(report: Report) -> str:
    """The whole page for `report`, as a string."""
    nav = "".join(f'<li><a href="#{_id(s)}">{escape(s.title)}</a></li>' for s in report.sections)
    body = "\n".join(_section(s) for s in report.sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(report.title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f'<body data-sections-expected="{len(report.sections)}" data-images-expected="{report.num_images}">\n'
        f"<header><h1>{escape(report.title)}</h1>\n"
        f'<p class="meta">{escape(report.run_dir)} · generated {escape(report.generated)}</p>\n'
        f'<nav aria-label="sections"><ol>{nav}</ol></nav></header>\n'
        f"<main>\n{body}\n</main>\n"
        '<footer><p>Written by transferlab. Self-contained: every image is embedded in this file. '
        '<span id="render-status"></span></p></footer>\n'
        f"<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def _id(section: Section) -> str:
    return "section-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in section.key)


def _section(section: Section) -> str:
    blocks = "\n".join(_block(b) for b in section.blocks)
    return (f'<section class="report-section" id="{_id(section)}" data-key="{escape(section.key)}">\n'
            f"<h2>{escape(section.title)}</h2>\n{blocks}\n</section>")


def _block(block: Block) -> str:
    return _RENDERERS[type(block)](block)


def _title(title: str | None) -> str:
    return f"<h3>{escape(title)}</h3>" if title else ""


def _text(block: Text) -> str:
    return f'<p class="tone-{escape(block.tone)}">{escape(block.text)}</p>'


def _bullets(block: Bullets) -> str:
    items = "".join(f"<li>{escape(item)}</li>" for item in block.items)
    return f"{_title(block.title)}<ul>{items}</ul>"


def _facts(block: Facts) -> str:
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in block.items)
    return f'{_title(block.title)}<dl class="facts">{items}</dl>'


def _table(block: Table) -> str:
    def row(cells, tag: str) -> str:
        return "<tr>" + "".join(
            f"<{tag}{_NUM if i in block.numeric else ''}>{escape(c)}</{tag}>" for i, c in enumerate(cells)
        ) + "</tr>"

    head = row(block.header, "th")
    rows = "".join(row(r, "td") for r in block.rows)
    foot = f"<tfoot>{row(block.footer, 'td')}</tfoot>" if block.footer else ""
    table = f"<table><thead>{head}</thead><tbody>{rows}</tbody>{foot}</table>"
    if block.collapsed:
        label = escape(f"{block.title or 'Table'} ({len(block.rows)} rows)")
        return f"<details><summary>{label}</summary>{table}</details>"
    return _title(block.title) + table


def _figures(block: Figures) -> str:
    layout = "wide" if all(f.wide for f in block.items) else "grid"
    items = "".join(
        f'<figure><img src="{f.data_uri()}" width="{f.width}" height="{f.height}" '
        f'alt="{escape(f.alt or f.caption)}"><figcaption>{escape(f.caption)}</figcaption></figure>'
        for f in block.items
    )
    style = f' style="grid-template-columns: repeat({int(block.columns)}, 1fr)"' if block.columns else ""
    return f'{_title(block.title)}<div class="figures {layout}"{style}>{items}</div>'


def _code(block: Code) -> str:
    pre = f"<pre>{escape(block.text)}</pre>"
    if block.collapsed:
        return f"<details><summary>{escape(block.title or 'Show')}</summary>{pre}</details>"
    return _title(block.title) + pre


_RENDERERS = {Text: _text, Bullets: _bullets, Facts: _facts, Table: _table, Figures: _figures, Code: _code}
