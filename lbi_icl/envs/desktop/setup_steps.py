"""A task's `config` (and `evaluator.postconfig`) steps, run against a desktop server, and
the check of what a task needs that this machine lacks (before the first episode).

Supported step types (OSWorld's `SetupController._<type>_setup` names): `launch`, `open`,
`execute` / `command`, `sleep`, `activate_window`, `close_window`, `upload_file`,
`download` (from the local file cache only: `file_cache=DIR`, OSWorld's cache naming
`DIR/<task id>/<uuid5(url)>_<file name>`), and Spider2-V's `copyfile_from_host_to_guest`.
Nothing is downloaded.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbi_icl.envs.desktop.client import DesktopClient, ServerError
from lbi_icl.envs.desktop.tasks import ConfigStep, OSWorldTask

log = logging.getLogger(__name__)

SUPPORTED = {
    "launch", "open", "execute", "command", "sleep", "activate_window", "close_window",
    "upload_file", "download", "copyfile_from_host_to_guest",
}  # fmt: skip
# what a step type, app or command word needs that no local desktop here has
NEEDS = {
    "chrome": "Google Chrome",
    "google-chrome": "Google Chrome",
    "chromium": "Google Chrome",
    "googledrive": "a Google account",
    "login": "a website account",
    "proxy": "a network proxy",
    "bigquery": "a Google Cloud account",
    "gcp": "a Google Cloud account",
    "snowflake": "a Snowflake account",
    "dbt_cloud": "a dbt Cloud account",
    "servicenow": "a ServiceNow instance",
    "docker": "Docker",
    "astro": "Docker (Airflow via Astro)",
    "airflow": "Docker (Airflow via Astro)",
    "superset": "Docker (Superset)",
    "airbyte": "Docker (Airbyte)",
    "metabase": "the Metabase jar (no package registry ships it)",
    "code": "VS Code",
    "vscode": "VS Code",
    "vs_code": "VS Code",
    "gimp": "GIMP",
    "vlc": "VLC",
    "thunderbird": "Thunderbird",
    "sudo": "sudo (root in the desktop)",
    "gnome-terminal": "a GNOME desktop",
    "gsettings": "a GNOME desktop",
    "os": "a GNOME desktop (OSWorld's os domain)",
}
APPS_OK = {"libreoffice_calc", "libreoffice_writer", "libreoffice_impress", "excel", "calc"}


@dataclass
class HostPaths:
    """Where relative host paths and cached downloads are found."""

    tasks_dir: Path
    file_cache: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def host_file(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.tasks_dir / p

    def cached_download(self, task_id: str, url: str, path: str) -> Path | None:
        if self.file_cache is None:
            return None
        name = f"{uuid.uuid5(uuid.NAMESPACE_URL, url)}_{Path(path).name}"
        p = self.file_cache / task_id / name
        return p if p.is_file() else None


def _words(command: Any) -> list[str]:
    text = " ".join(command) if isinstance(command, list) else str(command or "")
    return re.findall(r"[A-Za-z0-9_.-]+", text)


def _runnable(program: str) -> bool:
    return program in ("python", "python3") or shutil.which(program) is not None


def unmet(task: OSWorldTask, paths: HostPaths) -> list[str]:
    """Why `task` cannot run on the local desktop: one reason per missing piece."""
    from lbi_icl.envs.desktop import evaluators

    reasons: list[str] = []

    def need(key: str) -> None:
        what = NEEDS.get(key)
        if what and f"needs {what}" not in reasons:
            reasons.append(f"needs {what}")

    for app in task.related_apps:
        if app not in APPS_OK:
            need(app)
            if app not in NEEDS and f"needs the application {app!r}" not in reasons:
                reasons.append(f"needs the application {app!r}")
    steps = [*task.config, *task.evaluator.postconfig]
    for step in steps:
        stype = step.type
        if stype not in SUPPORTED:
            key = next((k for k in NEEDS if k in stype.lower()), None)
            if key:
                need(key)
            else:
                reasons.append(f"setup step {stype!r} is not supported here")
            continue
        params = step.parameters
        if stype in ("launch", "execute", "command"):
            words = _words(params.get("command"))
            for w in words[:1] + [w for w in words if w in NEEDS and w not in ("code", "os")]:
                if w in NEEDS:
                    need(w)
                elif w == words[0] and "/" not in w and not _runnable(w):
                    reasons.append(f"needs the program {w!r}")
        elif stype == "download":
            for f in params.get("files", []):
                if paths.cached_download(task.id, f.get("url", ""), f.get("path", "")) is None:
                    reasons.append(f"downloads {f.get('url')} (not in the file cache)")
        elif stype in ("upload_file", "copyfile_from_host_to_guest"):
            files = params.get("files") or [params]
            for f in files:
                src = f.get("local_path") or f.get("src")
                if not src or not paths.host_file(src).is_file():
                    reasons.append(f"needs the host file {src!r}")
    for name in task.evaluator.metric_names():
        if name == "infeasible":
            continue
        try:
            evaluators.module_of("metric", name)
        except evaluators.EvaluatorError as e:
            reasons.append(str(e))
    for cfg in task.evaluator.getter_configs():
        gtype = str(cfg.get("type", ""))
        if gtype in LOCAL_GETTERS:
            if gtype == "local_file" and not paths.host_file(str(cfg.get("path"))).is_file():
                reasons.append(f"needs the host file {cfg.get('path')!r}")
            continue
        key = next((k for k in NEEDS if k in gtype), None)
        if key in ("chrome", "vlc", "vscode", "gimp", "thunderbird", "googledrive"):
            need(key)
            continue
        if gtype == "cloud_file":
            dests = cfg["dest"] if isinstance(cfg.get("dest"), list) else [cfg.get("dest")]
            for d in dests:
                if paths.file_cache is None or not (paths.file_cache / task.id / str(d)).is_file():
                    reasons.append(f"its evaluator downloads {d!r} (not in the file cache)")
            continue
        try:
            evaluators.module_of("getter", gtype)
        except evaluators.EvaluatorError as e:
            reasons.append(str(e))
    return reasons


LOCAL_GETTERS = {"local_file"}


def run_steps(
    steps: list[ConfigStep], client: DesktopClient, paths: HostPaths, task_id: str
) -> None:
    """Run setup steps in order; a failing step raises (the episode cannot start)."""
    for i, step in enumerate(steps):
        p = step.parameters
        try:
            _run_one(step.type, p, client, paths, task_id)
        except (ServerError, OSError, KeyError) as e:
            raise RuntimeError(f"setup step {i + 1} ({step.type}) failed: {e}") from e


def _run_one(
    stype: str, p: dict[str, Any], client: DesktopClient, paths: HostPaths, task_id: str
) -> None:
    if stype == "sleep":
        time.sleep(float(p.get("seconds", 1)))
    elif stype == "launch":
        client.launch(p["command"], shell=bool(p.get("shell", False)))
    elif stype == "open":
        client.open_file(p["path"])
    elif stype in ("execute", "command"):
        res = client.execute(p["command"], shell=bool(p.get("shell", False)))
        if res.get("returncode") not in (0, None):
            log.info("setup command %s exited %s: %s", p["command"], res.get("returncode"),
                     str(res.get("error"))[:200])  # fmt: skip
    elif stype in ("activate_window", "close_window"):
        try:
            client.window(
                stype.split("_")[0],
                p["window_name"],
                strict=bool(p.get("strict", False)),
                by_class=bool(p.get("by_class", False)),
            )
        except ServerError as e:  # OSWorld logs these and goes on
            log.info("%s %r: %s", stype, p.get("window_name"), e)
    elif stype in ("upload_file", "copyfile_from_host_to_guest"):
        for f in p.get("files") or [p]:
            src = f.get("local_path") or f.get("src")
            dest = f.get("path") or f.get("dest")
            client.upload(dest, paths.host_file(src).read_bytes())
    elif stype == "download":
        for f in p["files"]:
            src = paths.cached_download(task_id, f["url"], f["path"])
            if src is None:
                raise FileNotFoundError(f"{f['url']} is not in the file cache")
            client.upload(f["path"], src.read_bytes())
    else:
        raise KeyError(f"unsupported setup step {stype!r}")
