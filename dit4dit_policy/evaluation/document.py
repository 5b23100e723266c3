"""A tiny document model rendered to both Markdown and HTML, so the two reports always agree.

The HTML is well-formed XHTML-style HTML5 (every element closed, every attribute quoted, text
escaped), so both browsers and XML parsers read it. Standard library only.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Sequence

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #eee; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.success td.outcome { color: #1a7f37; font-weight: 600; }
tr.failure td.outcome { color: #cf222e; font-weight: 600; }
tr.partial td.outcome { color: #9a6700; font-weight: 600; }
tr.void td { color: #888; text-decoration: line-through; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
p.note { background: #fff8c5; padding: .5em .8em; border-left: 4px solid #d4a72c; }
"""


@dataclasses.dataclass(frozen=True)
class Heading:
    """A section heading (level 1-3)."""

    level: int
    text: str


@dataclasses.dataclass(frozen=True)
class Paragraph:
    """Plain text; ``emphasis`` renders it as a highlighted note."""

    text: str
    emphasis: bool = False


@dataclasses.dataclass(frozen=True)
class Bullets:
    """A bullet list of plain-text items."""

    items: Sequence[str]


@dataclasses.dataclass(frozen=True)
class Table:
    """A table of plain-text cells.

    Attributes:
        headers: column titles.
        rows: cell texts, one list per row.
        numeric: indices of right-aligned (numeric) columns.
        row_classes: optional CSS class per row (HTML only), e.g. the rollout's outcome.
        class_column: index of the column that gets the ``outcome`` CSS class (HTML only).
    """

    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    numeric: frozenset[int] = frozenset()
    row_classes: Sequence[str] | None = None
    class_column: int | None = None


@dataclasses.dataclass(frozen=True)
class Image:
    """An image by relative path, with a caption."""

    path: str
    caption: str


Block = Heading | Paragraph | Bullets | Table | Image


#: An underscore that could open or close emphasis (CommonMark: not one between two alphanumerics).
_FLANKING_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md_text(text: str) -> str:
    """Plain text → Markdown that renders as exactly that text (``close_drawer`` stays readable)."""
    for char in ("\\", "*", "`", "<", ">", "|"):
        text = text.replace(char, "\\" + char)
    return _FLANKING_UNDERSCORE.sub(r"\\_", text)


def _md_cell(text: str) -> str:
    return _md_text(text).replace("\n", " ")


def to_markdown(blocks: Sequence[Block]) -> str:
    """Render to GitHub-flavoured Markdown."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append("#" * block.level + " " + _md_text(block.text))
        elif isinstance(block, Paragraph):
            out.append(("> **Note:** " if block.emphasis else "") + _md_text(block.text))
        elif isinstance(block, Bullets):
            out.append("\n".join(f"- {_md_text(item)}" for item in block.items))
        elif isinstance(block, Table):
            align = ["---:" if i in block.numeric else "---" for i in range(len(block.headers))]
            lines = [
                "| " + " | ".join(_md_cell(h) for h in block.headers) + " |",
                "| " + " | ".join(align) + " |",
            ]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            out.append("\n".join(lines))
        elif isinstance(block, Image):
            out.append(f"![{_md_cell(block.caption)}]({block.path})\n\n*{_md_text(block.caption)}*")
        else:  # pragma: no cover - Block is closed
            raise TypeError(f"unknown block {block!r}")
    return "\n\n".join(out) + "\n"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def to_html(blocks: Sequence[Block], title: str) -> str:
    """Render to a standalone, well-formed HTML5 page (images by relative path)."""
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_e(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            cls = ' class="note"' if block.emphasis else ""
            body.append(f"<p{cls}>{_e(block.text)}</p>")
        elif isinstance(block, Bullets):
            body.append("<ul>" + "".join(f"<li>{_e(i)}</li>" for i in block.items) + "</ul>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_e(h)}</th>" for h in block.headers)
            rows = []
            for r, row in enumerate(block.rows):
                cls = f' class="{_e(block.row_classes[r])}"' if block.row_classes else ""
                cells = []
                for c, cell in enumerate(row):
                    classes = (["num"] if c in block.numeric else []) + (
                        ["outcome"] if c == block.class_column else []
                    )
                    attr = f' class="{" ".join(classes)}"' if classes else ""
                    cells.append(f"<td{attr}>{_e(cell)}</td>")
                rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
        elif isinstance(block, Image):
            body.append(
                f'<figure><img src="{_e(block.path)}" alt="{_e(block.caption)}" />'
                f"<figcaption>{_e(block.caption)}</figcaption></figure>"
            )
        else:  # pragma: no cover - Block is closed
            raise TypeError(f"unknown block {block!r}")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8" />\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1" />\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
