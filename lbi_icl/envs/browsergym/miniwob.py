"""MiniWoB++ through BrowserGym, offline, in a real headless Chromium.

Tasks: every MiniWoB++ task BrowserGym registers (`browsergym.miniwob.ALL_MINIWOB_TASKS`,
125 in browsergym-miniwob 0.14), or `task_names=[...]`. One lbi task = one task name and
one seed: id `click-button/seed-3`. Seeds per split (like BabyAI): train from 0, dev from
1,000,000, test from 2,000,000; `tasks_per_name` seeds each (default train 10, dev 3,
test 3). Tasks come interleaved by name (seed #0 of every name, then #1, ...), so the
first N tasks of a split cover min(N, #names) different tasks. Same task and seed, same
page (MiniWoB seeds its JavaScript random generator from the seed).

The HTML comes from the `miniwob` package on disk (`file://` URL, or `base_url=`), and the
browser resolves no host names, so nothing leaves the machine. `Task.instruction` is the
task's description ("Click on a specific button in a generated form."); the seed's own
utterance ("Click on the "submit" button.") is only known once the page runs, so it is the
first line of every observation (`Goal: ...`) and in `env.goal`. An episode ends when the
page says so (most tasks end at their Submit button, right or wrong; reward 1 if right) or
after `step_limit` = 15 actions (`truncated`).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
from pathlib import Path
from typing import Any

from lbi_icl.data import Document, Task
from lbi_icl.envs.browsergym.env import BrowserGymEnv

SPLIT_SEED_BASE = {"train": 0, "dev": 1_000_000, "test": 2_000_000}
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
    default_step_limit = 15  # MiniWoB tasks take 1-12 actions; the episode ends after 15
    # Page loads and the task's set-up get 30 s instead of the task's 5 s (a loaded machine
    # missed 5 s); the agent's actions keep BrowserGym's own 500 ms limits.
    default_timeout_ms = 30000

    def __init__(
        self,
        *,
        task_names: list[str] | None = None,
        tasks_per_name: dict[str, int] | None = None,
        base_url: str | None = None,
        **options: Any,
    ):
        super().__init__(**options)
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

    def session_environ(self) -> dict[str, str]:
        return {"MINIWOB_URL": self.base_url or miniwob_html_dir().as_uri() + "/"}

    def tasks(self, split: str) -> list[Task]:
        if split not in SPLIT_SEED_BASE:
            raise ValueError(f"miniwob: unknown split {split!r}; use train, dev or test")
        docs = task_docs()
        names = self.names()
        out = []
        for k in range(int(self.tasks_per_name.get(split, 0))):
            seed = SPLIT_SEED_BASE[split] + k
            for name in names:
                desc = docs.get(name, {}).get("description") or f"Solve the task {name}."
                out.append(
                    Task(
                        id=f"{name}/seed-{seed}",
                        env=self.name,
                        instruction=desc,
                        split=split,
                        metadata={
                            "task": name,
                            "seed": seed,
                            "gym_id": f"browsergym/miniwob.{name}",
                            "benchmark": "miniwob",
                        },
                    )
                )
        return out

    def task(self, task_id: str) -> Task:
        name, _, seed = task_id.partition("/seed-")
        if name not in task_names() or not seed.isdigit():
            raise ValueError(f"miniwob: bad task id {task_id!r}; expected NAME/seed-N")
        s = int(seed)
        split = "test" if s >= 2_000_000 else "dev" if s >= 1_000_000 else "train"
        desc = task_docs().get(name, {}).get("description") or f"Solve the task {name}."
        return Task(
            id=task_id,
            env=self.name,
            instruction=desc,
            split=split,
            metadata={
                "task": name,
                "seed": s,
                "gym_id": f"browsergym/miniwob.{name}",
                "benchmark": "miniwob",
            },
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
