"""Problem statements for generated instances, written from the failing tests only (never
from the patch): offline by template, or by an LLM when one is given (prompt templates
`swe_statement_system`, `swe_statement_user`)."""

from __future__ import annotations

from lbi_icl.llm.base import LLM, GenerationParams, Message
from lbi_icl.prompts import PromptSet, default_prompts

MAX_LISTED = 6


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


def llm_statement(
    llm: LLM,
    project: str,
    failing: list[str],
    messages: dict[str, str],
    prompts: PromptSet | None = None,
) -> str:
    prompts = prompts or default_prompts()
    listing = "\n".join(f"- {n}: {_short(messages.get(n, ''))}" for n in failing[:MAX_LISTED])
    user = prompts.render("swe_statement_user", project=project, failing=listing)
    system = prompts.render("swe_statement_system")
    resp = llm.complete(
        [Message(role="system", content=system), Message(role="user", content=user)],
        GenerationParams(temperature=0.0, max_tokens=400, seed=0),
    )
    return resp.text.strip() + "\n"
