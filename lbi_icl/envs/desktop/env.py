"""`DesktopEnv`: the `Env` protocol over OSWorld-format tasks on a desktop server.

Each `reset` starts a fresh local desktop (new namespaces, HOME from the template; the old
session is stopped, so the next episode starts clean even after a hung application) or,
with `server=URL` (or `OSWORLD_SERVER`), talks to a real OSWorld VM, then runs the task's
`config` steps. An observation is the accessibility tree as OSWorld's baseline agents read
it (`a11y_text`), cut to `max_tree_chars`. Actions are pyautogui code / WAIT / FAIL / DONE
(`actions.py`); DONE, FAIL or the step limit ends the episode, which is then scored with
OSWorld's own metrics (`scoring.py`). Every server call has a time limit: a hung
application becomes an `EnvError` naming the task and step.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from lbi_icl.data import Document, Step, Task, Trajectory
from lbi_icl.envs.base import EnvError, Rescored, RunFiles, StepResult
from lbi_icl.envs.desktop import actions, final_files, scoring
from lbi_icl.envs.desktop.a11y_text import linearize, nodes
from lbi_icl.envs.desktop.client import DesktopClient, ServerError
from lbi_icl.envs.desktop.docs import action_space_text, app_documents
from lbi_icl.envs.desktop.setup_steps import HostPaths, run_steps, unmet
from lbi_icl.envs.desktop.tasks import OSWorldTask, TaskFileError, list_tasks

log = logging.getLogger(__name__)


class DesktopEnv:
    """OSWorld-format tasks from `tasks_dir` on the local desktop or a VM (`server=`)."""

    name = "desktop"
    worker_resources: ClassVar[dict[str, Any]] = {"num_cpus": 1, "memory": 2.0 * 2**30}
    default_step_limit = 15

    def __init__(
        self,
        *,
        tasks_dir: str | None = None,
        server: str | None = None,
        token: str | None = None,
        file_cache: str | None = None,
        action_space: str = "pyautogui",
        max_tree_chars: int = 8000,
        screenshot_dir: str | None = None,
        step_limit: int | None = None,
        pause_s: float = 1.0,
        settle_s: float = 1.0,
        step_timeout_s: float = 90.0,
        tree_timeout_s: float = 60.0,
        ready_timeout_s: float = 30.0,
        instructions: str = "plain",
        domains: list[str] | None = None,
        keep_files_mb: float = 50.0,
    ):
        if action_space not in ("pyautogui", "computer_13"):
            raise ValueError(f"action_space must be pyautogui or computer_13, not {action_space!r}")
        self.tasks_dir = Path(tasks_dir) if tasks_dir else self.default_tasks_dir()
        self.server = server or os.environ.get("OSWORLD_SERVER") or None
        self.token = token
        self.paths = HostPaths(self.tasks_dir, Path(file_cache) if file_cache else None)
        self.action_space = action_space
        self.max_tree_chars = max_tree_chars
        self.screenshot_dir = Path(screenshot_dir) if screenshot_dir else None
        self.step_limit = step_limit if step_limit is not None else self.default_step_limit
        self.pause_s, self.settle_s = pause_s, settle_s
        self.step_timeout_s, self.tree_timeout_s = step_timeout_s, tree_timeout_s
        self.ready_timeout_s = ready_timeout_s
        self.instructions = instructions
        self.domains = set(domains) if domains else None
        # the result files the metrics read, saved at the episode's end into the run
        # directory for `lbi rescore` (final_files.py); bound by the runner (`bind_run`)
        self.keep_files_mb = keep_files_mb
        self.run_dir: Path | None = None
        self._final_state: dict[str, Any] | None = None
        self._defs: dict[str, OSWorldTask] = {}
        self.refused: dict[str, list[str]] = {}  # task id -> reasons (local desktop only)
        self._session: Any = None
        self.client: DesktopClient | None = None
        self.current_task: Task | None = None
        self.step_count = 0
        self.done = False
        self.observation = ""
        self._tree_xml = ""
        self._file_hashes: dict[str, str] = {}
        self.last_stats: dict[str, Any] = {}

    # -- tasks ----------------------------------------------------------------------------

    def default_tasks_dir(self) -> Path:
        raise ValueError(f"{self.name}: pass --env-option tasks_dir=PATH")

    def instruction_of(self, task: OSWorldTask, path: Path) -> str:
        return task.instruction

    def tasks(self, split: str) -> list[Task]:
        try:
            found = list_tasks(self.tasks_dir, split)
        except TaskFileError as e:
            raise EnvError(f"{self.name}: {e}") from e
        out, refused = [], {}
        for domain, path, t in found:
            if self.domains and domain not in self.domains:
                continue
            tid = f"{domain}/{t.id}"
            self._defs[tid] = t
            reasons = [] if self.server else unmet(t, self.paths)
            if reasons:
                refused[tid] = reasons
                continue
            meta = {
                "domain": domain,
                "path": str(path),
                "tasks_dir": str(self.tasks_dir),
                "infeasible": t.infeasible,
            }
            for key in ("family", "related_apps"):
                if getattr(t, key, None):
                    meta[key] = getattr(t, key)
            out.append(
                Task(
                    id=tid,
                    env=self.name,
                    instruction=self.instruction_of(t, path),
                    split=split,
                    metadata=meta,
                )
            )
        self.refused.update(refused)
        if refused:
            by_reason: dict[str, list[str]] = {}
            for tid, reasons in refused.items():
                for r in reasons:
                    by_reason.setdefault(r, []).append(tid)
            for r, ids in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
                log.warning("%s: refused %d task(s): %s (e.g. %s)", self.name, len(ids), r, ids[0])
        return out

    def _def(self, task: Task) -> OSWorldTask:
        for split in dict.fromkeys([task.split or "test", "test", "train"]):
            if task.id in self._defs:
                break
            self.tasks(split)
        if task.id in self.refused:
            raise EnvError(
                f"{self.name}: task {task.id!r} refused: {'; '.join(self.refused[task.id])}"
            )
        if task.id not in self._defs:
            raise EnvError(f"{self.name}: no task {task.id!r} in {self.tasks_dir}")
        return self._defs[task.id]

    def bind_run(self, config: Any) -> None:
        """Called by the runner: result files are saved under the run folder."""
        out = getattr(config, "out", None)
        if out:
            self.run_dir = Path(out)

    def rescore(self, task: Task, steps: list[dict[str, Any]], files: RunFiles) -> Rescored | None:
        """`lbi rescore`: the task's own metrics on the result files the episode saved in the
        run directory, with its offline `expected`; live-desktop metrics are not (final_files)."""
        return final_files.rescore_episode(
            self._def(task), steps, files, self.paths, self.action_space
        )

    def check_ready(self) -> None:
        if self.server:
            client = DesktopClient(self.server, self.token)
            if not client.ping(timeout_s=10):
                raise EnvError(f"{self.name}: desktop server {self.server} does not answer")
            return
        from lbi_icl.envs.desktop import deps

        problems = deps.missing()
        if problems:
            raise EnvError(f"{self.name}: the local desktop cannot start: " + "; ".join(problems))

    def run_notes(self) -> list[str]:
        where = f"a desktop server at {self.server}" if self.server else (
            "the local desktop (Debian's LibreOffice under Xvfb, not OSWorld's Ubuntu VM image)"
        )  # fmt: skip
        notes = [f"tasks from {self.tasks_dir} on {where}"]
        if self.refused:
            notes.append(f"{len(self.refused)} task(s) refused as unrunnable here")
        return notes

    # -- episodes -------------------------------------------------------------------------

    def _where(self, action: str | None = None) -> str:
        task = f"task {self.current_task.id!r}" if self.current_task else "no task"
        act = f" ({action[:80]!r})" if action is not None else ""
        return f"{self.name}: {task}, step {self.step_count}{act}"

    def _stop_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.stop()

    def _connect(self) -> DesktopClient:
        if self.server:
            return DesktopClient(self.server, self.token, timeout_s=self.step_timeout_s)
        from lbi_icl.envs.desktop.session import LocalDesktop

        self._stop_session()
        self._session = LocalDesktop()
        self._session.start()
        return DesktopClient(self._session.url, self._session.token, timeout_s=self.step_timeout_s)

    def reset(self, task: Task) -> str:
        spec = self._def(task)
        self.current_task, self.step_count, self.done = task, 0, False
        self._spec = spec
        self._final_state = None
        t0 = time.perf_counter()
        try:
            self.client = self._connect()
            run_steps(spec.config, self.client, self.paths, spec.id)
            time.sleep(self.settle_s)
            self._file_hashes = self._hash_files()
            self.observation = self._observe()
            opens = any(step.type == "open" for step in spec.config)
            deadline = time.monotonic() + self.ready_timeout_s
            while opens and not _has_document(self._tree_xml) and time.monotonic() < deadline:
                time.sleep(1.0)  # a loaded machine: the document's tree is not there yet
                self.observation = self._observe()
        except EnvError:
            raise
        except Exception as e:
            tail = self._session.log_tail(8) if self._session else ""
            self._stop_session()
            raise EnvError(f"{self._where()}: reset failed: {e}\n{tail}".strip()) from e
        self.last_stats = {"reset_s": round(time.perf_counter() - t0, 3)}
        return self.observation

    def _observe(self, error: str | None = None) -> str:
        assert self.client is not None
        t0 = time.perf_counter()
        self._tree_xml = self.client.accessibility_tree(timeout_s=self.tree_timeout_s)
        tree_s = time.perf_counter() - t0
        lin = linearize(self._tree_xml, self.max_tree_chars)
        self.last_stats.update(
            tree_s=round(tree_s, 3), tree_chars=lin.full_chars, shown_chars=len(lin.text)
        )
        head = f"Accessibility tree ({lin.shown} of {lin.total} elements shown):"
        parts = [f"Last action error: {error}"] if error else []
        return "\n".join([*parts, head, lin.text])

    def _hash_files(self) -> dict[str, str]:
        """sha256 of the files the evaluator reads from the desktop (the file-difference
        signal of the offline relabeler)."""
        assert self.client is not None
        out = {}
        for cfg in self._spec.evaluator.getter_configs():
            if cfg.get("type") == "vm_file" and isinstance(cfg.get("path"), str):
                data = self.client.read_file(cfg["path"])
                out[cfg["path"]] = hashlib.sha256(data).hexdigest() if data is not None else ""
        return out

    def _screenshot(self) -> str | None:
        if self.screenshot_dir is None or self.client is None or self.current_task is None:
            return None
        folder = self.screenshot_dir / re.sub(r"[^\w.-]", "_", self.current_task.id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"step-{self.step_count:03d}.png"
        data = self.client.screenshot()
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        return str(path)

    def step(self, action: str) -> StepResult:
        if self.current_task is None or self.client is None:
            raise EnvError(f"{self._where(action)}: step before reset")
        if self.done:
            raise EnvError(f"{self._where(action)}: step after the episode ended")
        self.step_count += 1
        before = self._tree_xml
        error, effect = None, {"verb": "code", "ok": True}
        t0 = time.perf_counter()
        try:
            parsed = actions.parse(action, self.action_space)  # type: ignore[arg-type]
        except actions.ActionError as e:
            parsed, error = None, str(e)
            effect = {"verb": "invalid", "ok": False}
        try:
            if parsed is not None and parsed.kind == "code":
                res = self.client.run_pyautogui(parsed.code, timeout_s=self.step_timeout_s)
                if res.get("returncode") not in (0, None):
                    lines = str(res.get("error") or "").strip().splitlines()
                    error = lines[-1] if lines else f"exit code {res.get('returncode')}"
                    effect = {"verb": "code", "ok": False}
                time.sleep(self.pause_s)
            elif parsed is not None and parsed.kind == "WAIT":
                effect = {"verb": "WAIT", "ok": True}
                time.sleep(max(self.pause_s, 2.0))
            elif parsed is not None:
                effect = {"verb": parsed.kind, "ok": True}
            ended = parsed is not None and parsed.kind in ("DONE", "FAIL")
            truncated = not ended and self.step_count >= self.step_limit
            score, eval_s = None, None
            if ended or truncated:
                t_eval = time.perf_counter()
                score = self._score(parsed.kind if parsed is not None else None)
                eval_s = round(time.perf_counter() - t_eval, 3)
            self.observation = self._observe(error)
            files = self._hash_files()
            effect["saved"] = sorted(p for p, h in files.items() if self._file_hashes.get(p) != h)
            self._file_hashes = files
        except ServerError as e:
            self.done = True
            raise EnvError(f"{self._where(action)}: the desktop did not answer: {e}") from e
        effect["changes"] = tree_changes(before, self._tree_xml)
        if error:
            effect["error"] = error
        self.done = bool(ended or truncated)
        info: dict[str, Any] = {
            "t": self.step_count,
            "task_id": self.current_task.id,
            "effect": effect,
            "truncated": truncated,
            "step_s": round(time.perf_counter() - t0, 3),
            **{k: v for k, v in self.last_stats.items() if k != "reset_s"},
        }
        if score is not None:
            info["score"], info["success"], info["eval_s"] = score, score >= 1.0, eval_s
            if self._final_state is not None:  # the result files saved for `lbi rescore`
                info["final_state"], self._final_state = self._final_state, None
        shot = self._screenshot()
        if shot:
            info["screenshot"] = shot
        return StepResult(
            observation=self.observation, reward=score or 0.0, done=self.done, info=info
        )

    def _score(self, last_action: str | None) -> float:
        assert self.client is not None
        with tempfile.TemporaryDirectory(prefix="lbi-desktop-eval-") as cache:
            cached = self.paths.file_cache / self._spec.id if self.paths.file_cache else None
            if cached is not None and cached.is_dir():  # OSWorld's cache/<task id>/ layout:
                shutil.copytree(cached, cache, dirs_exist_ok=True)  # cloud_file reads it
            genv = scoring.GetterEnv(controller=self.client, cache_dir=cache, paths=self.paths)
            keep = final_files.Keeper(int(self.keep_files_mb * 2**20)) if self.run_dir else None
            try:
                score = scoring.evaluate(self._spec, self.client, genv, last_action, keep)
                if keep is not None and self.run_dir is not None and self.current_task:
                    self._final_state = keep.save(self.run_dir, self.current_task.id)
                return score
            except ServerError:
                raise
            except Exception as e:
                raise EnvError(
                    f"{self._where()}: evaluation failed: {type(e).__name__}: {e}"
                ) from e

    # -- the rest of the protocol ---------------------------------------------------------

    def valid_actions(self) -> list[str] | None:
        if self.current_task is None or self.done:
            return None
        from lbi_icl.envs.desktop.candidates import candidate_actions

        return candidate_actions(nodes(self._tree_xml), self.current_task.instruction)

    def action_space_text(self) -> str:
        return action_space_text(self.action_space)

    def documents(self) -> list[Document]:
        return app_documents(self.name)

    def demonstrate(self, task: Task, *, max_steps: int = 100) -> Trajectory | None:
        spec = self._def(task)
        if not spec.expert:
            return None
        obs = self.reset(task)
        steps: list[Step] = []
        last: StepResult | None = None
        for action in [*spec.expert, "DONE"][:max_steps]:
            last = self.step(action)
            steps.append(Step(observation=obs, action=action, info=last.info))
            obs = last.observation
            if last.done:
                break
        success = bool(last is not None and last.info.get("success"))
        return Trajectory(
            id=f"{task.id}/expert",
            env=self.name,
            instruction=task.instruction,
            steps=steps,
            final_observation=obs,
            outcome="success" if success else "failure",
            source={"kind": "expert", "task_id": task.id},
            split=task.split,
            metadata={"task_id": task.id, "score": last.info.get("score") if last else None},
        )

    def close(self) -> None:
        self._stop_session()
        self.client = None
        self.current_task = None

    def __enter__(self) -> DesktopEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _has_document(xml: str) -> bool:
    """A document (spreadsheet, text, presentation) is shown in the tree."""
    return any(n.tag.startswith("document") for n in nodes(xml))


def tree_changes(before: str, after: str, limit: int = 12) -> list[str]:
    """What changed between two trees: texts of cells / fields / paragraphs, new and gone
    windows and dialogs (the accessibility-difference signal of the offline relabeler)."""
    if not before or not after:
        return []
    a = {(n.tag, n.name): n.text for n in nodes(before)}
    b = {(n.tag, n.name): n.text for n in nodes(after)}
    out = []
    for key, text in b.items():
        if key in a and a[key] != text and key[0] in ("table-cell", "paragraph", "text", "entry"):
            out.append(f"{key[0]} {key[1]!r}: {a[key]!r} -> {text!r}")
    new = [k for k in b if k not in a and k[0] in ("dialog", "frame", "alert", "push-button")]
    out += [f"new {k[0]} {k[1]!r}" for k in new[:3]]
    return out[:limit]
