"""Where a request marks its stable prefix for the provider's prompt cache.

Anthropic caches a prompt prefix only up to a `cache_control` breakpoint (at most 4 per
request; a write costs 1.25x the input price, a read 0.1x). OpenAI caches prefixes of 1024+
tokens by itself. `lbi`'s agent prompts are laid out stable-first by default
(`agent.prompt_layout = stable_first`, lbi_icl/prompts/specs.py): the system message (action
space and answer format: the same at every step of every episode), then a user message that
opens with the objective (the same at every step of an episode) and goes on with the
per-step parts: the retrieved examples (the same from one step to the next only while
retrieval returns the same ones), the interaction history, the current observation. So
the head that consecutive steps share is at least system + objective, whatever was
retrieved (the plan below writes it at an episode's 2nd step and reads it from the 3rd on).
With the paper's layout (`examples_first`) the examples come before the objective: the
shared head ends where the examples first differ, and the objective is in it only at steps
whose examples did not change. Without retrieved examples (strategy `none`) both layouts
are the same text. A user's own `agent_user` template decides its own layout.

`PrefixTracker.plan` finds the stable head without knowing the prompt's layout: per thread
(an episode runs on one thread, one step after another) and per system text, it remembers
the previous request's chat texts and compares. A breakpoint goes at

1. the end of the system text (always);
2. the longest point the previous request cut at that this one still shares (a cache read);
3. the end of the last whole line this request shares with the previous one, if that is
   further (a cache write that the next step reads while the head stays the same).

The text is cut into blocks at every earlier point it still shares, not only the marked
ones, so the shared head is cut exactly as before: a cached prefix is found again only when
its blocks are the same. A request that shares nothing beyond the system text marks only
the system text, so a changing block (per-step examples) is not written to the cache at
1.25x for nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

CachePrompt = Literal["auto", "on", "off"]
CACHE_PROMPT_MODES: tuple[CachePrompt, ...] = ("auto", "on", "off")
MAX_BREAKPOINTS = 4  # Anthropic's limit per request (a plan marks 3 at most)
_PER_THREAD = 8  # system prompts remembered per thread (policy, query writer, ...)


@dataclass(frozen=True, order=True)
class Breakpoint:
    """The cached prefix ends `offset` characters into chat message `message` (system
    messages not counted); the message is split into two text blocks there."""

    message: int
    offset: int


@dataclass(frozen=True)
class CachePlan:
    system: bool  # mark the end of the system text
    points: tuple[Breakpoint, ...] = ()  # ascending: the chat's breakpoints (cache_control)
    cuts: tuple[Breakpoint, ...] = ()  # ascending: where text blocks end (points included)

    @property
    def count(self) -> int:
        return int(self.system) + len(self.points)


NO_PLAN = CachePlan(system=False)


@dataclass
class _Seen:
    chat: list[str]
    cuts: tuple[Breakpoint, ...]


MAX_CUTS = 16  # text blocks a request's shared head is cut into, at most


def common_prefix_len(a: str, b: str) -> int:
    """Characters `a` and `b` share at the start (binary search on slices: C speed)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _shared(prev: list[str], cur: list[str]) -> Breakpoint | None:
    """Where `cur` stops agreeing with `prev`: (message, characters in common)."""
    for i, text in enumerate(cur):
        if i >= len(prev):
            return Breakpoint(i - 1, len(cur[i - 1])) if i else None
        if text != prev[i]:
            return Breakpoint(i, common_prefix_len(prev[i], text))
    return Breakpoint(len(cur) - 1, len(cur[-1])) if cur else None


def _line_aligned(chat: list[str], at: Breakpoint) -> Breakpoint | None:
    """`at` moved back to the end of a whole line (or of the previous whole message)."""
    text = chat[at.message]
    if at.offset == len(text):
        return at
    cut = text.rfind("\n", 0, at.offset)
    if cut >= 0:
        return Breakpoint(at.message, cut + 1)
    if at.message > 0:
        return Breakpoint(at.message - 1, len(chat[at.message - 1]))
    return None


class PrefixTracker:
    """Plans the breakpoints of each request (see the module docstring); thread-safe (its
    memory is per thread)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _memory(self) -> OrderedDict[str, _Seen]:
        mem = getattr(self._local, "seen", None)
        if mem is None:
            mem = self._local.seen = OrderedDict()
        return mem

    def plan(self, system: str, chat: list[str]) -> CachePlan:
        key = hashlib.sha256(system.encode("utf-8", "surrogatepass")).hexdigest()
        mem = self._memory()
        seen = mem.pop(key, None)
        cuts: list[Breakpoint] = []
        points: list[Breakpoint] = []
        if seen is not None and chat:
            common = _shared(seen.chat, chat)
            if common is not None and (common.message, common.offset) != (0, 0):
                cuts = [p for p in seen.cuts if p <= common and p.offset > 0]
                points = cuts[-1:]
                new = _line_aligned(chat, common)
                fresh = new is not None and new.offset > 0 and (not cuts or new > cuts[-1])
                if fresh and len(cuts) < MAX_CUTS:
                    assert new is not None
                    cuts.append(new)
                    points.append(new)
        plan = CachePlan(system=bool(system), points=tuple(points), cuts=tuple(cuts))
        mem[key] = _Seen(list(chat), plan.cuts)
        while len(mem) > _PER_THREAD:
            mem.popitem(last=False)
        return plan


def split_at(text: str, cuts: list[int]) -> list[str]:
    """`text` cut at the given ascending offsets (empty pieces dropped)."""
    out, start = [], 0
    for c in [*cuts, len(text)]:
        if c > start:
            out.append(text[start:c])
            start = c
    return out


def prompt_cache_key(model: str, system: str) -> str:
    """OpenAI's `prompt_cache_key` for requests sharing this system prompt (routes them to
    the same cache); a hash, never the text."""
    digest = hashlib.sha256(f"{model}\n{system}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"lbi-{digest[:24]}"
