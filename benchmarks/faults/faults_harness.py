"""The fault suites' harness: Result, Case, Workspace, `lbi` in a child process, shared checks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# the checkout whose `lbi` is tested (default: this one); LBI_FAULTS_CODE=/work/main runs the
# same cases against another checkout, e.g. to show they fail on the old code
CODE = Path(os.environ.get("LBI_FAULTS_CODE", ROOT))
if "LBI_FAULTS_CODE" in os.environ:  # child processes and in-process cases use that code
    os.environ["PYTHONPATH"] = str(CODE)
    sys.path.insert(0, str(CODE))
FIXTURES = ROOT / "tests" / "fixtures" / "retrieval"
LEVEL = '["BabyAI-GoToLocal-v0"]'


@dataclass
class Result:
    observed: str
    ok: bool


@dataclass
class Case:
    item: int
    name: str
    expected: str
    run: Callable[[Workspace], Result]
    issue: int = 10  # 10: round 1 (faults.py); 22: round 2 (faults2.py)


class Workspace:
    """A fresh folder per case, plus a clean index built once per suite."""

    def __init__(self, root: Path):
        self.root = root
        self.dir = root
        self._n = 0

    def fresh(self) -> Path:
        self._n += 1
        self.dir = self.root / f"case{self._n}"
        self.dir.mkdir(parents=True)
        return self.dir

    def clean_index(self) -> Path:
        src = self.root / "clean-index"
        if not (src / "manifest.json").exists():
            rc, _, err = lbi(
                "index",
                "build",
                "--trajectories",
                str(FIXTURES / "trajectories.jsonl"),
                "--docs",
                str(FIXTURES / "docs.jsonl"),
                "--out",
                str(src),
                "--embedder",
                "hash:64",
            )
            assert rc == 0, err
        dst = self.dir / "index"
        shutil.copytree(src, dst)  # copy2: mtimes kept, so the verify stamp still holds
        return dst


def lbi(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 240, cwd: Path | None = None
) -> tuple[int, str, str]:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(CODE), **(env or {})}
    p = subprocess.run(
        [sys.executable, "-m", "lbi_icl.cli", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd or CODE,
    )
    return p.returncode, p.stdout, p.stderr


def one_line_error(rc: int, err: str, *names: str) -> Result:
    """Exit 1, no traceback, and the message names every one of `names`."""
    first = next((ln for ln in err.splitlines() if ln.startswith("error")), err.strip()[:200])
    ok = rc == 1 and "Traceback" not in err and all(n in err for n in names)
    return Result(f"exit {rc}: {first[:160]}", ok)


def run_args(out: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--env",
        "babyai",
        "--split",
        "test",
        "--tasks",
        "2",
        "--max-steps",
        "3",
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


HOLDER = (
    "import sys, time\nfrom lbi_icl.util.locks import hold\n"
    "with hold(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n"
)


def start_holder(target: Path) -> subprocess.Popen[str]:
    """A child process that holds `target`'s lock until it is killed."""
    p = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(target)], stdout=subprocess.PIPE, text=True, cwd=CODE
    )
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


def run_case(case: Case, root: Path) -> Result:
    ws = Workspace(root)
    try:
        return case.run(ws)
    except Exception as e:  # a case that crashes is a failed case, with its reason
        return Result(f"case crashed: {type(e).__name__}: {str(e)[:200]}", False)
