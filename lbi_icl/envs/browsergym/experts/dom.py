"""A read-only view of the page an expert solver reads: BrowserGym's DOM snapshot (CDP
`DOMSnapshot.captureSnapshot`: parallel arrays over a shared string table) rebuilt as a tree
of `El`s with tag, attributes, text, form state (value, checked, selected), the element's
BrowserGym id (`bid`), its box and visibility (BrowserGym's `extra_element_properties`).
Only the main document; nothing here touches the browser."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

TEXT_NODE = 3
ELEMENT_NODE = 1
VISIBLE = 0.5
_SPACE = re.compile(r"\s+")


@dataclass(eq=False)
class El:
    tag: str  # lower case; "#text" for text nodes
    attrs: dict[str, str]
    parent: El | None = None
    children: list[El] = field(default_factory=list)
    value_text: str = ""  # a text node's text
    input_value: str | None = None
    checked: bool = False
    selected: bool = False
    bid: str | None = None
    bbox: tuple[float, float, float, float] | None = None  # x, y, width, height
    visibility: float = 0.0

    # -- reading -----------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.attrs.get("id", "")

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    def has_class(self, name: str) -> bool:
        return name in self.classes

    @property
    def visible(self) -> bool:
        return self.visibility >= VISIBLE

    def text(self) -> str:
        """Text content, whitespace collapsed (text nodes of the subtree, in order)."""
        parts: list[str] = []
        for el in self.iter():
            if el.tag == "#text":
                parts.append(el.value_text)
        return _SPACE.sub(" ", " ".join(parts)).strip()

    @property
    def value(self) -> str:
        return self.input_value if self.input_value is not None else self.attrs.get("value", "")

    def style(self, prop: str) -> str:
        """One property of the inline `style` attribute ('' if absent)."""
        for decl in self.attrs.get("style", "").split(";"):
            name, _, val = decl.partition(":")
            if name.strip().lower() == prop:
                return val.strip()
        return ""

    def center(self) -> tuple[float, float] | None:
        if self.bbox is None:
            return None
        x, y, w, h = self.bbox
        return x + w / 2, y + h / 2

    # -- searching ---------------------------------------------------------------------
    def iter(self) -> Iterator[El]:
        stack = [self]
        while stack:
            el = stack.pop()
            yield el
            stack.extend(reversed(el.children))

    def find_all(
        self,
        tag: str | None = None,
        *,
        id: str | None = None,
        cls: str | None = None,
        text: str | None = None,
        where: Callable[[El], bool] | None = None,
    ) -> list[El]:
        out = []
        for el in self.iter():
            if el.tag == "#text" or el is self:
                continue
            if tag is not None and el.tag != tag:
                continue
            if id is not None and el.id != id:
                continue
            if cls is not None and not el.has_class(cls):
                continue
            if text is not None and el.text() != text:
                continue
            if where is not None and not where(el):
                continue
            out.append(el)
        return out

    def find(self, tag: str | None = None, **kw: Any) -> El | None:
        found = self.find_all(tag, **kw)
        return found[0] if found else None

    def ancestors(self) -> Iterator[El]:
        el = self.parent
        while el is not None:
            yield el
            el = el.parent

    def __repr__(self) -> str:
        return f"<{self.tag} bid={self.bid} id={self.id!r} text={self.text()[:30]!r}>"


class Page:
    """The DOM of an observation: `root` (the document), `by_bid`, and the goal text."""

    def __init__(self, obs: dict[str, Any], goal: str = ""):
        self.goal = goal
        self.obs = obs
        self.root, self.by_bid = _build(obs)
        self.focused = str(obs.get("focused_element_bid") or "") or None

    def find_all(self, tag: str | None = None, **kw: Any) -> list[El]:
        return self.root.find_all(tag, **kw)

    def find(self, tag: str | None = None, **kw: Any) -> El | None:
        return self.root.find(tag, **kw)

    def by_id(self, id_: str) -> El | None:
        return self.root.find(id=id_)

    def area(self) -> El:
        """MiniWoB's task area (`#area`), else the body."""
        return self.by_id("area") or self.find("body") or self.root


def _build(obs: dict[str, Any]) -> tuple[El, dict[str, El]]:
    dom = obs.get("dom_object") or {}
    strings: list[str] = dom.get("strings") or []
    doc = (dom.get("documents") or [{}])[0]
    nodes = doc.get("nodes") or {}
    props = obs.get("extra_element_properties") or {}

    def s(i: int) -> str:
        return strings[i] if 0 <= i < len(strings) else ""

    parents: list[int] = nodes.get("parentIndex") or []
    types: list[int] = nodes.get("nodeType") or []
    names: list[int] = nodes.get("nodeName") or []
    values: list[int] = nodes.get("nodeValue") or []
    attrs: list[list[int]] = nodes.get("attributes") or []
    input_value = dict(
        zip(
            (nodes.get("inputValue") or {}).get("index", []),
            (nodes.get("inputValue") or {}).get("value", []),
            strict=False,
        )
    )
    text_value = dict(
        zip(
            (nodes.get("textValue") or {}).get("index", []),
            (nodes.get("textValue") or {}).get("value", []),
            strict=False,
        )
    )
    checked = set((nodes.get("inputChecked") or {}).get("index", []))
    selected = set((nodes.get("optionSelected") or {}).get("index", []))
    els: list[El | None] = []
    by_bid: dict[str, El] = {}
    root = El(tag="#document", attrs={})
    for i, kind in enumerate(types):
        if kind == TEXT_NODE:
            el: El | None = El(tag="#text", attrs={}, value_text=s(values[i]))
        elif kind == ELEMENT_NODE:
            a = attrs[i] if i < len(attrs) else []
            amap = {s(a[k]): s(a[k + 1]) for k in range(0, len(a) - 1, 2)}
            el = El(tag=s(names[i]).lower(), attrs=amap)
            if i in input_value:
                el.input_value = s(input_value[i])
            elif i in text_value:
                el.input_value = s(text_value[i])
            el.checked = i in checked
            el.selected = i in selected
            bid = amap.get("bid")
            if bid:
                el.bid = bid
                by_bid[bid] = el
                p = props.get(bid) or {}
                box = p.get("bbox")
                el.bbox = tuple(float(v) for v in box) if box else None  # type: ignore[assignment]
                el.visibility = float(p.get("visibility") or 0.0)
        else:
            el = None
        els.append(el)
        if el is None:
            continue
        parent = parents[i] if i < len(parents) else -1
        holder = _nearest(els, parents, parent) if parent >= 0 else None
        el.parent = holder or root
        el.parent.children.append(el)
    return root, by_bid


def _nearest(els: list[El | None], parents: list[int], i: int) -> El | None:
    """The nearest kept node at or above index `i` (comments, doctypes are skipped)."""
    while i >= 0:
        if els[i] is not None:
            return els[i]
        i = parents[i]
    return None
