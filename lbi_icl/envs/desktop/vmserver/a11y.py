"""The accessibility tree as OSWorld's Linux VM serves it: one XML element per AT-SPI node.

Format (the one OSWorld's agents, getters and metrics parse; written here from that format,
not from OSWorld's code):

- the tag is the role name with spaces as dashes (`push-button`, `table-cell`), the root is
  the desktop (`desktop-frame`), applications and their windows below it;
- `name` is the accessible name; states are `st:<state>="true"` (`st:showing`,
  `st:focused`, `st:multi_line`, ...); object attributes are `attr:<key>`;
- showing nodes carry `cp:screencoord="(x, y)"`, `cp:windowcoord="(x, y)"` and
  `cp:size="(w, h)"`; `val:value` / `val:min` / `val:max` for the Value interface;
  `act:<action>_desc` / `act:<action>_kb` for actions;
- the node's text (Text interface) is the element's text.

Spreadsheets expose every cell of the sheet (2^31 children): for such a table only the
cells inside its visible area are listed, found from the cell at its top-left corner.

Runs inside the desktop session under the desktop user's Python (stdlib + gi only).
"""

from __future__ import annotations

import contextlib
import re
import threading
import xml.etree.ElementTree as ET

import gi

gi.require_version("Atspi", "2.0")
from gi.repository import Atspi  # noqa: E402

NS = {
    "st": "https://accessibility.ubuntu.example.org/ns/state",
    "attr": "https://accessibility.ubuntu.example.org/ns/attributes",
    "cp": "https://accessibility.ubuntu.example.org/ns/component",
    "doc": "https://accessibility.ubuntu.example.org/ns/document",
    "docattr": "https://accessibility.ubuntu.example.org/ns/document/attributes",
    "txt": "https://accessibility.ubuntu.example.org/ns/text",
    "val": "https://accessibility.ubuntu.example.org/ns/value",
    "act": "https://accessibility.ubuntu.example.org/ns/action",
}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)

MAX_DEPTH = 50
MAX_CHILDREN = 1024
BIG_TABLE = 10_000  # a table with more children lists only its visible cells
MAX_VISIBLE_ROWS = 120
MAX_VISIBLE_COLS = 60
_BAD_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffc\ufffd\ufffe\uffff]")
_LOCK = threading.Lock()  # AT-SPI calls are not thread-safe
# A call to an application times out after 5 s (15 s while it starts): a hung application
# is reported (NotResponding -> HTTP 503), not silently left out of the tree.
Atspi.set_timeout(5000, 15000)


class NotResponding(RuntimeError):
    """An application did not answer an accessibility call in time."""


def _timed_out(e: Exception) -> bool:
    text = str(e).lower()
    return "timeout" in text or "timed out" in text or "did not receive a reply" in text


def _clean(text: str | None) -> str:
    return _BAD_XML.sub("", text or "")


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


def _state_names(node: Atspi.Accessible) -> list[str]:
    out = []
    for st in node.get_state_set().get_states():
        name = st.value_name.removeprefix("ATSPI_STATE_").lower()
        if name and name != "invalid":
            out.append(name)
    return out


def _element(node: Atspi.Accessible) -> tuple[ET.Element, set[str]]:
    role = node.get_role_name() or "unknown"
    tag = re.sub(r"[^0-9A-Za-z_.-]", "-", role.replace(" ", "-")) or "unknown"
    if tag[0].isdigit() or tag[0] in "-.":
        tag = "x" + tag
    attrib: dict[str, str] = {"name": _clean(node.get_name())}
    states = set(_state_names(node))
    for st in states:
        attrib[_q("st", st)] = "true"
    try:
        for key, value in (node.get_attributes() or {}).items():
            key = re.sub(r"[^0-9A-Za-z_.-]", "_", key)
            if key and not key[0].isdigit():
                attrib[_q("attr", key)] = _clean(value)
    except Exception:
        pass
    desc = _clean(node.get_description())
    if desc:
        attrib[_q("attr", "description")] = desc
    ifaces = set(node.get_interfaces())
    if "Component" in ifaces and "showing" in states:
        try:
            box = Atspi.Component.get_extents(node, Atspi.CoordType.SCREEN)
            win = Atspi.Component.get_extents(node, Atspi.CoordType.WINDOW)
            attrib[_q("cp", "screencoord")] = f"({box.x}, {box.y})"
            attrib[_q("cp", "windowcoord")] = f"({win.x}, {win.y})"
            attrib[_q("cp", "size")] = f"({box.width}, {box.height})"
        except Exception:
            pass
    if "Value" in ifaces:
        try:
            attrib[_q("val", "value")] = str(Atspi.Value.get_current_value(node))
            attrib[_q("val", "min")] = str(Atspi.Value.get_minimum_value(node))
            attrib[_q("val", "max")] = str(Atspi.Value.get_maximum_value(node))
        except Exception:
            pass
    if "Action" in ifaces:
        try:
            for i in range(Atspi.Action.get_n_actions(node)):
                act = re.sub(r"[^0-9A-Za-z_]", "_", Atspi.Action.get_action_name(node, i) or "")
                if act and not act[0].isdigit():
                    attrib[_q("act", f"{act}_desc")] = _clean(
                        Atspi.Action.get_action_description(node, i)
                    )
                    attrib[_q("act", f"{act}_kb")] = _clean(Atspi.Action.get_key_binding(node, i))
        except Exception:
            pass
    el = ET.Element(tag, attrib)
    if "Text" in ifaces:
        try:
            text = _clean(Atspi.Text.get_text(node, 0, -1))
            if text:
                el.text = text
        except Exception:
            pass
    return el, states


