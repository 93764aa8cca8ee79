"""The result files a desktop episode's metrics read, saved in the run directory at the
episode's end, and `lbi rescore` running the same metrics on them offline.

**Saving** (`Keeper`, called by `scoring.evaluate` on the live desktop). Each result getter
that fetches files from the desktop (`vm_file`: the xlsx / docx / pptx a metric such as
`compare_table` opens) has its files copied as they are handed to the metric, into
`RUN/final_state/<task id>/<sha256 of the files, 16 hex>/m<metric>-<n>-<name>` (a folder
named by its content: episodes that ended on the same bytes share it, and nothing is ever
overwritten with different bytes). At most `keep_files_mb` per episode; over it, nothing
is saved and the log says so. The ending step's `info["final_state"]` records per metric the
getter, the value the metric got with each file path replaced by its run-relative path,
and each file's sha256 -- or `not_found` (the getter raised FileNotFoundError: the metric
scored 0), or `not_saved` with why.

**Rescoring** (`rescore_episode`, `DesktopEnv.rescore`). The task file's own evaluator
(`scoring.combine`: infeasible, FAIL, conj, the metric and its options) runs on the saved
files through the run directory (`files`: never outside it; a file whose sha256 is not the
recorded one is refused), with the task's `expected` from getters that need no desktop
(`local_file`: a file of the task folder; `rule`; `cloud_file` only from the file cache).
Not rescored, with the reason: a metric whose result getter reads the live desktop (the
accessibility tree, a command's output, a running application's state: never saved),
an expected getter that does, a run bound to no run directory, logs without `final_state`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from lbi_icl.envs.base import CannotRescore, EnvError, Rescored, RunFiles
from lbi_icl.envs.desktop import actions, scoring
from lbi_icl.envs.desktop.setup_steps import HostPaths
from lbi_icl.envs.desktop.tasks import OSWorldTask

FOLDER = "final_state"
FILE_GETTERS = frozenset({"vm_file"})  # result getters whose output is file paths
OFFLINE_EXPECTED = frozenset({"local_file", "rule", "cloud_file"})


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]", "_", text)


class Keeper:
    """Collects what the result getters handed to the metrics during one evaluation."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.results: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}  # name in the folder -> content

    def __call__(self, i: int, cfg: dict[str, Any], state: Any) -> None:
        gtype = str(cfg.get("type", ""))
        row: dict[str, Any] = {"metric": i, "getter": gtype}
        if state is scoring.NOT_FOUND:
            row["not_found"] = True
        elif gtype not in FILE_GETTERS:
            row["not_saved"] = f"the result getter {gtype!r} reads the live desktop"
        else:
            try:
                row["value"] = self._take(i, state)
            except OSError as e:
                row["not_saved"] = f"its file could not be read: {e}"
        self.results.append(row)

    def _take(self, i: int, state: Any) -> Any:
        if state is None:
            return None
        if isinstance(state, list):
            return [self._file(i, n, p) for n, p in enumerate(state)]
        return self._file(i, 0, state)

    def _file(self, i: int, n: int, path: Any) -> str | None:
        if path is None:
            return None
        name = f"m{i}-{n}-{_slug(Path(str(path)).name)}"
        self.files[name] = Path(str(path)).read_bytes()
        return name

    def save(self, run_dir: Path, task_id: str) -> dict[str, Any]:
        """Write the files into the run directory; the step's `info["final_state"]`."""
        size = sum(len(b) for b in self.files.values())
        if size > self.max_bytes:
            why = f"{size:,} bytes of result files, over keep_files_mb ({self.max_bytes:,} bytes)"
            rows = [{**r, "not_saved": why} if "value" in r else r for r in self.results]
            for r in rows:
                r.pop("value", None)
            return {"results": rows}
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(f"{name}\0{len(self.files[name])}\0".encode() + self.files[name])
        rel = f"{FOLDER}/{_slug(task_id)}/{digest.hexdigest()[:16]}"
        folder = run_dir / rel
        folder.mkdir(parents=True, exist_ok=True)
        sums = {}
        for name, data in self.files.items():
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, folder / name)
            sums[f"{rel}/{name}"] = hashlib.sha256(data).hexdigest()

        def where(v: Any) -> Any:
            if isinstance(v, list):
                return [where(x) for x in v]
            return None if v is None else f"{rel}/{v}"

        rows = [{**r, "value": where(r["value"])} if "value" in r else r for r in self.results]
        return {"dir": rel, "results": rows, "sha256": sums}


