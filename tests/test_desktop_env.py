"""The desktop envs end to end on the local desktop, scored by OSWorld's own metrics:
on generated Calc, Writer and Impress tasks the expert scores 1, DONE at once scores 0, an
infeasible task ended with FAIL scores 1; a hung application becomes an EnvError naming the
task and step and the next episode starts clean; Spider2-V-format fixtures (one excel task,
one that needs Docker, refused before any episode); synthesize (3 tasks, with the
environment check) + index + ablate (3 tasks x 2 strategies) with no errored episode;
`server=URL` drives a running server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.desktop_setup import fail_under_ci, require_desktop

WHY = require_desktop()
pytestmark = pytest.mark.desktop
FAST = {"pause_s": 0.3, "settle_s": 0.5}
FAMILIES = [
    "calc-fill-value",
    "calc-infeasible",
    "calc-clear-cell",
    "writer-append-paragraph",
    "impress-retitle",
]
SPIDER2V = Path(__file__).parent / "fixtures" / "desktop" / "spider2v"


@pytest.fixture(autouse=True)
def _ci_guard() -> None:
    fail_under_ci(WHY)


@pytest.fixture(scope="module")
def tasks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lbi_icl.envs.desktop.taskgen.build import build_taskset

    out = tmp_path_factory.mktemp("desktop-tasks")
    build_taskset(out, seed=0, per_family=3, families=FAMILIES)
    return out


@pytest.fixture(scope="module")
def env(tasks_dir: Path):  # type: ignore[no-untyped-def]
    from lbi_icl.envs import make_env

    e = make_env("desktop", tasks_dir=str(tasks_dir), **FAST)
    yield e
    e.close()
    assert e._session is None


def _task(env, family: str):  # type: ignore[no-untyped-def]
    return next(t for t in env.tasks("train") + env.tasks("test") if family in t.id)


@pytest.mark.parametrize(
    "family", ["calc-fill-value", "writer-append-paragraph", "impress-retitle"]
)
def test_expert_scores_one(env, family: str) -> None:  # type: ignore[no-untyped-def]
    demo = env.demonstrate(_task(env, family))
    assert demo is not None and demo.outcome == "success", demo.steps[-1].info
    assert demo.metadata["score"] == 1.0
    last = demo.steps[-1]
    assert last.action == "DONE" and last.info["effect"]["verb"] == "DONE"
    saved = [s.info["effect"].get("saved") for s in demo.steps if s.info["effect"].get("saved")]
    assert saved, "the expert's Ctrl+S shows as a file difference"


def test_a_live_episode_saves_its_result_file_and_rescores_from_it(env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`lbi rescore`'s desktop path end to end: the expert's episode, bound to a run folder,
    saves the xlsx compare_table read; the metric on that file alone scores it again."""
    from types import SimpleNamespace

    task = _task(env, "calc-fill-value")
    env.bind_run(SimpleNamespace(out=str(tmp_path)))
    try:
        demo = env.demonstrate(task)
    finally:
        env.run_dir = None
    assert demo is not None and demo.metadata["score"] == 1.0
    final = demo.steps[-1].info["final_state"]
    (row,) = final["results"]
    assert row["getter"] == "vm_file" and (tmp_path / row["value"]).is_file()
    steps = [
        {"step": i, "action": s.action, "done": i == len(demo.steps) - 1, "info": s.info}
        for i, s in enumerate(demo.steps)
    ]
    res = env.rescore(task, steps, lambda rel: tmp_path / rel)
    assert res is not None and (res.success, res.score) == (True, 1.0)


def test_done_at_once_scores_zero_and_fail_on_infeasible_scores_one(env) -> None:  # type: ignore[no-untyped-def]
    env.reset(_task(env, "calc-clear-cell"))
    res = env.step("DONE")
    assert res.done and res.info["score"] == 0.0 and res.info["success"] is False
    env.reset(_task(env, "calc-infeasible"))
    res = env.step("FAIL")
    assert res.done and res.info["score"] == 1.0 and res.info["success"] is True


def test_actions_show_errors_and_tree_changes(env) -> None:  # type: ignore[no-untyped-def]
    task = _task(env, "calc-fill-value")
    obs = env.reset(task)
    assert obs.startswith("Accessibility tree (") and "table-cell\tA1\tName" in obs
    res = env.step("pyautogui.click(")
    assert res.observation.startswith("Last action error: not valid Python")
    assert res.info["effect"] == {"verb": "invalid", "ok": False, "saved": [], "changes": [],
                                  "error": res.info["effect"]["error"]}  # fmt: skip
    res = env.step("pyautogui.hotkey('ctrl', 'shift', 'f5'); pyautogui.typewrite('D9\\n77\\n')")
    assert "table-cell 'D9': '' -> '77'" in res.info["effect"]["changes"]
    res = env.step("raise SystemExit(3)")
    assert res.observation.startswith("Last action error: exit code 3")
    cands = env.valid_actions()
    assert "DONE" in cands and any(c.startswith("pyautogui.click(") for c in cands)


def test_a_hung_application_is_an_env_error_and_the_next_episode_is_clean(tasks_dir: Path) -> None:
    from lbi_icl.envs import make_env
    from lbi_icl.envs.base import EnvError

    env = make_env("desktop", tasks_dir=str(tasks_dir), **FAST)
    try:
        task = _task(env, "calc-clear-cell")
        env.reset(task)
        env.tree_timeout_s = 8  # (a tree fetch on a loaded machine can take more: not at reset)
        freeze = (
            "import os, signal, subprocess; "
            "[os.kill(int(p), signal.SIGSTOP) for p in "
            "subprocess.run(['pgrep', 'soffice.bin'], capture_output=True, text=True)"
            ".stdout.split()]"
        )
        with pytest.raises(EnvError, match=r"task 'libreoffice_calc/calc-clear-cell-\d+', step 1"):
            env.step(freeze)
        old = env._session
        env.tree_timeout_s = 60
        obs = env.reset(task)  # a fresh desktop: the frozen one is gone
        assert "table-cell" in obs and env._session is not old and old.pids() == []
    finally:
        env.close()


