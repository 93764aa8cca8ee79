"""Observation text and candidate actions from BrowserGym's raw observation.

The observation an agent reads (`render_observation`):

    Goal: <the task's goal text>            (MiniWoB: the seed's utterance)
    URL: <page url>
    Title: <page title>
    Tabs: [0] <title> (<url>) *active* ...  (only when more than one tab is open)
    Last action error: <BrowserGym's error text>   (only after a failed action)
    Accessibility tree:
    [12] button 'Submit', clickable
    ...

The tree is BrowserGym's own flattening (`flatten_axtree_to_str`, with `bid`s, visibility
and clickability marks; `InlineTextBox` lines, which repeat their parent's text, left
out). **Cut rule** when it is longer than `max_tree_chars`:
1. drop the lines of elements that are not visible (BrowserGym's visibility < 0.5);
2. if it is still too long, keep a window of whole lines around the focused element
   (the element with keyboard focus, else the first visible interactive one, else the top),
   growing the window by one line above and below in turn until the budget is used, and
   mark what was left out: `[... N lines above not shown]` / `[... N lines below]`.
"""

from __future__ import annotations

import re
from typing import Any

VISIBLE_THRESHOLD = 0.5
# Chromium's per-line text boxes repeat their parent's text; BrowserGym's own list of
# ignored roles is extended with them.
EXTRA_IGNORED_ROLES: tuple[str, ...] = ("InlineTextBox",)

# Roles that get a `click` candidate, and roles that take text (`fill`) or options.
CLICK_ROLES = frozenset(
    {
        "button",
        "link",
        "checkbox",
        "radio",
        "menuitem",
        "menuitemcheckbox",
        "menuitemradio",
        "tab",
        "option",
        "treeitem",
        "switch",
        "gridcell",
        "cell",
        "listitem",
        "heading",
        "StaticText",
        "img",
        "combobox",
        "spinbutton",
        "slider",
    }
)
TEXT_ROLES = frozenset({"textbox", "searchbox", "combobox", "spinbutton"})
SELECT_ROLES = frozenset({"combobox", "listbox"})

_QUOTED = re.compile(r"\"([^\"]{1,80})\"|'([^']{1,80})'|“([^”]{1,80})”")
_DATE = re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b")
_NUMBER = re.compile(r"(?<![\w./])-?\d+(?:\.\d+)?(?![\w./])")
# Runs of capitalized words / codes ("Corpus Christi", "SHG", "Ertha"), not sentence-initial.
_PROPER = re.compile(r"(?<=[\s(:,])([A-Z][\w'.-]*(?:\s+[A-Z][\w'.-]*)*)")


def _value(field: Any) -> str:
    if isinstance(field, dict):
        v = field.get("value")
        return "" if v is None else str(v)
    return "" if field is None else str(field)


def flatten_tree(obs: dict[str, Any], *, visible_only: bool = False) -> str:
    """BrowserGym's AXTree flattening of `obs` (bids, visible/clickable marks)."""
    from browsergym.utils.obs import IGNORED_AXTREE_ROLES, flatten_axtree_to_str

    return str(
        flatten_axtree_to_str(
            obs["axtree_object"],
            extra_properties=obs.get("extra_element_properties") or {},
            with_visible=True,
            with_clickable=True,
            filter_visible_only=visible_only,
            ignored_roles=[*IGNORED_AXTREE_ROLES, *EXTRA_IGNORED_ROLES],
        )
    )


_BID = re.compile(r"^\s*\[([^\]]+)\]")


def cut_tree(tree: str, max_chars: int, focus_bid: str | None) -> tuple[str, bool]:
    """Step 2 of the cut rule: a window of whole lines around `focus_bid` (or the top)
    that fits in `max_chars`; returns (text, was_cut)."""
    if len(tree) <= max_chars:
        return tree, False
    lines = tree.splitlines()
    center = 0
    if focus_bid:
        for i, line in enumerate(lines):
            m = _BID.match(line)
            if m and m.group(1) == focus_bid:
                center = i
                break
    lo, hi = center, center + 1
    used = len(lines[center]) + 1
    grew = True
    while grew:
        grew = False
        if hi < len(lines) and used + len(lines[hi]) + 1 <= max_chars:
            used += len(lines[hi]) + 1
            hi += 1
            grew = True
        if lo > 0 and used + len(lines[lo - 1]) + 1 <= max_chars:
            lo -= 1
            used += len(lines[lo]) + 1
            grew = True
    out = []
    if lo > 0:
        out.append(f"[... {lo} lines above not shown]")
    out.extend(lines[lo:hi])
    if hi < len(lines):
        out.append(f"[... {len(lines) - hi} lines below not shown]")
    return "\n".join(out), True


