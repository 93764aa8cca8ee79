"""MiniWoB++ through BrowserGym, offline, in a real headless Chromium.

Protocols (`protocol.py`): **browsergym** (default) is browsergym-experiments' `miniwob`
benchmark — its test split is the benchmark's own 125 tasks x 5 repeats with its seeds
(`benchmark="miniwob_tiny_test"`: its tiny list), id `click-button/seed-28/rep-0`, 10
steps, action set `miniwob_all`, the tasks' own timeouts; train seeds start at 1000 (dev
1,000,000), clear of the test seeds. **lbi** keeps the earlier settings: every split
`tasks_per_name` seeds (train 10 from 0, dev 3 from 1,000,000, test 3 from 2,000,000), id
`click-button/seed-3`, 15 steps, bid-only actions, 30 s page loads. Tasks come interleaved
(seed or repeat #0 of every name, then #1, ...), so the first N tasks of a split cover
min(N, #names) different tasks. Same task and seed, same page (MiniWoB seeds its
JavaScript random generator from the seed).

The HTML comes from the `miniwob` package on disk (`file://` URL, or `base_url=`), and the
browser resolves no host names, so nothing leaves the machine. Every text the env hands out
says `miniwob://` for that base URL (no machine path in observations, logs or indexes);
actions naming `miniwob://` are sent with the real URL. `Task.instruction` is the task's
description ("Click on a specific button in a generated form.", also in
`metadata["description"]`); the seed's own utterance ("Click on the "submit" button.") is
only known once the page runs: `episode_goal()` after a reset, which the agent loop and
synthesis use as the episode's instruction, and the first line of every observation
(`Goal: ...`). An episode ends when the page says so (most tasks end at their Submit
button, right or wrong; reward 1 if right) or after `step_limit` actions (`truncated`).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
import urllib.parse
from pathlib import Path
from typing import Any

from lbi_icl.data import Document, Step, Task, Trajectory
from lbi_icl.envs.base import episode_task
from lbi_icl.envs.browsergym.env import BrowserGymEnv
from lbi_icl.envs.browsergym.protocol import (
    MINIWOB_BENCHMARKS,
    check_protocol,
    miniwob_protocol,
    repeat_seeds,
)

SPLIT_SEED_BASE = {"train": 0, "dev": 1_000_000, "test": 2_000_000}
BG_TRAIN_SEED_BASE = 1000  # protocol browsergym: clear of the test seeds [0, 34)
DEFAULT_TASKS_PER_NAME = {"train": 10, "dev": 3, "test": 3}


def miniwob_html_dir() -> Path:
    spec = importlib.util.find_spec("miniwob")
    if spec is None or spec.origin is None:
        raise ImportError("the `miniwob` package is not installed; pip install -e '.[web]'")
    return Path(spec.origin).parent / "html" / "miniwob"


@functools.lru_cache(maxsize=1)
def task_names() -> tuple[str, ...]:
    """Every MiniWoB++ task BrowserGym registers, sorted."""
    from browsergym.miniwob import ALL_MINIWOB_TASKS

    return tuple(sorted(str(cls.subdomain) for cls in ALL_MINIWOB_TASKS))


@functools.lru_cache(maxsize=1)
def task_docs() -> dict[str, dict[str, Any]]:
    """{name: {description, utterances, fields, notes}} read (not imported) from the
    docstrings of the `miniwob` package's environment classes."""
    out: dict[str, dict[str, Any]] = {}
    base = miniwob_html_dir().parent.parent / "envs"
    for path in sorted(base.glob("*_envs.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            doc = ast.get_docstring(node) or ""
            sub = next(
                (
                    st.value.value
                    for st in node.body
                    if isinstance(st, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "subdomain" for t in st.targets)
                    and isinstance(st.value, ast.Constant)
                ),
                None,
            )
            if isinstance(sub, str):
                out[sub] = _parse_doc(doc)
    for d in out.values():  # '[book-flight] Removed animation.' -> the base task's text too
        m = re.match(r"^\[([\w-]+)\]\s*(.*)$", d["description"])
        if m and m.group(1) in out:
            base = out[m.group(1)]
            d["description"] = f"{base['description']} ({m.group(2)})"
            d["utterances"] = d["utterances"] or base["utterances"]
            d["fields"] = d["fields"] or base["fields"]
    return out


def _parse_doc(doc: str) -> dict[str, Any]:
    sections: dict[str, list[str]] = {}
    current = "description"
    for line in doc.splitlines():
        m = re.match(r"^##\s+(.+?)\s*$", line)
        if m:
            current = m.group(1).lower()
            continue
        if line.strip():
            sections.setdefault(current, []).append(line.strip())

    def items(key: str) -> list[str]:
        return [ln[2:].strip() for ln in sections.get(key, []) if ln.startswith("* ")]

    return {
        "description": " ".join(sections.get("description", [])),
        "utterances": items("example utterances"),
        "fields": items("utterance fields"),
        "notes": items("additional notes"),
    }


class MiniWoBEnv(BrowserGymEnv):
    name = "miniwob"
    benchmark = "miniwob"
    default_step_limit = 15  # protocol lbi: MiniWoB tasks take 1-12 actions
    # protocol lbi: page loads and the task's set-up get 30 s instead of the task's 5 s
    default_timeout_ms = 30000
    URL_TOKEN = "miniwob://"  # the pages' base URL as observations, logs and indexes say it
    # why `lbi rescore` cannot score a MiniWoB episode from its log (envs.base.OfflineScorer)
    no_offline_score = (
        "the reward is computed by the task page's own script from the live DOM (what was "
        "typed, clicked or selected, checked by the page's JavaScript); the step log holds "
        "only the text view of the page, so only a replay could recompute it"
    )

    def __init__(
        self,
        *,
        task_names: list[str] | None = None,
        tasks_per_name: dict[str, int] | None = None,
        base_url: str | None = None,
        protocol: str = "browsergym",
        benchmark: str = "miniwob",
        **options: Any,
    ):
        proto = miniwob_protocol(check_protocol(self.name, protocol), benchmark)
        super().__init__(protocol=proto, **options)
        self.benchmark = benchmark
        if task_names is None and proto.name == "browsergym":
            task_names = list(MINIWOB_BENCHMARKS[benchmark][0])
        self._names = list(task_names) if task_names else None
        self.tasks_per_name = {**DEFAULT_TASKS_PER_NAME, **(tasks_per_name or {})}
        self.base_url = base_url

    def names(self) -> list[str]:
        known = task_names()
        if self._names is None:
            return list(known)
        unknown = [n for n in self._names if n not in known]
        if unknown:
            raise ValueError(
                f"miniwob: unknown task name(s) {', '.join(unknown)}; e.g. {', '.join(known[:5])}"
            )
        return list(self._names)

    def session_modules(self) -> list[str]:
        return ["browsergym.miniwob"]

    def _base(self) -> str:
        return self.base_url or miniwob_html_dir().as_uri() + "/"

    def session_environ(self) -> dict[str, str]:
        return {"MINIWOB_URL": self._base()}

    def url_aliases(self) -> list[tuple[str, str]]:
        base = self._base()
        pairs = [(base, self.URL_TOKEN)]
        if base.startswith("file://"):  # the bare path appears in error messages
            pairs.append((urllib.parse.unquote(base.removeprefix("file://")), self.URL_TOKEN))
        return pairs

    def _task(self, name: str, seed: int, split: str, rep: int | None) -> Task:
        desc = task_docs().get(name, {}).get("description") or f"Solve the task {name}."
        meta: dict[str, Any] = {
            "task": name,
            "seed": seed,
            "gym_id": f"browsergym/miniwob.{name}",
            "benchmark": "miniwob",
            "description": desc,
            "protocol": self.protocol.name if self.protocol else "lbi",
        }
        tid = f"{name}/seed-{seed}"
        if rep is not None:
            meta["repeat"] = rep
            tid += f"/rep-{rep}"
        return Task(id=tid, env=self.name, instruction=desc, split=split, metadata=meta)

    def tasks(self, split: str) -> list[Task]:
        if split not in SPLIT_SEED_BASE:
            raise ValueError(f"miniwob: unknown split {split!r}; use train, dev or test")
        names = self.names()
        if split == "test" and self.protocol is not None and self.protocol.name == "browsergym":
            # the benchmark's own (task, seed) list, interleaved by repeat so the first N
            # tasks cover min(N, #names) different tasks
            # each task keeps its seeds from the whole benchmark's draw, also when only
            # some tasks are listed (`task_names`)
            full = list(MINIWOB_BENCHMARKS[self.benchmark][0])
            full += [n for n in names if n not in full]
            seeds = dict(zip(full, repeat_seeds(full, self.protocol.n_repeats), strict=True))
            return [
                self._task(name, seeds[name][r], split, r)
                for r in range(self.protocol.n_repeats)
                for name in names
            ]
        base = self.seed_base(split)
        return [
            self._task(name, base + k, split, None)
            for k in range(int(self.tasks_per_name.get(split, 0)))
            for name in names
        ]

    def seed_base(self, split: str) -> int:
        """First seed of a split's `name/seed-N` tasks. Protocol browsergym: train seeds
        start at 1000, clear of the benchmark's test seeds [0, SEED_MAX)."""
        if split == "train" and self.protocol is not None and self.protocol.name == "browsergym":
            return BG_TRAIN_SEED_BASE
        return SPLIT_SEED_BASE[split]

    def task(self, task_id: str) -> Task:
        m = re.fullmatch(r"([\w-]+)/seed-(\d+)(?:/rep-(\d+))?", task_id)
        if m is None or m.group(1) not in task_names():
            raise ValueError(
                f"miniwob: bad task id {task_id!r}; expected NAME/seed-N or NAME/seed-N/rep-R"
            )
        name, s = m.group(1), int(m.group(2))
        rep = int(m.group(3)) if m.group(3) is not None else None
        if rep is not None:
            split = "test"
        else:
            split = "test" if s >= 2_000_000 else "dev" if s >= 1_000_000 else "train"
        return self._task(name, s, split, rep)

    # -- the scripted expert (experts/) -------------------------------------------------

    expert_fallback = "coverage"  # synthesis explores tasks without a solver this way

    def has_expert(self, task: Task) -> bool:
        from lbi_icl.envs.browsergym.experts import has_solver

        return has_solver(str(task.metadata.get("task", "")))

    def demonstrate(self, task: Task, *, max_steps: int = 100) -> Trajectory | None:
        """The task's scripted solver played in the browser, one action per step, read off
        the page each time; None when the task has no solver or it did not succeed."""
        if not self.has_expert(task):
            return None
        obs = self.reset(task)
        limit = min(max_steps, self.step_limit or max_steps)
        steps: list[Step] = []
        last = None
        while len(steps) < limit:
            action = self._call("expert_action", timeout_s=self.step_timeout_s)
            if action is None:
                break
            last = self.step(str(action))
            steps.append(
                Step(observation=obs, action=str(action), reward=last.reward, info=last.info)
            )
            obs = last.observation
            if last.done:
                break
        if last is None or not last.info.get("success"):
            return None
        told = episode_task(self, task)
        return Trajectory(
            id=f"{task.id}/expert",
            env=self.name,
            instruction=told.instruction,
            steps=steps,
            final_observation=obs,
            outcome="success",
            source={"kind": "expert", "expert": "miniwob-scripted"},
            split=task.split,
            metadata={**told.metadata, "task_id": task.id},
        )

    def documents(self) -> list[Document]:
        docs = [
            Document(
                id="miniwob/overview",
                env=self.name,
                title="MiniWoB++ in BrowserGym",
                text="MiniWoB++ is a set of small web pages, each with one task stated in a "
                "sentence (the goal). The page is shown as an accessibility tree; every "
                "element an agent can act on has a number in brackets (its bid). Click "
                "buttons, links, checkboxes and list items with click(bid); type into text "
                "fields with fill(bid, text); choose from drop-down lists with "
                "select_option(bid, option). Most tasks end with a click on a Submit button.",
            ),
            Document(
                id="miniwob/actions", env=self.name, title="Actions", text=self.action_space_text()
            ),
        ]
        info = task_docs()
        for name in self.names():
            d = info.get(name)
            if not d:
                continue
            parts = [d["description"]]
            if d["utterances"]:
                parts.append("Example goals: " + " ".join(d["utterances"]))
            if d["fields"]:
                parts.append("The goal varies in: " + ", ".join(d["fields"]) + ".")
            if d["notes"]:
                parts.append("Notes: " + " ".join(d["notes"]))
            docs.append(
                Document(id=f"miniwob/{name}", env=self.name, title=name, text="\n".join(parts))
            )
        return docs