def _visible_cells(table: Atspi.Accessible) -> list[Atspi.Accessible]:
    """The cells of a huge table (a spreadsheet) that lie inside its visible area."""
    box = Atspi.Component.get_extents(table, Atspi.CoordType.SCREEN)
    first = Atspi.Component.get_accessible_at_point(
        table, box.x + 2, box.y + 2, Atspi.CoordType.SCREEN
    )
    if first is None:
        return []
    index = first.get_index_in_parent()
    row0 = Atspi.Table.get_row_at_index(table, index)
    col0 = Atspi.Table.get_column_at_index(table, index)
    right, bottom = box.x + box.width, box.y + box.height

    def visible(cell: Atspi.Accessible | None) -> bool:
        if cell is None:
            return False
        e = Atspi.Component.get_extents(cell, Atspi.CoordType.SCREEN)
        return e.width > 0 and e.height > 0 and e.x < right and e.y < bottom

    n_rows, n_cols = Atspi.Table.get_n_rows(table), Atspi.Table.get_n_columns(table)
    cols = [c for c in range(col0, min(col0 + MAX_VISIBLE_COLS, n_cols))]
    cols = [c for c in cols if visible(Atspi.Table.get_accessible_at(table, row0, c))]
    rows = [r for r in range(row0, min(row0 + MAX_VISIBLE_ROWS, n_rows))]
    rows = [r for r in rows if visible(Atspi.Table.get_accessible_at(table, r, col0))]
    out = []
    for r in rows:
        for c in cols:
            cell = Atspi.Table.get_accessible_at(table, r, c)
            if cell is not None:
                out.append(cell)
    return out


def _walk(node: Atspi.Accessible, depth: int, showing_only: bool) -> ET.Element:
    el, states = _element(node)
    if depth >= MAX_DEPTH or (showing_only and depth > 1 and "showing" not in states):
        return el
    n = node.get_child_count()
    if n > BIG_TABLE and "Table" in set(node.get_interfaces()):
        try:
            children = _visible_cells(node)
        except Exception:
            children = []
    else:
        children = []
        for i in range(min(n, MAX_CHILDREN)):
            try:
                child = node.get_child_at_index(i)
            except Exception as e:
                if _timed_out(e):
                    raise NotResponding(str(e)) from e
                child = None
            if child is not None:
                children.append(child)
    for child in children:
        try:
            el.append(_walk(child, depth + 1, showing_only))
        except NotResponding:
            raise
        except Exception as e:  # a node that vanished while walking
            if _timed_out(e):
                raise NotResponding(str(e)) from e
            continue
    return el


def tree_xml(showing_only: bool = False) -> str:
    """The whole desktop's accessibility tree as OSWorld-style XML text. `showing_only`
    leaves out what lies below nodes that are not showing (closed menus: about a third of
    LibreOffice's nodes), which OSWorld's node filter drops anyway."""
    with _LOCK:
        desktop = Atspi.get_desktop(0)
        for i in range(desktop.get_child_count()):
            app = desktop.get_child_at_index(i)
            if app is not None:
                # no stale cached names/states (a cache mask of NONE hangs LibreOffice)
                with contextlib.suppress(Exception):
                    app.clear_cache()
        root, _ = _element(desktop)
        for i in range(desktop.get_child_count()):
            app = desktop.get_child_at_index(i)
            if app is None:
                continue
            try:
                root.append(_walk(app, 1, showing_only))
            except NotResponding as e:
                who = "?"
                with contextlib.suppress(Exception):  # the name may be cached, or not
                    who = f"{_clean(app.get_name())!r} (pid {app.get_process_id()})"
                raise NotResponding(f"application {who} is not responding") from e
            except Exception as e:
                if _timed_out(e):
                    raise NotResponding(f"an application is not responding: {e}") from e
    return ET.tostring(root, encoding="unicode")


def terminal_text() -> str | None:
    """The text of the first showing terminal widget, if any (OSWorld's /terminal)."""
    with _LOCK:
        desktop = Atspi.get_desktop(0)
        stack = [desktop]
        seen = 0
        while stack and seen < 20000:
            node = stack.pop()
            seen += 1
            try:
                if node.get_role_name() == "terminal":
                    return _clean(Atspi.Text.get_text(node, 0, -1))
                for i in range(min(node.get_child_count(), MAX_CHILDREN)):
                    child = node.get_child_at_index(i)
                    if child is not None and child.get_child_count() < BIG_TABLE:
                        stack.append(child)
            except Exception:
                continue
    return None