def tree_text(obs: dict[str, Any], max_chars: int) -> tuple[str, dict[str, Any]]:
    """The tree under the cut rule, and stats (`tree_chars`, `cut`: none|invisible|window)."""
    full = flatten_tree(obs)
    stats: dict[str, Any] = {"tree_chars": len(full), "cut": "none"}
    if len(full) <= max_chars:
        return full, stats
    visible = flatten_tree(obs, visible_only=True)
    stats["cut"] = "invisible"
    if len(visible) <= max_chars:
        return visible, stats
    focus = str(obs.get("focused_element_bid") or "") or _first_interactive(obs)
    text, _ = cut_tree(visible, max_chars, focus)
    stats["cut"] = "window"
    return text, stats


def _first_interactive(obs: dict[str, Any]) -> str | None:
    for bid, role, _name, _node in _nodes(obs):
        if role in TEXT_ROLES or role in ("button", "link", "checkbox", "radio"):
            return bid
    return None


def _visible(obs: dict[str, Any], bid: str) -> bool:
    props = (obs.get("extra_element_properties") or {}).get(bid)
    if not props:
        return False
    return float(props.get("visibility") or 0.0) >= VISIBLE_THRESHOLD


def _nodes(obs: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(bid, role, name, node) for every visible, not-ignored AXTree node with a bid."""
    out = []
    for node in (obs.get("axtree_object") or {}).get("nodes", []):
        bid = node.get("browsergym_id")
        if bid is None or node.get("ignored"):
            continue
        bid = str(bid)
        if not _visible(obs, bid):
            continue
        out.append((bid, _value(node.get("role")), _value(node.get("name")), node))
    return out


def _disabled(node: dict[str, Any]) -> bool:
    for prop in node.get("properties") or []:
        if prop.get("name") == "disabled" and _value(prop.get("value")) in ("true", "True"):
            return True
    return False


def text_candidates(goal: str, limit: int = 5) -> list[str]:
    """Strings worth typing, from the goal: quoted phrases, dates, capitalized names and
    codes (not the first word), numbers — in that order, at most `limit`; never empty."""
    found: list[str] = []

    def add(s: str) -> None:
        s = s.strip().rstrip(".,:;")
        if s and s not in found and not any(s in f for f in found):
            found.append(s)

    for m in _QUOTED.finditer(goal):
        add(next(g for g in m.groups() if g is not None))
    unquoted = _QUOTED.sub(" ", goal)
    for m in _DATE.finditer(unquoted):
        add(m.group(0))
    for m in _PROPER.finditer(unquoted):
        add(m.group(1))
    for m in _NUMBER.finditer(_DATE.sub(" ", unquoted)):
        add(m.group(0))
    return found[:limit] or ["text"]


def _q(s: str) -> str:
    """A Python string literal for BrowserGym's action parser."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def candidate_actions(
    obs: dict[str, Any], goal: str, *, limit: int = 200, verbs: frozenset[str] | None = None
) -> list[str]:
    """Actions worth trying in this state, in the tree's node order: for a drop-down / list
    box, `select_option` with each option (or, in action sets without it such as
    `miniwob_all`, `click` on it and, once it has focus, `keyboard_type` of each option),
    `fill` text fields with `text_candidates(goal)`, `click` on visible enabled elements that
    BrowserGym marks clickable or whose role is interactive. When nothing qualifies (e.g. an
    SVG canvas): `click` on every visible element with a bid, else `noop()`. `verbs`: the
    action set's function names; candidates of other verbs are left out."""
    props = obs.get("extra_element_properties") or {}
    texts = text_candidates(goal)
    can_select = verbs is None or "select_option" in verbs
    can_type = verbs is not None and "keyboard_type" in verbs
    focused = str(obs.get("focused_element_bid") or "")
    out: list[str] = []
    by_node_id: dict[str, dict[str, Any]] = {
        str(n.get("nodeId")): n for n in (obs.get("axtree_object") or {}).get("nodes", [])
    }
    visible: list[str] = []
    for bid, role, _name, node in _nodes(obs):
        visible.append(bid)
        if _disabled(node):
            continue
        clickable = bool((props.get(bid) or {}).get("clickable"))
        options = _option_names(node, by_node_id) if role in SELECT_ROLES else []
        if options and can_select:
            out.extend(f"select_option({_q(bid)}, {_q(n)})" for n in options)
        elif options and can_type and bid == focused:
            out.extend(f"keyboard_type({_q(n)})" for n in options)
        elif role in TEXT_ROLES and not options:
            out.extend(f"fill({_q(bid)}, {_q(t)})" for t in texts)
        if role not in ("generic", "paragraph") and (clickable or role in CLICK_ROLES):
            out.append(f"click({_q(bid)})")
    if not out:
        out = [f"click({_q(bid)})" for bid in visible] or ["noop()"]
    seen: set[str] = set()
    unique = []
    for action in out:
        verb = action.split("(", 1)[0]
        if action not in seen and (verbs is None or verb in verbs):
            seen.add(action)
            unique.append(action)
    return unique[:limit]


