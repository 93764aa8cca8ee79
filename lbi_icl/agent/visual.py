"""Screenshots in the prompt: which observation a model that takes images is shown, and
the image parts that carry it (web envs with `obs=screenshot|som|axtree+som`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lbi_icl.agent.base import AgentConfig
from lbi_icl.llm.base import ImagePart, Message, accepts_images


def visual_observation(env: Any, policy: Any, config: AgentConfig) -> tuple[str, list[str]] | None:
    """(text, PNG paths) of the current observation for the policy's model: the env's
    `visual_observation()` when `config.images` is "on", or "auto" and the policy's LLM
    takes images (`llm.base.accepts_images`, by model name); None otherwise, and then the
    model reads the text observation, accessibility tree included."""
    llm = getattr(policy, "llm", None)
    if config.images == "off" or llm is None:
        return None
    if config.images == "auto" and not accepts_images(str(getattr(llm, "spec", ""))):
        return None
    try:
        get = getattr(env, "visual_observation", None)
    except AttributeError:
        return None
    seen = get() if callable(get) else None
    if not seen or not seen.get("images"):
        return None
    return str(seen["text"]), [str(p) for p in seen["images"]]


def with_images(messages: list[Message], paths: list[str]) -> list[Message]:
    """`messages` with the PNG files at `paths` attached to the last one (the user message
    holding the current observation)."""
    last = messages[-1]
    images = tuple(ImagePart(data=Path(p).read_bytes(), media_type="image/png") for p in paths)
    return [*messages[:-1], Message(role=last.role, content=last.content, images=images)]
