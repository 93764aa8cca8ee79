"""OSWorld's accessibility-tree XML → the table its baseline agents read, and the cut rule.

**Filter** (the node filter of OSWorld's baseline agents, reimplemented): keep a node when
its tag is a widget kind (ends in item / button / heading / label / link / menu / ...; or is
one of table-cell, paragraph, text, entry, combo-box, check-box, ...), it is `showing` and
`visible`, it is enabled, editable, expandable or checkable, it has a name or text, and it
has a position ≥ 0 and a size > 0. Each kept node is one line:
`tag, name, text, class, description, position (top-left x&y), size (w&h)`, tab-separated.

**Cut rule** (`max_chars`, default 8,000): when the table is longer, (1) table cells with no
text are dropped (a spreadsheet shows ~1,000 empty cells), except the focused one; (2) if it
is still too long, lines are kept by priority — the focused element, document content
(cells with text, paragraphs, headings), then everything else in tree order — until the
budget is spent, and shown in tree order; a last line says how many were left out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

ST = "{https://accessibility.ubuntu.example.org/ns/state}"
ATTR = "{https://accessibility.ubuntu.example.org/ns/attributes}"
CP = "{https://accessibility.ubuntu.example.org/ns/component}"
HEADER = "tag\tname\ttext\tclass\tdescription\tposition (top-left x&y)\tsize (w&h)"

_SUFFIXES = (
    "item", "button", "heading", "label", "scrollbar", "searchbox", "textbox", "link",
    "tabelement", "textfield", "textarea", "menu",
)  # fmt: skip
_TAGS = {
    "alert", "canvas", "check-box", "combo-box", "entry", "icon", "image", "paragraph",
    "scroll-bar", "section", "slider", "static", "table-cell", "terminal", "text",
    "page-tab",
}  # fmt: skip
_CONTENT = {"table-cell", "paragraph", "heading", "text", "entry"}


@dataclass
class Node:
    tag: str
    name: str
    text: str
    cls: str
    description: str
    x: int
    y: int
    w: int
    h: int
    focused: bool

    @property
    def center(self) -> tuple[int, int]:
        return self.x + self.w // 2, self.y + self.h // 2

    def line(self) -> str:
        text = self.text if '"' not in self.text else '"' + self.text.replace('"', '""') + '"'
        text = (text or '""').replace("\n", "\\n").replace("\t", " ")
        return (
            f"{self.tag}\t{self.name}\t{text}\t{self.cls}\t{self.description}\t"
            f"({self.x}, {self.y})\t({self.w}, {self.h})"
        )


def _pair(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    try:
        a, b = value.strip("() ").split(",")
        return int(float(a)), int(float(b))
    except ValueError:
        return None


def _keep(el: ET.Element) -> Node | None:
    tag = el.tag
    if not (tag.startswith("document") or tag.endswith(_SUFFIXES) or tag in _TAGS):
        return None
    if el.get(ST + "showing") != "true" or el.get(ST + "visible") != "true":
        return None
    if not any(
        el.get(ST + s) == "true" for s in ("enabled", "editable", "expandable", "checkable")
    ):
        return None
    name, text = el.get("name", ""), el.text or ""
    if not name and not text:
        return None
    pos, size = _pair(el.get(CP + "screencoord")), _pair(el.get(CP + "size"))
    if pos is None or size is None or pos[0] < 0 or pos[1] < 0 or size[0] <= 0 or size[1] <= 0:
        return None
    return Node(
        tag=tag,
        name=name,
        text=text,
        cls=el.get(ATTR + "class", ""),
        description=el.get(ATTR + "description", ""),
        x=pos[0],
        y=pos[1],
        w=size[0],
        h=size[1],
        focused=el.get(ST + "focused") == "true",
    )


def nodes(xml: str) -> list[Node]:
    """The kept nodes of a tree, in document order."""
    if not xml.strip():
        return []
    root = ET.fromstring(xml)
    return [n for el in root.iter() if (n := _keep(el)) is not None]


@dataclass
class Linearized:
    text: str  # header + lines (cut)
    full_chars: int  # the table's length before the cut
    shown: int
    total: int


def linearize(xml: str, max_chars: int | None = 8000) -> Linearized:
    kept = nodes(xml)
    lines = [n.line() for n in kept]
    full_chars = len(HEADER) + sum(len(ln) + 1 for ln in lines)
    if max_chars is None or full_chars <= max_chars:
        return Linearized("\n".join([HEADER, *lines]), full_chars, len(lines), len(lines))
    keep = [
        i
        for i, n in enumerate(kept)
        if not (n.tag == "table-cell" and not n.text and not n.focused)
    ]
    size = len(HEADER) + sum(len(lines[i]) + 1 for i in keep)
    if size > max_chars:

        def rank(i: int) -> int:
            n = kept[i]
            return 0 if n.focused else 1 if n.tag in _CONTENT else 2

        chosen: list[int] = []
        budget = max_chars - len(HEADER) - 60
        for i in sorted(keep, key=lambda i: (rank(i), i)):
            if len(lines[i]) + 1 <= budget:
                chosen.append(i)
                budget -= len(lines[i]) + 1
        keep = sorted(chosen)
    body = [lines[i] for i in keep]
    left = len(lines) - len(keep)
    if left:
        body.append(f"[... {left} more elements not shown (empty cells first)]")
    return Linearized("\n".join([HEADER, *body]), full_chars, len(keep), len(lines))