@pytest.fixture(scope="module")
def spider2v_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lbi_icl.envs.desktop.taskgen import files

    out = tmp_path_factory.mktemp("spider2v")
    shutil.copytree(SPIDER2V, out, dirs_exist_ok=True)
    folder = out / "evaluation_examples" / "examples" / "excel" / "lbi-fixture-excel-1"
    rows = [["Price", "Qty", "Total"], [4, 5, None], [2, 3, None]]
    (folder / "Prices.xlsx").write_bytes(files.xlsx({"Sheet1": rows}))
    gold = [["Price", "Qty", "Total"], [4, 5, 20], [2, 3, None]]
    (folder / "gold_Prices.xlsx").write_bytes(files.xlsx({"Sheet1": gold}))
    return out


def test_spider2v_runs_excel_and_refuses_docker_before_any_episode(spider2v_dir: Path) -> None:
    from lbi_icl.envs import make_env

    env = make_env("spider2v", tasks_dir=str(spider2v_dir), instructions="verbose", **FAST)
    try:
        tasks = env.tasks("test")
        assert [t.id for t in tasks] == ["excel/lbi-fixture-excel-1"]
        assert (
            tasks[0].instruction.startswith("Fill cell C2") and "1. Press" in tasks[0].instruction
        )
        assert env.refused == {
            "airflow/lbi-fixture-airflow-1": [
                "needs Docker (Airflow via Astro)",
                "needs Google Chrome",
            ]
        }
        docs = env.documents()
        assert docs[0].title == "Name Box | LibreOffice Help" and "C2" in docs[0].text
        demo = env.demonstrate(tasks[0])
        assert demo is not None and demo.metadata["score"] == 1.0
    finally:
        env.close()
    # the CLI stops before the first episode, naming the reason
    out = subprocess.run(
        [sys.executable, "-m", "lbi_icl", "run", "--env", "spider2v", "--policy", "retrieval",
         "--retrieval", "none", "--task-ids", "airflow/lbi-fixture-airflow-1",
         "--env-option", f"tasks_dir={json.dumps(str(spider2v_dir))}",
         "--out", str(spider2v_dir / "run")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode != 0
    assert "needs Docker (Airflow via Astro)" in out.stdout + out.stderr
    assert not (spider2v_dir / "run" / "episodes.jsonl").exists()


def test_synthesize_index_ablate_three_tasks(tasks_dir: Path, tmp_path: Path) -> None:
    opt = ["--env-option", f"tasks_dir={json.dumps(str(tasks_dir))}",
           "--env-option", "pause_s=0.3", "--env-option", "settle_s=0.5"]  # fmt: skip

    def lbi(*args: str) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([sys.executable, "-m", "lbi_icl", *args], capture_output=True,
                             text=True, timeout=900)  # fmt: skip
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
        return res

    data = tmp_path / "desktop.jsonl"
    lbi("synthesize", "--env", "desktop", "--split", "train", "--tasks", "3", "--explorers",
        "expert", "--out", str(data), "--no-progress", *opt)  # fmt: skip
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    assert len(rows) >= 3  # windows of 3 expert rollouts, checked by replaying them
    assert any(r["source"].get("writer") == "template-desktop" for r in rows)
    report = json.loads(Path(f"{data}.state.json").read_text())["report"]
    assert report["stages"]["env_check"] == "env-check-desktop"
    assert report["counts"]["examples_final"] == len(rows)
    lbi("index", "build", "--trajectories", str(data), "--out", str(tmp_path / "index"),
        "--embedder", "hash")  # fmt: skip
    run = tmp_path / "run"
    lbi("ablate", "--env", "desktop", "--split", "test", "--tasks", "3", "--policy", "retrieval",
        "--index", str(tmp_path / "index"), "--strategies", "none", "instruction",
        "--max-steps", "3", "--out", str(run), *opt)  # fmt: skip
    episodes = [json.loads(line) for line in (run / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == 6  # 3 test tasks x 2 strategies
    assert all(e.get("stop_reason") != "error" and not e.get("error") for e in episodes)


def test_server_option_drives_a_running_desktop_server(tasks_dir: Path) -> None:
    """`server=URL` (a real OSWorld VM in practice): the env starts no desktop of its own and
    runs setup, actions and scoring through that server."""
    from lbi_icl.envs import make_env
    from lbi_icl.envs.desktop.session import LocalDesktop

    with LocalDesktop() as desktop:
        env = make_env("desktop", tasks_dir=str(tasks_dir), server=desktop.url,
                       token=desktop.token, **FAST)  # fmt: skip
        try:
            env.check_ready()
            task = _task(env, "calc-clear-cell")
            spec = env._def(task)
            obs = env.reset(task)
            assert env._session is None and "table-cell" in obs
            for action in spec.expert:
                env.step(action)
            res = env.step("DONE")
            assert res.info["score"] == 1.0
        finally:
            env.close()
    bad = make_env("desktop", tasks_dir=str(tasks_dir), server="127.0.0.1:9")
    from lbi_icl.envs.base import EnvError

    with pytest.raises(EnvError, match=r"desktop server 127\.0\.0\.1:9 does not answer"):
        bad.check_ready()