def _option_names(node: dict[str, Any], by_node_id: dict[str, dict[str, Any]]) -> list[str]:
    """Names of the `option` nodes below a drop-down / list box (any depth)."""
    names: list[str] = []
    todo = [str(c) for c in node.get("childIds") or []]
    while todo:
        child = by_node_id.get(todo.pop(0))
        if child is None:
            continue
        if _value(child.get("role")) == "option":
            name = _value(child.get("name"))
            if name:
                names.append(name)
        else:
            todo.extend(str(c) for c in child.get("childIds") or [])
    return names


def tabs_line(obs: dict[str, Any]) -> str | None:
    urls = list(obs.get("open_pages_urls") or [])
    if len(urls) <= 1:
        return None
    titles = list(obs.get("open_pages_titles") or [""] * len(urls))
    active = int(_scalar(obs.get("active_page_index", 0)))
    parts = [
        f"[{i}] {t or '(untitled)'} ({u})" + (" *active*" if i == active else "")
        for i, (t, u) in enumerate(zip(titles, urls, strict=False))
    ]
    return "Tabs: " + "; ".join(parts)


def _scalar(x: Any) -> Any:
    try:
        return x.item() if hasattr(x, "item") else (x[0] if isinstance(x, list | tuple) else x)
    except (ValueError, IndexError):
        return 0


def page_title(obs: dict[str, Any]) -> str:
    titles = list(obs.get("open_pages_titles") or [])
    if not titles:
        return ""
    i = int(_scalar(obs.get("active_page_index", 0)))
    return str(titles[i] if 0 <= i < len(titles) else titles[-1])


# The header's first two lines (the goal may span lines; synth/relabel_view.py shows the
# LLM relabeler the observation without it).
GOAL_LINE = "Goal:"
URL_LINE = "URL:"
# The header line that says BrowserGym rejected the previous action (synth/failed_steps.py
# reads it to cut that action from synthetic examples).
ACTION_ERROR_LINE = "Last action error:"
TREE_LINE = "Accessibility tree:"


def render_observation(
    obs: dict[str, Any], goal: str, *, max_tree_chars: int
) -> tuple[str, dict[str, Any]]:
    """The observation text (see the module docstring) and tree stats."""
    tree, stats = tree_text(obs, max_tree_chars)
    lines = [f"{GOAL_LINE} {goal}", f"{URL_LINE} {obs.get('url', '')}", f"Title: {page_title(obs)}"]
    tabs = tabs_line(obs)
    if tabs:
        lines.append(tabs)
    error = str(obs.get("last_action_error") or "").strip()
    if error:
        lines.append(f"{ACTION_ERROR_LINE} {error}")
    lines.append(TREE_LINE)
    lines.append(tree)
    stats["error"] = bool(error)
    return "\n".join(lines), stats


def without_goal(observation: str) -> str:
    """The observation from its `URL:` line on: the task's goal (which may span lines) left
    out. Text in another format is returned as it is."""
    if not observation.startswith(GOAL_LINE):
        return observation
    at = observation.find(f"\n{URL_LINE} ")
    return observation if at < 0 else observation[at + 1 :]
