"""Stage 1 — tasks: the environment's own task list (offline) or self-instruct from its
documentation with an LLM (the paper: a few tasks per document)."""

from __future__ import annotations

import logging
import re

from pydantic import BaseModel, ConfigDict

from lbi_icl.data import Document, Task
from lbi_icl.envs.base import Env, env_tasks
from lbi_icl.llm.base import LLM, GenerationParams
from lbi_icl.prompts import PromptSet
from lbi_icl.synth.prompts import self_instruct_messages

log = logging.getLogger(__name__)


class SynthTask(BaseModel):
    """A task to roll out. `uid` is unique within a synthesis run (the env's task id, or
    the id plus '#si<n>' for self-instructed tasks that reuse an env task's start state)."""

    model_config = ConfigDict(extra="forbid")

    uid: str
    task: Task


_NUMBERING = re.compile(r"^\s*(?:[-*•]|\(?\d+[.)]|task\s*\d+\s*[:.)-])\s*", re.IGNORECASE)


def parse_task_lines(text: str, k: int) -> list[str]:
    """One task per line; bullets and numbering removed; blanks and duplicates dropped."""
    out: list[str] = []
    for line in text.splitlines():
        t = _NUMBERING.sub("", line).strip().strip('"').strip()
        if len(t) < 3 or t.endswith(":") or t in out:
            continue
        out.append(t)
        if len(out) >= k:
            break
    return out


def self_instruct(
    env: Env,
    documents: list[Document],
    llm: LLM,
    *,
    split: str,
    n: int,
    per_document: int,
    seed: int,
    temperature: float = 0.0,
    prompts: PromptSet | None = None,
) -> list[SynthTask]:
    """Ask the LLM for `per_document` tasks per document, in document order, until `n`.

    Self-instructed tasks need a start state; each borrows one from the env's own task
    list, keeping that task's id and metadata so the env can reset to it: a document about
    one task (its id ends in `/NAME`, NAME an env task's `metadata["task"]`, as MiniWoB's
    per-task pages) lends that task's start states in turn, so the task runs on the page
    it was written for; the tasks of any other document take the list's tasks round robin.
    """
    if not documents:
        raise ValueError(f"{env.name}: no documentation to self-instruct from")
    bases = env_tasks(env, split, n)
    params = GenerationParams(temperature=temperature, max_tokens=512, seed=seed)
    out: list[SynthTask] = []
    for doc in documents:
        if len(out) >= n:
            break
        resp = llm.complete(self_instruct_messages(env.name, doc, per_document, prompts), params)
        own = [b for b in bases if b.metadata.get("task") == doc.id.rsplit("/", 1)[-1]]
        for i, line in enumerate(parse_task_lines(resp.text, per_document)):
            if len(out) >= n:
                break
            j = len(out)
            base = own[i % len(own)] if own else bases[j % len(bases)]
            task = base.model_copy(
                update={
                    "instruction": line,
                    "metadata": {
                        **base.metadata,
                        "self_instruct": {"document_id": doc.id, "base_task_id": base.id},
                    },
                }
            )
            out.append(SynthTask(uid=f"{base.id}#si{j}", task=task))
    if not out:
        raise ValueError("self-instruct produced no tasks (the LLM's answers had no lines)")
    return out
