"""Screenshot observations: where the PNG files go, and what text goes with them.

`obs` (an env option) picks what a vision model is shown:

- `axtree` (default): text only, the accessibility tree (no screenshots are taken);
- `screenshot`: the page's screenshot plus the observation's header lines (goal, URL,
  title, tabs, last action error), without the tree;
- `som`: set-of-marks, the screenshot with every element's bid drawn on it (`som.py`),
  plus the header lines;
- `axtree+som`: the set-of-marks screenshot and the whole text observation.

The text observation (`Env.reset` / `step`) always keeps the tree, so text-only models,
retrieval and the step logs read it unchanged; a vision model gets `visual_observation()`.
One PNG per observation: `DIR/<task id, file-name-safe>/step-NNN.png` (step 0 = after the
reset), written atomically in the browser worker. `DIR` is `screenshot_dir`, else the run's
own folder `RUN/screens` (the runner calls `bind_run`), else a temporary folder removed by
`close()` (library use without a run).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

OBS_MODES = ("axtree", "screenshot", "som", "axtree+som")
TREE_HEADER = "Accessibility tree:"


def check_obs_mode(env_name: str, value: str) -> str:
    if value not in OBS_MODES:
        raise ValueError(f"{env_name}: obs={value!r}; expected one of {', '.join(OBS_MODES)}")
    return value


def task_slug(task_id: str) -> str:
    return re.sub(r"[^\w.-]", "_", task_id)


class Shots:
    """Paths of the screenshots an env writes (see the module docstring)."""

    def __init__(self, directory: str | None, *, wanted: bool):
        self.directory = directory
        self.wanted = wanted or directory is not None
        self._tmp: str | None = None

    def default_dir(self, run_out: str) -> None:
        if self.directory is None:
            self.directory = str(Path(run_out) / "screens")

    def where(self) -> str:
        return self.directory or "a temporary folder (no run folder given)"

    def path(self, task_id: str, step: int) -> str | None:
        if not self.wanted:
            return None
        base = self.directory
        if base is None:
            if self._tmp is None:
                self._tmp = tempfile.mkdtemp(prefix="lbi-shots-")
            base = self._tmp
        return str(Path(base) / task_slug(task_id) / f"step-{step:03d}.png")

    def close(self) -> None:
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def visual_text(observation: str, mode: str) -> str:
    """The text shown with the screenshot: without the tree for `screenshot` / `som`."""
    if mode == "axtree+som":
        return observation + "\nScreenshot: attached, each element's number drawn on it."
    head, sep, _tree = observation.partition("\n" + TREE_HEADER)
    if not sep:
        head = observation
    note = (
        "Screenshot: attached, each element's number drawn on it; name elements by it."
        if mode == "som"
        else "Screenshot: attached."
    )
    return f"{head}\n{note}"
