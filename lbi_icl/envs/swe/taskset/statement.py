"""Problem statements for generated instances, written from the failing tests only (never
from the patch): offline by template, or by an LLM when one is given."""

from __future__ import annotations

from lbi_icl.llm.base import LLM, GenerationParams, Message

MAX_LISTED = 6

_LLM_SYSTEM = (
    "You write GitHub issues for a Python library. Describe the observed misbehaviour "
    "a user would report, from failing tests; never guess or mention the fix."
)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def offline_statement(project: str, failing: list[str], messages: dict[str, str]) -> str:
    files = sorted({t.split("::", 1)[0] for t in failing})
    lines = [
        f"{project}: {len(failing)} test{'s' if len(failing) != 1 else ''} in "
        f"{', '.join(files)} now fail{'s' if len(failing) == 1 else ''}",
        "",
        "After a recent change to the library code, these tests fail:",
        "",
    ]
    for node in failing[:MAX_LISTED]:
        msg = messages.get(node)
        lines.append(f"- `{node}`" + (f": {_short(msg)}" if msg else ""))
    if len(failing) > MAX_LISTED:
        lines.append(f"- ... and {len(failing) - MAX_LISTED} more")
    lines += [
        "",
        "Expected behaviour: these tests pass, and every other test keeps passing. The tests "
        "are correct; the bug is in the library's source code.",
    ]
    return "\n".join(lines) + "\n"


def llm_statement(llm: LLM, project: str, failing: list[str], messages: dict[str, str]) -> str:
    listing = "\n".join(f"- {n}: {_short(messages.get(n, ''))}" for n in failing[:MAX_LISTED])
    user = (
        f"Library: {project}\nThese tests fail after a change to the library code:\n{listing}\n\n"
        "Write the issue (title line, blank line, 3-8 sentences). Mention the failing tests."
    )
    resp = llm.complete(
        [Message(role="system", content=_LLM_SYSTEM), Message(role="user", content=user)],
        GenerationParams(temperature=0.0, max_tokens=400, seed=0),
    )
    return resp.text.strip() + "\n"
