"""Screenshots in the prompt: which observation a model that takes images is shown, and
the image parts that carry it (web envs with `obs=screenshot|som|axtree+som`)."""

from __future__ import annotations

from pathlib import Path

from lbi_icl.agent.base import AgentConfig
from lbi_icl.agent.policies import Policy
from lbi_icl.envs.base import Env
from lbi_icl.llm.base import LLM, ImagePart, Message, accepts_images


def visual_observation(
    env: Env, policy: Policy, config: AgentConfig
) -> tuple[str, list[str]] | None:
    """(text, PNG paths) of the current observation for the policy's model: the env's
    `visual_observation()` when `config.images` is "on", or "auto" and the policy's LLM
    takes images (`llm.base.accepts_images`, by model name); None otherwise, and then the
    model reads the text observation, accessibility tree included."""
    # optional capabilities, hence getattr: only a policy that asks an LLM has `llm` (the
    # retrieval policy has none), only an env with screenshots has `visual_observation`
    llm: LLM | None = getattr(policy, "llm", None)
    if config.images == "off" or llm is None:
        return None
    if config.images == "auto" and not accepts_images(llm.spec):
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
