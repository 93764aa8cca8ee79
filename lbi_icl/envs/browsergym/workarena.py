"""WorkArena (ServiceNow) through BrowserGym: tasks listed offline, instance from `SNOW_*`.

`tasks("test")` imports `browsergym.workarena` (no server: its task classes and their
configs ship in the package) and lists WorkArena's own curriculum,
`get_all_tasks_agents(level, meta_seed)`: `l1` = the 33 atomic tasks × `seeds_per_task`
seeds (default 10), `l2` / `l3` = the compositional tasks of the agent curriculum, each
with its seed. Task id `<gym task id>/seed-<n>`, e.g.
`workarena.servicenow.create-incident/seed-102` (gym id `browsergym/workarena.servicenow.
create-incident`). WorkArena has one split, `test`.

Running needs a ServiceNow developer instance, set as WorkArena documents:
`SNOW_INSTANCE_URL`, `SNOW_INSTANCE_UNAME`, `SNOW_INSTANCE_PWD` (the worker inherits them;
they are never written to logs or manifests). WorkArena's fallback — a random instance
from a gated Hugging Face dataset — is a download at run time and is not used:
`check_ready()` names every unset variable, then probes the URL.
"""

from __future__ import annotations

import os
from typing import Any

from lbi_icl.data import Document, Task
from lbi_icl.envs.browsergym.env import BrowserGymEnv
from lbi_icl.envs.browsergym.protocol import check_protocol, workarena_protocol
from lbi_icl.envs.browsergym.webarena import SitesNotReadyError, probe

SNOW_SETTINGS: dict[str, str] = {
    "SNOW_INSTANCE_URL": "your ServiceNow instance, e.g. https://dev12345.service-now.com",
    "SNOW_INSTANCE_UNAME": "its user name (e.g. admin)",
    "SNOW_INSTANCE_PWD": "its password (read from the environment only, never logged)",
}
LEVELS = ("l1", "l2", "l3")


class WorkArenaEnv(BrowserGymEnv):
    name = "workarena"
    benchmark = "workarena"
    default_step_limit = 30
    no_offline_score = (
        "WorkArena validates an episode by querying the live ServiceNow instance (its records "
        "and the page), which the run log does not hold"
    )

    def __init__(
        self,
        *,
        level: str = "l1",
        meta_seed: int = 42,
        seeds_per_task: int = 10,
        probe_timeout_s: float = 10.0,
        protocol: str = "browsergym",
        **options: Any,
    ):
        if level not in LEVELS:
            raise ValueError(f"workarena: level={level!r}; expected one of {', '.join(LEVELS)}")
        name = check_protocol(self.name, protocol)
        super().__init__(protocol=workarena_protocol(level, name, 0, seeds_per_task), **options)
        self.level = level
        self.meta_seed = meta_seed
        self.seeds_per_task = seeds_per_task
        self.probe_timeout_s = probe_timeout_s
        self._ready = False

    def tasks(self, split: str) -> list[Task]:
        if split != "test":
            raise ValueError(
                f"{self.name}: unknown split {split!r}; WorkArena has one split, 'test' "
                "(levels: --env-option level='\"l2\"')"
            )
        from browsergym.workarena import get_all_tasks_agents

        pairs = get_all_tasks_agents(
            filter=self.level, meta_seed=self.meta_seed, n_seed_l1=self.seeds_per_task
        )
        out: list[Task] = []
        seen: dict[str, int] = {}
        bg = self.protocol is not None and self.protocol.name == "browsergym"
        for cls, seed in pairs:
            gym_task = str(cls.get_task_id())
            tid = f"{gym_task}/seed-{int(seed)}"
            # WorkArena's curriculum can draw the same seed twice: protocol browsergym runs
            # it twice, as BrowserGym does (`/rep-1`); lbi once
            n = seen[tid] = seen.get(tid, -1) + 1
            if n and not bg:
                continue
            if n:
                tid += f"/rep-{n}"
            out.append(
                Task(
                    id=tid,
                    env=self.name,
                    # the goal text comes with the page at reset (like MiniWoB); task
                    # docstrings are unreliable (several are copied from another task)
                    instruction="ServiceNow: " + gym_task.rsplit(".", 1)[-1].replace("-", " "),
                    split="test",
                    metadata={
                        "task": gym_task,
                        "seed": int(seed),
                        "level": self.level,
                        "gym_id": f"browsergym/{gym_task}",
                    },
                )
            )
        return out

    def run_notes(self) -> list[str]:
        if self.protocol is not None and self.protocol.tasks == 0:
            self.protocol = self.protocol.model_copy(update={"tasks": len(self.tasks("test"))})
        return super().run_notes()

    def check_ready(self) -> None:
        if self._ready:
            return
        missing = [k for k in SNOW_SETTINGS if not os.environ.get(k)]
        if missing:
            lines = [f"  {k}: {SNOW_SETTINGS[k]}" for k in missing]
            raise SitesNotReadyError(
                f"{self.name}: no ServiceNow instance configured; set "
                + ", ".join(missing)
                + " (see README 'Web agents'):\n"
                + "\n".join(lines)
            )
        url = os.environ["SNOW_INSTANCE_URL"]
        why = probe(url, self.probe_timeout_s)
        if why is not None:
            raise SitesNotReadyError(f"{self.name}: SNOW_INSTANCE_URL={url} is {why}")
        self._ready = True

    def session_modules(self) -> list[str]:
        return ["browsergym.workarena"]

    def session_offline(self) -> bool:
        return False  # the instance is a remote ServiceNow site

    def documents(self) -> list[Document]:
        docs = super().documents()
        docs.append(
            Document(
                id=f"{self.name}/overview",
                env=self.name,
                title="ServiceNow",
                text="WorkArena runs in a ServiceNow instance: the all-menu navigator, "
                "forms (create incident, change request, problem, user, hardware asset), "
                "lists (filter and sort incidents, assets, catalog items), the service "
                "catalog (order items), knowledge base search and dashboards (read chart "
                "values).",
            )
        )
        return docs
