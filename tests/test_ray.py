"""The Ray executor on real Ray (no mocks): a local cluster started here with `ray start
--head` on 127.0.0.1, and a `ray.init()` local instance. Same episodes and success numbers as
the local executor on a seeded retrieval-policy BabyAI ablation; a worker killed mid-run is
retried and its episode recorded once; interrupt then resume; synthesis writes the same
bytes. Every Ray process is stopped by the fixtures, and checked gone."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Ray instances of these tests bind and talk on 127.0.0.1 only (read when ray is imported).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray", reason="needs the [ray] extra: pip install -e '.[ray]'")
pytest.importorskip("minigrid", reason="the Ray tests run BabyAI (the [babyai] extra)")

from lbi_icl.cli import main as cli_main  # noqa: E402
from lbi_icl.runner import RunConfig, run_experiment  # noqa: E402
from lbi_icl.runner.results import latest_records  # noqa: E402
from lbi_icl.runner.workers import RealWorkerFactory  # noqa: E402

pytestmark = [pytest.mark.babyai, pytest.mark.slow]

RAY_DAEMONS = ("raylet", "gcs_server")
ENV = {"RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


LEVELS = '["BabyAI-GoToRedBallGrey-v0", "BabyAI-PickupLoc-v0", "BabyAI-OpenRedDoor-v0"]'

# Test classes travel to Ray workers by value (tests/ is not importable there).
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _ray_bin() -> str:
    return str(Path(sys.executable).with_name("ray"))


def _daemons() -> list[str]:
    out = []
    for name in RAY_DAEMONS:
        p = subprocess.run(["pgrep", "-a", name], capture_output=True, text=True)
        out += p.stdout.splitlines()
    return out


def _wait_gone(timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    left = _daemons()
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _daemons()
    return left


@pytest.fixture(scope="module", autouse=True)
def _no_ray_left() -> Iterator[None]:
    if _daemons():
        pytest.skip("another Ray instance runs on this machine; these tests stop every one")
    os.environ.update(ENV)
    yield
    subprocess.run([_ray_bin(), "stop", "--force"], capture_output=True, timeout=120)
    assert _wait_gone() == [], "Ray processes left behind"


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A one-node Ray cluster on 127.0.0.1 (2 CPUs); its address. Stopped even on failure."""
    tmp = tempfile.mkdtemp(prefix="lbi-ray-")  # short: Ray's socket paths have a length cap
    port = _free_port()
    cmd = [
        _ray_bin(),
        "start",
        "--head",
        "--port",
        str(port),
        "--node-ip-address",
        "127.0.0.1",
        "--num-cpus",
        "2",
        "--include-dashboard",
        "false",
        "--disable-usage-stats",
        "--temp-dir",
        tmp,
    ]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=os.environ)
        assert p.returncode == 0, p.stderr[-2000:]
        assert "Local node IP: 127.0.0.1" in p.stdout + p.stderr, p.stderr[-2000:]
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([_ray_bin(), "stop", "--force"], capture_output=True, timeout=120)
        assert _wait_gone() == [], "Ray processes left behind"
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hash-embedder index over synthesized BabyAI data (offline, seeded)."""
    root = tmp_path_factory.mktemp("ray-data")
    data, idx = root / "d.jsonl", root / "idx"
    assert cli_main(["synthesize", "--env", "babyai", "--tasks", "8", "--out", str(data),
                     "--no-progress"]) == 0  # fmt: skip
    assert cli_main(["index", "build", "--trajectories", str(data), "--out", str(idx),
                     "--embedder", "hash:64"]) == 0  # fmt: skip
    return idx


def _config(index: Path, out: Path, **kw: Any) -> RunConfig:
    return RunConfig(
        env="babyai",
        tasks=4,
        strategies=["none", "instruction"],
        index=index,
        out=out,
        workers=2,
        max_steps=20,
        **kw,
    )


def _outcomes(run_dir: Path) -> dict[str, tuple[bool, int, str]]:
    lines = (run_dir / "episodes.jsonl").read_text().splitlines()
    keys = [json.loads(ln)["key"] for ln in lines]
    assert len(keys) == len(set(keys)), "an episode was recorded twice"
    return {k: (r.success, r.steps, r.stop_reason) for k, r in latest_records(run_dir).items()}


def _actions(path: Path) -> list[tuple[int, Any]]:
    return [(d["step"], d.get("action")) for d in map(json.loads, path.read_text().splitlines())]


@pytest.fixture(scope="module")
def local_run(index: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("local") / "run"
    summary = run_experiment(_config(index, out), show_progress=False)
    assert summary.episodes == 8 and summary.errors == 0
    outcomes = _outcomes(out)
    assert 0 < sum(s for s, _, _ in outcomes.values()) < 8  # a table with something to compare
    return {"out": out, "outcomes": outcomes, "by_strategy": summary.by_strategy}


def test_ablate_on_a_ray_cluster_matches_local(
    cluster: str, index: Path, local_run: dict[str, Any], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "ray"
    argv = ["ablate", "--env", "babyai", "--tasks", "4", "--strategies", "none,instruction",
            "--index", str(index), "--workers", "2", "--max-steps", "20", "--out", str(out),
            "--no-progress", "--executor", "ray", "--ray-address", cluster]  # fmt: skip
    assert cli_main(argv) == 0
    table = capsys.readouterr().out
    assert _outcomes(out) == local_run["outcomes"]
    # the driver wrote every step log: same files, same steps and actions as local
    local_steps = sorted(p.name for p in (local_run["out"] / "steps").iterdir())
    assert sorted(p.name for p in (out / "steps").iterdir()) == local_steps
    for name in local_steps:
        assert _actions(out / "steps" / name) == _actions(local_run["out"] / "steps" / name)
    for strategy, d in local_run["by_strategy"].items():
        pct = f"{100 * d['successes'] / d['episodes']:.1f}%"
        assert re.search(rf"{strategy}\s+{d['episodes']}\s+{re.escape(pct)}", table), table
    # rerunning resumes: nothing left to do, and the run lock/manifest are the local ones
    assert cli_main(argv) == 0
    assert "0 episode(s) run, 8 already done" in capsys.readouterr().out.replace("\n", " ")
    sessions = json.loads((out / "manifest.json").read_text())["sessions"]
    assert [s["status"] for s in sessions] == ["complete", "complete"]


class _KillOnce:
    """The real worker, except that the first attempt at `victim` writes its pid and waits
    to be killed (the test SIGKILLs that Ray worker process)."""

    def __init__(self, config: RunConfig, victim: str, flag: Path):
        self.real = RealWorkerFactory(config)
        self.victim, self.flag = victim, flag

    def __call__(self) -> Any:
        inner = self.real()
        victim, flag = self.victim, self.flag

        def fn(task: Any, strategy: str, seed: int, on_step: Any) -> Any:
            if f"{strategy}|{task.id}|{seed}" == victim and not flag.exists():
                flag.write_text(str(os.getpid()))
                time.sleep(120)  # killed long before this ends
            return inner(task, strategy, seed, on_step)

        return fn


def test_a_killed_worker_is_retried_and_recorded_once(
    cluster: str, index: Path, local_run: dict[str, Any], tmp_path: Path
) -> None:
    out, flag = tmp_path / "ray", tmp_path / "victim.pid"
    config = _config(index, out, executor="ray", ray_address=cluster)
    victim = sorted(local_run["outcomes"])[3]
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 300
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        if flag.exists():
            pid = int(flag.read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    summary = run_experiment(
        config, worker_factory=_KillOnce(config, victim, flag), show_progress=False
    )
    t.join(timeout=5)
    assert killed, "the victim episode never started"
    assert summary.episodes == 8 and summary.errors == 0 and summary.ran == 8
    assert _outcomes(out) == local_run["outcomes"]


class _AlwaysDies:
    def __init__(self, config: RunConfig, victim: str):
        self.real, self.victim = RealWorkerFactory(config), victim

    def __call__(self) -> Any:
        inner, victim = self.real(), self.victim

        def fn(task: Any, strategy: str, seed: int, on_step: Any) -> Any:
            if f"{strategy}|{task.id}|{seed}" == victim:
                os._exit(9)  # the worker process dies, every time
            return inner(task, strategy, seed, on_step)

        return fn


def test_a_worker_that_keeps_dying_gives_one_error_record(
    cluster: str, index: Path, local_run: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "ray"
    config = _config(index, out, executor="ray", ray_address=cluster, fail_fast=0)
    victim = sorted(local_run["outcomes"])[0]
    factory = _AlwaysDies(config, victim)
    summary = run_experiment(config, worker_factory=factory, show_progress=False)
    assert summary.episodes == 8 and summary.errors == 1
    records = latest_records(out)
    assert "Ray worker died 3 times" in (records[victim].error or "")
    expected = {k: v for k, v in local_run["outcomes"].items() if k != victim}
    assert {k: v for k, v in _outcomes(out).items() if k != victim} == expected


class _CannotStart:
    def __call__(self) -> Any:
        raise RuntimeError("no BabyAI on this worker")


def test_a_worker_that_cannot_start_stops_the_run_by_fail_fast(
    cluster: str, index: Path, tmp_path: Path
) -> None:
    config = _config(index, tmp_path / "ray", executor="ray", ray_address=cluster)
    summary = run_experiment(config, worker_factory=_CannotStart(), show_progress=False)
    assert summary.aborted and 3 <= summary.episodes < 8 and summary.errors == summary.episodes
    errors = {r.error for r in latest_records(tmp_path / "ray").values()}
    assert all("Ray worker failed to start" in (e or "") for e in errors), errors
    assert all("no BabyAI on this worker" in (e or "") for e in errors), errors


def test_synthesis_on_ray_writes_the_same_bytes(cluster: str, tmp_path: Path) -> None:
    def synth(out: Path, *extra: str) -> None:
        # a long bot timeout: on a busy machine a timed-out expert would change the data
        argv = ["synthesize", "--env", "babyai", "--tasks", "5", "--out", str(out),
                "--no-progress", "--env-option", f"levels={LEVELS}", "--env-option",
                "expert_timeout_s=300", *extra]  # fmt: skip
        assert cli_main(argv) == 0

    a, b = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    synth(a)
    synth(b, "--executor", "ray", "--workers", "2", "--ray-address", cluster)
    assert a.stat().st_size > 0 and a.read_bytes() == b.read_bytes()
    assert a.with_name("local.raw.jsonl").read_bytes() == b.with_name("ray.raw.jsonl").read_bytes()


def test_local_ray_instance_interrupt_then_resume(
    cluster: str, index: Path, local_run: dict[str, Any], tmp_path: Path
) -> None:
    """`ray.init()` in this process (no address): stopped after 3 episodes, resumed."""
    del cluster  # ordering only: the cluster fixture's teardown runs after this test
    out = tmp_path / "ray"
    config = _config(index, out, executor="ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        stop = threading.Event()

        def stopper() -> None:
            eps = out / "episodes.jsonl"
            while not stop.is_set():
                if eps.exists() and len(eps.read_text().splitlines()) >= 3:
                    stop.set()  # what Ctrl-C does: no new episodes, in-flight ones dropped
                time.sleep(0.02)

        threading.Thread(target=stopper, daemon=True).start()
        first = run_experiment(config, show_progress=False, stop_event=stop)
        stop.set()
        assert first.interrupted and 3 <= first.episodes < 8
        second = run_experiment(config, show_progress=False)
        assert not second.interrupted and second.skipped == first.episodes
        assert second.episodes == 8 and second.ran == 8 - first.episodes
        assert _outcomes(out) == local_run["outcomes"]
    finally:
        ray.shutdown()


def test_benchmark_smoke(tmp_path: Path) -> None:
    """benchmarks/ray/bench.py at its smallest still prints its table (its own Ray instance)."""
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "ray" / "bench.py"
    cmd = [sys.executable, str(bench), "--tasks", "1", "--train-tasks", "2", "--workers", "1",
           "--repeats", "1", "--max-steps", "3"]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    for shown in ("episodes/s", "ray / threads", "ray / processes", "Ray local instance start"):
        assert shown in p.stdout, p.stdout