def rescore_episode(
    spec: OSWorldTask,
    steps: list[dict[str, Any]],
    files: RunFiles,
    paths: HostPaths,
    action_space: str,
) -> Rescored | None:
    """`DesktopEnv.rescore`: see the module docstring. None when the log has no step."""
    if not steps:
        return None
    ended = [s for s in steps if s.get("done")]
    if not ended:
        note = "the episode never ended (the agent stopped first): it was not scored in the run"
        return Rescored(success=False, score=None, note=note)
    last = ended[0]
    try:
        parsed = actions.parse(str(last.get("action") or ""), action_space)  # type: ignore[arg-type]
        last_action: str | None = parsed.kind
    except actions.ActionError:
        last_action = None
    final = (last.get("info") or {}).get("final_state")
    by_metric = {r.get("metric"): r for r in (final or {}).get("results") or []}
    sums = (final or {}).get("sha256") or {}
    needs_files = spec.evaluator.func != "infeasible" and last_action != "FAIL"
    if needs_files and not isinstance(final, dict):
        raise CannotRescore(
            "its log has no saved result files (info.final_state): the run predates them, or "
            "the env was not bound to a run directory"
        )

    with tempfile.TemporaryDirectory(prefix="lbi-desktop-rescore-") as cache:
        cached = paths.file_cache / spec.id if paths.file_cache else None
        if cached is not None and cached.is_dir():
            shutil.copytree(cached, cache, dirs_exist_ok=True)
        genv = scoring.GetterEnv(controller=_NoDesktop(), cache_dir=cache, paths=paths)  # type: ignore[arg-type]

        def result_of(i: int, cfg: dict[str, Any]) -> Any:
            row = by_metric.get(i)
            if row is None:
                raise CannotRescore(f"metric {i}'s result was not fetched in the run")
            if row.get("getter") != cfg.get("type"):
                raise CannotRescore(f"metric {i}'s saved result is not from the task's getter")
            if row.get("not_found"):
                raise FileNotFoundError(f"metric {i}: the result file was not found in the run")
            if "not_saved" in row:
                raise CannotRescore(f"metric {i}: {row['not_saved']}, which was not saved")
            return _local(row.get("value"), files, sums, Path(cache))

        def expected_of(i: int, cfg: dict[str, Any]) -> Any:
            gtype = str(cfg.get("type", ""))
            if gtype not in OFFLINE_EXPECTED:
                raise CannotRescore(f"metric {i}'s expected getter {gtype!r} reads the desktop")
            if gtype == "cloud_file":
                dests = cfg.get("dest") if cfg.get("multi") else [cfg.get("dest")]
                if not all((Path(cache) / str(d)).is_file() for d in dests or []):
                    raise CannotRescore(f"metric {i}'s expected file is a download not cached")
            return scoring.getter_of(cfg)(genv, cfg)

        try:
            score = scoring.combine(spec, last_action, result_of, expected_of)
        except (CannotRescore, EnvError):
            raise
        except Exception as e:  # as the live evaluation reports it
            raise EnvError(f"evaluation failed: {type(e).__name__}: {e}") from e
    return Rescored(success=score >= 1.0, score=score)


def _local(value: Any, files: RunFiles, sums: dict[str, str], cache: Path) -> Any:
    """A recorded value with each run-relative path replaced by a copy (in `cache`, so no
    metric can change the run directory) of that file of this run, checked by sha256."""
    if isinstance(value, list):
        return [_local(v, files, sums, cache) for v in value]
    if value is None:
        return None
    rel = str(value)
    if not rel.startswith(f"{FOLDER}/"):
        raise CannotRescore(f"{rel!r} is not a saved result file ({FOLDER}/...)")
    try:
        path = files(rel)
    except ValueError as e:
        raise CannotRescore(str(e)) from e
    if not path.is_file():
        raise CannotRescore(f"the saved result file {rel} is missing")
    if hashlib.sha256(path.read_bytes()).hexdigest() != sums.get(rel):
        raise CannotRescore(f"the saved result file {rel} changed since the run (sha256)")
    copy = cache / "rescore" / rel
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, copy)
    return str(copy)


class _NoDesktop:
    """The getters' `controller` when rescoring: any use means a getter needs the desktop."""

    def __getattr__(self, name: str) -> Any:
        raise CannotRescore(f"an expected getter asked the live desktop ({name})")
