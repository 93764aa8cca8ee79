"""Problem statements for generated instances, written from the failing tests only (never
from the patch): the tests' names, their failure messages and their source (the failing
tests are not in the buggy checkout, so the statement carries a reproduction the way an
issue does). Offline by template, or by an LLM when one is given (prompt templates
`swe_statement_system`, `swe_statement_user`; SWE-smith's recipe).
"""

from __future__ import annotations

import ast
import re

from lbi_icl.envs.swe.taskset.testsplit import NotSeparable, find_test, parse_node
from lbi_icl.llm.base import LLM, GenerationParams, Message
from lbi_icl.prompts import PromptSet, default_prompts

MAX_LISTED = 6
MAX_REPRO_LINES = 18
MAX_LLM_SOURCES = 3


_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")


def _short(text: str, limit: int = 300) -> str:
    """A failure message on one line, cut to `limit`, object addresses masked (`<X object
    at 0x7f...>` differs from run to run; the statement must not)."""
    text = _ADDRESS.sub("0x...", " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _used_names(fn: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}


def reproduction(test_text: str, node: str, max_lines: int = MAX_REPRO_LINES) -> str | None:
    """The failing test's function (decorators included, cut to `max_lines`) after the
    module's imports it uses; None when the test cannot be found."""
    try:
        tree = ast.parse(test_text)
        fn, _ = find_test(tree, parse_node(node))
    except (SyntaxError, NotSeparable):
        return None
    lines = test_text.splitlines()
    used = _used_names(fn)
    imports: list[str] = []
    for st in tree.body:
        if not isinstance(st, ast.Import | ast.ImportFrom):
            continue
        bound = {(a.asname or a.name).split(".")[0] for a in st.names}
        if bound & used:
            imports.append("\n".join(lines[st.lineno - 1 : st.end_lineno or st.lineno]))
    first = min([d.lineno for d in fn.decorator_list] + [fn.lineno]) - 1
    body = lines[first : fn.end_lineno or fn.lineno]
    indent = min((len(x) - len(x.lstrip()) for x in body if x.strip()), default=0)
    body = [x[indent:] for x in body]
    if len(body) > max_lines:
        body = [*body[: max_lines - 1], "    ..."]
    parts = ["\n".join(imports), "\n".join(body)] if imports else ["\n".join(body)]
    return "\n\n".join(parts)


def _title(project: str, node: str) -> str:
    name = node.split("::")[-1].split("[", 1)[0]
    words = re.sub(r"^test_?", "", name).replace("_", " ").strip() or name
    return f"{project}: {words} no longer works"


def offline_statement(
    project: str,
    failing: list[str],
    messages: dict[str, str],
    test_texts: dict[str, str] | None = None,
) -> str:
    """An issue-like text: what fails and how, and a reproduction from the first failing
    test's source (`test_texts`: test file → its text where the tests pass)."""
    files = sorted({t.split("::", 1)[0] for t in failing})
    n = len(failing)
    lines = [
        _title(project, failing[0]),
        "",
        f"Since a recent change to the library code, {n} test{'s' if n != 1 else ''} in "
        f"{', '.join(files)} fail{'s' if n == 1 else ''}:",
        "",
    ]
    for node in failing[:MAX_LISTED]:
        msg = messages.get(node)
        lines.append(f"- `{node}`" + (f": {_short(msg)}" if msg else ""))
    if n > MAX_LISTED:
        lines.append(f"- ... and {n - MAX_LISTED} more")
    texts = test_texts or {}
    for node in failing:
        text = texts.get(node.split("::", 1)[0])
        repro = reproduction(text, node) if text is not None else None
        if repro:
            lines += ["", f"To reproduce (from `{node}`):", "", "```python", repro, "```"]
            break
    lines += [
        "",
        "Expected behaviour: this passes, and every other test keeps passing. The tests "
        "are correct; the bug is in the library's source code.",
    ]
    return "\n".join(lines) + "\n"


def _sources(failing: list[str], test_texts: dict[str, str]) -> str:
    blocks: list[str] = []
    for node in failing:
        text = test_texts.get(node.split("::", 1)[0])
        repro = reproduction(text, node, max_lines=30) if text is not None else None
        if repro:
            blocks.append(f"# {node}\n{repro}")
        if len(blocks) >= MAX_LLM_SOURCES:
            break
    if not blocks:
        return ""
    return "\nSource of the failing tests:\n```python\n" + "\n\n".join(blocks) + "\n```\n"


def clean_answer(text: str) -> str:
    """The model's issue text: surrounding whitespace and a fence around all of it gone."""
    text = text.strip()
    m = re.fullmatch(r"```[a-z]*\n(.*)\n```", text, re.DOTALL)
    if m:
        text = m.group(1).strip()
    return text + "\n"


def llm_statement(
    llm: LLM,
    project: str,
    failing: list[str],
    messages: dict[str, str],
    prompts: PromptSet | None = None,
    test_texts: dict[str, str] | None = None,
) -> str:
    prompts = prompts or default_prompts()
    listing = "\n".join(f"- {n}: {_short(messages.get(n, ''))}" for n in failing[:MAX_LISTED])
    sources = _sources(failing, test_texts or {})
    user = prompts.render("swe_statement_user", project=project, failing=listing, tests=sources)
    system = prompts.render("swe_statement_system")
    resp = llm.complete(
        [Message(role="system", content=system), Message(role="user", content=user)],
        GenerationParams(temperature=0.0, max_tokens=400, seed=0),
    )
    return clean_answer(resp.text)
