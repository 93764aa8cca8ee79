"""`swe`: SWE-bench-format code tasks as an `Env`, in the style of mini-swe-agent.

Options (`--env-option KEY=VALUE`):
- `tasks_file`: a SWE-bench-format JSONL, or a folder holding `train.jsonl` / `test.jsonl`
  (what `lbi swe build-tasks` writes); a JSONL path may contain `{split}`. Records with a
  `split` field are filtered by it; a file without that field serves every split.
- `harness`: `local` (default: pytest on a clean checkout) or `swebench` (the official
  harness; needs Docker and the `swebench` package).
- `sandbox`: `on` (default: every agent command and test run in a bubblewrap sandbox as an
  unprivileged user, see `sandbox.py`; the environment refuses to start when it cannot set
  one up) or `off` (unsafe; warned, and said in the run's manifest and report).
- `repo_map`: a JSON/YAML file mapping `owner/name` to local repositories (mirrors).
- `command_timeout` (s, default 60), `test_timeout` (s, default 300), `output_cap`
  (characters, default 10000), `cache_dir` (virtualenvs), `workspace_dir` (where temporary
  workspaces go; default the system temp folder).

A task's workspace is a git checkout of the record's repository at `base_commit` in a fresh
temporary directory (see `workspace.py`). Actions are shell commands (`bash -lc`, one per
step) run there; the observation is the exit code and the capped output. `submit` ends the
episode: the submission is every change against the base commit minus the protected paths
(`submission.py`); it is applied to a clean checkout of the base commit in a new folder, the
test files are reset and the test patch applied, and the FAIL_TO_PASS and PASS_TO_PASS tests
are run there (`grading.py`). success = all pass; score = the fraction that pass; the graded
diff is the final step's `info["diff"]`, the paths left out `info["excluded"]`.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any, ClassVar

from lbi_icl.data import Document, Step, Task, Trajectory
from lbi_icl.data.jsonl import read_documents
from lbi_icl.envs.base import EnvError, Rescored, RunFiles, StepResult
from lbi_icl.envs.swe.expert import expert_actions, noise_actions
from lbi_icl.envs.swe.grading import grade
from lbi_icl.envs.swe.harness import check_harness, swebench_grade
from lbi_icl.envs.swe.predictions import Prediction, submitted_diff
from lbi_icl.envs.swe.records import (
    SWEInstance,
    TaskRecordError,
    load_records,
    load_repo_map,
    resolve_repo,
)
from lbi_icl.envs.swe.regrade import grade_prediction
from lbi_icl.envs.swe.sandbox import SANDBOX_UID, check_sandbox
from lbi_icl.envs.swe.shell import run_shell
from lbi_icl.envs.swe.submission import take_submission
from lbi_icl.envs.swe.validate import validate_local
from lbi_icl.envs.swe.workspace import Workspace, default_cache_dir

log = logging.getLogger(__name__)

ENV_NAME = "swe"
SUBMIT = "submit"

ACTION_SPACE = (
    "You work in a shell inside the repository (the current directory). Each action is ONE "
    "bash command on one line, run with `bash -lc` in the repository; you see its exit code "
    "and output (long output is cut in the middle). Commands time out, so never start "
    "interactive programs (editors, pagers, REPLs). Useful commands: `grep -rn PATTERN .`, "
    "`sed -n 'START,ENDp' FILE`, `cat FILE`, `python -m pytest -q FILE::TEST`, `git diff`. "
    "Edit files with one-line commands, e.g. `sed -i 's/OLD/NEW/' FILE` or "
    "`python3 -c \"import pathlib; p = pathlib.Path('FILE'); "
    "p.write_text(p.read_text().replace('OLD', 'NEW', 1))\"`. Do not modify tests. When "
    "the fix is done, answer with the action `submit`: your changes are then graded by "
    "running the failing tests and the tests that already passed."
)

SHELL_DOC = (
    "The swe environment gives the agent a git checkout of a Python project with a bug "
    "described in an issue. The agent acts with one bash command per step in the "
    "repository and reads the exit code and output. A typical fix: read the issue, find the "
    "failing test (grep -rn 'def test_name' .), run it (python -m pytest -q "
    "tests/test_x.py::test_name), find the function under test (grep -rn 'def name' src), "
    "read it (sed -n '40,80p' path), edit the faulty line with a one-line sed or python "
    "command, run the test again, then submit. Grading runs the tests named in "
    "FAIL_TO_PASS and PASS_TO_PASS after the agent's diff; success needs all of them to pass."
)


def _on_off(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("on", "true", "1", "yes"):
        return True
    if str(value).lower() in ("off", "false", "0", "no"):
        return False
    raise ValueError(f"sandbox must be 'on' or 'off', not {value!r}")


class SWEEnv:
    name = ENV_NAME
    # per Ray worker (`--executor ray`): a git workspace and its test runs (Docker harness:
    # the worker's machine needs Docker; add a custom resource to steer workers there)
    worker_resources: ClassVar[dict[str, Any]] = {"num_cpus": 1, "memory": 1.0 * 2**30}

    def __init__(
        self,
        tasks_file: str | Path | None = None,
        *,
        harness: str = "local",
        sandbox: str | bool = "on",
        repo_map: str | Path | None = None,
        command_timeout: float = 60.0,
        test_timeout: float = 300.0,
        output_cap: int = 10_000,
        cache_dir: str | Path | None = None,
        workspace_dir: str | Path | None = None,
        validate: bool = True,
    ) -> None:
        if harness not in ("local", "swebench"):
            raise ValueError(f"harness must be 'local' or 'swebench', not {harness!r}")
        if harness == "swebench":
            check_harness()
        self.sandbox = _on_off(sandbox)
        if self.sandbox:
            check_sandbox()
        else:
            log.warning(
                "swe: sandbox=off: agent commands run unsandboxed as this user and can read "
                "the task file (with the gold patch) and write outside the workspace"
            )
        self.repo_map = load_repo_map(repo_map) if repo_map else None
        self.harness = harness
        self.tasks_file = Path(tasks_file) if tasks_file is not None else None
        self.command_timeout = float(command_timeout)
        self.test_timeout = float(test_timeout)
        self.output_cap = int(output_cap)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.workspace_dir = Path(workspace_dir) if workspace_dir else None
        self.validate = validate
        self._records: dict[str, tuple[SWEInstance, Path]] = {}
        self._loaded: dict[str, list[Task]] = {}
        self.ws: Workspace | None = None
        self.instance: SWEInstance | None = None
        self.done = False
        self.steps = 0

    # -- tasks ----------------------------------------------------------------------------
    def _split_file(self, split: str) -> Path:
        if self.tasks_file is None:
            raise TaskRecordError(
                "the swe environment needs tasks: --env-option tasks_file=PATH (a SWE-bench "
                "JSONL, or the folder `lbi swe build-tasks` wrote)"
            )
        path = self.tasks_file
        if path.is_dir():
            path = path / f"{split}.jsonl"
        elif "{split}" in str(path):
            path = Path(str(path).format(split=split))
        if not path.exists():
            raise TaskRecordError(f"{path}: tasks file not found (split {split!r})")
        return path

    # what a guarded run waits for (envs/run_guard.py): a step is one command or a submit
    # (a clean checkout plus the test run); a demonstration is several of those
    @property
    def step_timeout_s(self) -> float:
        return max(self.command_timeout, self.test_timeout) + 120.0

    @property
    def call_timeout_s(self) -> float:
        return 4 * self.step_timeout_s

    def records(self, split: str) -> list[SWEInstance]:
        path = self._split_file(split)
        recs = load_records(path)
        if any(getattr(r, "split", None) is not None for r in recs):
            recs = [r for r in recs if getattr(r, "split", None) == split]
        if self.validate:
            validate_local(recs, path.parent, self.repo_map)
        for r in recs:
            self._records[r.instance_id] = (r, path.parent)
        return recs

    def tasks(self, split: str) -> list[Task]:
        if split not in self._loaded:
            recs = self.records(split)
            self._loaded[split] = [
                Task(
                    id=r.instance_id,
                    env=ENV_NAME,
                    instruction=r.problem_statement,
                    split=split,
                    metadata={"repo": r.repo, "base_commit": r.base_commit},
                )
                for r in recs
            ]
        return list(self._loaded[split])

    def _instance(self, task: Task) -> tuple[SWEInstance, Path]:
        if task.id not in self._records:
            self.tasks(task.split or "test")
        if task.id not in self._records:
            raise EnvError(f"unknown swe instance {task.id!r}")
        return self._records[task.id]

    # -- episode --------------------------------------------------------------------------
    def reset(self, task: Task) -> str:
        self._close_workspace()
        inst, base_dir = self._instance(task)
        ws = Workspace(
            inst,
            resolve_repo(inst, base_dir, self.repo_map),
            cache_dir=self.cache_dir,
            parent=self.workspace_dir,
            sandbox=self.sandbox,
        )
        try:
            ws.setup()
        except BaseException:
            ws.close()
            raise
        self.ws, self.instance, self.done, self.steps = ws, inst, False, 0
        listing = run_shell(
            "git status --short | head -5; ls", ws.path, env=ws.shell_env(), sandbox=ws.sandbox
        )
        return (
            f"You are in a checkout of {inst.repo} at {ws.base_sha[:12]}.\n"
            f"Top-level files:\n{listing.output.strip()}"
        )

    def step(self, action: str) -> StepResult:
        if self.ws is None or self.instance is None:
            raise EnvError("swe: step() before reset()")
        if self.done:
            return StepResult(observation="The episode is over.", done=True)
        self.steps += 1
        command = action.strip()
        if command == SUBMIT or command.startswith(SUBMIT + " "):
            return self._submit()
        res = run_shell(
            command,
            self.ws.path,
            timeout_s=self.command_timeout,
            output_cap=self.output_cap,
            env=self.ws.shell_env(),
            sandbox=self.ws.sandbox,
        )
        obs = f"exit code {res.exit_code}\n{res.output.rstrip()}"
        info: dict[str, Any] = {
            "exit_code": res.exit_code,
            "timed_out": res.timed_out,
            "cut_bytes": res.cut_bytes,
            "seconds": res.seconds,
        }
        return StepResult(observation=obs, info=info)

    def _submit(self) -> StepResult:
        assert self.ws is not None and self.instance is not None
        inst = self.instance
        submission = take_submission(
            self.ws.base_git, self.ws.path, self.ws.base_sha, test_files=inst.protected_files()
        )
        if self.harness == "swebench":
            result = swebench_grade(inst, submission.diff, workdir=self.ws.root)
        else:
            result = grade(self.ws, submission, timeout_s=self.test_timeout)
        self.done = True
        f2p_ok = sum(result.fail_to_pass.values())
        p2p_ok = sum(result.pass_to_pass.values())
        obs = (
            f"Submitted. FAIL_TO_PASS {f2p_ok}/{len(result.fail_to_pass)} pass, "
            f"PASS_TO_PASS {p2p_ok}/{len(result.pass_to_pass)} pass"
            + (f" ({result.error})" if result.error else "")
            + (". Resolved." if result.success else ". Not resolved.")
        )
        info = {
            "success": result.success,
            "score": result.score,
            "diff": result.diff,
            "excluded": submission.excluded,
            "fail_to_pass": result.fail_to_pass,
            "pass_to_pass_failed": sorted(t for t, ok in result.pass_to_pass.items() if not ok),
            "test_seconds": result.test_seconds,
            "grade_error": result.error,
        }
        return StepResult(
            observation=obs, reward=1.0 if result.success else 0.0, done=True, info=info
        )

    def rescore(self, task: Task, steps: list[dict[str, Any]], files: RunFiles) -> Rescored | None:
        """The episode graded again from its log (`lbi rescore`): the diff its `submit`
        graded, applied to a fresh checkout of the base commit and graded there like a
        prediction (`lbi swe grade`); None when it never submitted. (`files`: unused, the
        diff is in the log.)"""
        diff = submitted_diff(steps)
        if diff is None:
            return None
        pred = Prediction(instance_id=task.id, model_name_or_path="lbi rescore", model_patch=diff)
        graded = grade_prediction(self, task, pred)
        notes = [graded.error or ""]
        if graded.excluded:
            notes.append("excluded: " + ", ".join(graded.excluded))
        if self.harness != "local":
            notes.append(f"graded by the local grader (the run used harness={self.harness})")
        note = "; ".join(n for n in notes if n)
        return Rescored(success=graded.resolved, score=graded.score, note=note)

    def run_notes(self) -> list[str]:
        """What a reader of this run's results must know (manifest and report)."""
        if self.sandbox:
            user = f"unprivileged uid {SANDBOX_UID}" if os.geteuid() == 0 else "this user"
            shell = (
                f"sandbox=on: agent commands and test runs in a bubblewrap sandbox as {user} "
                "(no network; only the checkout, its HOME and a private /tmp writable)"
            )
        else:
            shell = (
                "WARNING sandbox=off: agent commands ran unsandboxed; the agent could read the "
                "task file (gold patch) and write outside its workspace"
            )
        return [shell, f"graded on a clean checkout of the base commit (harness={self.harness})"]

    def action_space_text(self) -> str:
        return ACTION_SPACE

    def valid_actions(self) -> list[str] | None:
        return None  # any shell command

    def documents(self) -> list[Document]:
        docs = [Document(id="swe/shell", env=ENV_NAME, title="swe: how to act", text=SHELL_DOC)]
        if self.tasks_file is None:
            return docs
        folder = self.tasks_file if self.tasks_file.is_dir() else self.tasks_file.parent
        path = folder / "docs.jsonl"
        if path.exists():
            docs += read_documents(path)
        return docs

    # -- expert ---------------------------------------------------------------------------
    def _replay(
        self, task: Task, actions: list[str], explorer: str, max_steps: int
    ) -> Trajectory | None:
        obs = self.reset(task)
        steps: list[Step] = []
        last: StepResult | None = None
        for action in actions[:max_steps]:
            last = self.step(action)
            steps.append(Step(observation=obs, action=action, reward=last.reward, info=last.info))
            obs = last.observation
            if last.done:
                break
        success = bool(last is not None and last.info.get("success"))
        self._close_workspace()
        return Trajectory(
            id=f"{task.id}/{explorer}",
            env=ENV_NAME,
            instruction=task.instruction,
            steps=steps,
            final_observation=obs,
            outcome="success" if success else "failure",
            source={"kind": "expert", "explorer": explorer},
            split=task.split,
            metadata={**task.metadata, "task_id": task.id},
        )

    def demonstrate(self, task: Task, *, max_steps: int = 100) -> Trajectory | None:
        """Replay the gold fix as a developer would: find and run the failing test, find
        and read the function, edit it, rerun the test, submit."""
        inst, _ = self._instance(task)
        traj = self._replay(task, expert_actions(inst), "expert", max_steps)
        return traj if traj is not None and traj.outcome == "success" else None

    def demonstrate_noisy(
        self, task: Task, *, epsilon: float, seed: int, max_steps: int
    ) -> Trajectory | None:
        """The expert with harmless look-around commands inserted with probability ε."""
        inst, _ = self._instance(task)
        rng = random.Random(seed)
        actions: list[str] = []
        for action in expert_actions(inst):
            if rng.random() < epsilon:
                actions.append(rng.choice(noise_actions(inst)))
            actions.append(action)
        return self._replay(task, actions, "noisy_expert", max_steps)

    def _close_workspace(self) -> None:
        if self.ws is not None:
            self.ws.close()
        self.ws = None

    def close(self) -> None:
        self._close_workspace()
