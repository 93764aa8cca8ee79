"""ScienceWorld (Wang et al., 2022) as an `Env`: 30 task types of elementary-science
experiments in a text world, with the benchmark's own train/dev/test variation splits.

Why it looks the way it does:
- One JVM per env instance, started lazily (listing tasks or documents needs none) and reused
  across resets; `close()` shuts it down.
- `step` talks to the simulator directly instead of through the package's `step()`, which
  also computes look, inventory and the ~400-entry valid-action list on every call
  (measured 90-180 ms a step against 9-25 ms without the listing); `valid_actions()`
  computes the listing only when called, once per state.
- Reset loads the variation again (the simulator's own reset also reloads, and regenerates
  a gold path every time once any load asked for one). Gold paths are cached on disk.
- The JVM runs with constant identity hashes, so the same task and actions give the same
  text whatever the JVM ran before (see `_DETERMINISTIC_JVM_OPTS`).
- The task table (splits and every variation's task description) ships as
  `scienceworld_tasks.json.gz`, generated from the installed package by
  `python -m lbi_icl.envs.scienceworld build-table`, so `tasks()` needs no JVM. When the
  installed package version differs from the table's, the table is rebuilt from the JVM
  once and cached under `~/.cache/lbi_icl/`.
- Every JVM call runs under a timeout; on a hang the JVM is killed and `EnvError` names the
  task and step, and the next reset starts a fresh JVM.

Observation: the text the simulator returns for the action (for reset: its answer to
"look around"). `include_look` / `include_inventory` append the free look / inventory views.
Score: 0-100 as the benchmark reports it; reward = change in score; success = score 100 with
the task completed; a negative score means the task failed (done).

Modules: `env.py` (`ScienceWorldEnv`: JVM plumbing, tasks, episodes), `table.py` (the task
table), `jvm.py` (JVM flags), `text.py` (action templates, world text, documents),
`expert.py` (gold paths and their replay), `bench.py` (the `python -m` CLI).
"""

from lbi_icl.envs.scienceworld.env import ScienceWorldEnv
from lbi_icl.envs.scienceworld.table import (
    AMBIGUOUS_PREFIX,
    ENV_NAME,
    NO_MATCH,
    SPLITS,
    TABLE_PATH,
)
from lbi_icl.envs.scienceworld.text import ACTION_TEMPLATES

__all__ = [
    "ACTION_TEMPLATES",
    "AMBIGUOUS_PREFIX",
    "ENV_NAME",
    "NO_MATCH",
    "SPLITS",
    "TABLE_PATH",
    "ScienceWorldEnv",
]
