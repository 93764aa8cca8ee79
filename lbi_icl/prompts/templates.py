"""Prompt templates: `string.Template` files (`$name` / `${name}`, `$$` for a literal `$`).

Why `string.Template` and not Jinja2: a template is data a user hands to a run, and
loading it must never execute anything. `string.Template` has no expressions, filters,
attribute access or includes — it only substitutes the declared variables — so there is
nothing to sandbox. The optional parts of a prompt (the retrieval block, the list of valid
actions) are their own small templates that the code joins in.

A file's single trailing newline is dropped (editors add one); everything else is kept
byte for byte. Loading checks every template up front: an unknown name, a missing file, a
variable the template may not use or a malformed `$` is one `PromptError` naming the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from lbi_icl.prompts.specs import (
    DEFAULT_LAYOUT,
    LAYOUT_FILES,
    PROMPT_LAYOUTS,
    PROMPTS,
    PromptLayout,
)

DEFAULT = "default"


class PromptError(ValueError):
    """A prompt template cannot be used; the message names the file and what is wrong."""


def _strip_final_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def check_template(name: str, text: str, where: str) -> Template:
    """Compile `text` as the template `name`; `where` names its file in errors."""
    spec = PROMPTS[name]
    tmpl = Template(text)
    for m in tmpl.pattern.finditer(text):
        if m.group("invalid") is not None:
            line = _line_of(text, m.start("invalid"))
            raise PromptError(
                f"{where}:{line}: prompt {name!r}: a '$' that starts no variable; write $$ "
                "for a literal dollar sign or $name / ${name} for a variable"
            )
    unknown = [v for v in tmpl.get_identifiers() if v not in spec.variables]
    if unknown:
        allowed = ", ".join(f"${v}" for v in spec.variables) or "none"
        raise PromptError(
            f"{where}: prompt {name!r} uses ${unknown[0]}, which does not exist for this "
            f"prompt (its variables: {allowed})"
        )
    return tmpl


@dataclass(frozen=True)
class PromptTemplate:
    """One checked template: its name, text, where it came from and the text's sha256."""

    name: str
    text: str
    source: str  # DEFAULT or the file's path
    sha256: str
    _compiled: Template = field(repr=False, compare=False)

    def render(self, **values: Any) -> str:
        spec = PROMPTS[self.name]
        missing = [v for v in spec.variables if v not in values]
        if missing:  # a caller bug, not a user error: every declared variable is supplied
            raise TypeError(f"prompt {self.name!r}: no value for ${missing[0]}")
        return self._compiled.substitute({k: str(v) for k, v in values.items()})


def _make(name: str, text: str, source: str, where: str) -> PromptTemplate:
    compiled = check_template(name, text, where)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return PromptTemplate(name, text, source, digest, compiled)


@cache
def default_template(name: str, layout: PromptLayout = DEFAULT_LAYOUT) -> PromptTemplate:
    """The packaged template `name`; for a prompt with one default per layout
    (`specs.LAYOUT_FILES`), the one of `layout` (other prompts ignore it)."""
    if name not in PROMPTS:
        raise PromptError(f"no prompt named {name!r}; known: {', '.join(PROMPTS)}")
    if layout not in PROMPT_LAYOUTS:
        raise PromptError(f"no prompt layout {layout!r}; known: {', '.join(PROMPT_LAYOUTS)}")
    stem = LAYOUT_FILES.get(name, {}).get(layout, name)
    res = resources.files("lbi_icl.prompts").joinpath("defaults", f"{stem}.txt")
    text = _strip_final_newline(res.read_text(encoding="utf-8"))
    return _make(name, text, DEFAULT, f"lbi_icl/prompts/defaults/{stem}.txt")


def load_template(name: str, path: str | Path) -> PromptTemplate:
    """The user's template file for prompt `name` (checked)."""
    if name not in PROMPTS:
        raise PromptError(
            f"{path}: no prompt named {name!r} (for this file); known: {', '.join(PROMPTS)}"
        )
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise PromptError(f"{p}: prompt {name!r}: no such template file") from None
    except OSError as e:
        raise PromptError(f"{p}: prompt {name!r}: cannot read the template file ({e})") from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PromptError(f"{p}: prompt {name!r}: not UTF-8 text ({e})") from e
    return _make(name, _strip_final_newline(text), str(p), str(p))


@dataclass(frozen=True)
class PromptSet:
    """The templates of one run or synthesis: the defaults (of `layout`, for the prompts
    whose default depends on it), with the user's overrides (a user's file always wins)."""

    overrides: Mapping[str, PromptTemplate] = field(default_factory=dict)
    layout: PromptLayout = DEFAULT_LAYOUT

    def __getitem__(self, name: str) -> PromptTemplate:
        found = self.overrides.get(name)
        return found if found is not None else default_template(name, self.layout)

    def with_layout(self, layout: PromptLayout) -> PromptSet:
        """The same overrides with the packaged defaults of `layout`."""
        return self if layout == self.layout else replace(self, layout=layout)

    def layout_name(self) -> str:
        """The agent prompt's layout: the layout's name, or 'custom' when the user's own
        `agent_user` file replaces the packaged one."""
        return "custom" if "agent_user" in self.overrides else self.layout

    def render(self, name: str, **values: Any) -> str:
        return self[name].render(**values)

    def hashes(self, names: Iterable[str]) -> dict[str, str]:
        """name -> sha256 of the template text (what a step log records)."""
        return {n: self[n].sha256 for n in names}

    def describe(self, names: Iterable[str]) -> dict[str, dict[str, str]]:
        """name -> {source: 'default' | path, sha256} (what a manifest records)."""
        return {n: {"source": self[n].source, "sha256": self[n].sha256} for n in names}

    def override_hashes(self) -> dict[str, str]:
        return {n: t.sha256 for n, t in sorted(self.overrides.items())}


def load_prompts(
    paths: Mapping[str, str | Path] | None = None, layout: PromptLayout = DEFAULT_LAYOUT
) -> PromptSet:
    """Defaults (of `layout`) plus the user's files (`{name: path}`), every one checked now."""
    if layout not in PROMPT_LAYOUTS:
        raise PromptError(f"no prompt layout {layout!r}; known: {', '.join(PROMPT_LAYOUTS)}")
    overrides = {name: load_template(name, p) for name, p in (paths or {}).items()}
    return PromptSet(overrides, layout)


def default_prompts() -> PromptSet:
    return _DEFAULTS


_DEFAULTS = PromptSet()
