"""The swe environment end to end on a tiny fixture project (tests/fixtures/swe_project),
offline: task-set builder → env → expert → grading → synthesize → index → ablate with the
retrieval policy, LLM runs over the loopback OpenAI stub, bad records, the Docker switch."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from llm_servers import OpenAIStubServer, clear_llm_env

from lbi_icl.cli import main as cli_main
from lbi_icl.envs import EnvNotInstalledError, make_env
from lbi_icl.envs.swe.expert import edit_command, parse_hunks
from lbi_icl.envs.swe.taskset.build import BuildConfig, build_taskset
from lbi_icl.runner import latest_records

pytestmark = [pytest.mark.swe, pytest.mark.slow]

FIXTURE = Path(__file__).parent / "fixtures" / "swe_project"


def _spec(folder: Path) -> Path:
    spec = {
        "projects": [
            {
                "name": name,
                "path": str(FIXTURE),
                "split": split,
                "sources": ["minicalc"],
                "tests": ["tests/check_core.py"],
                "docs": ["README.md"],
            }
            for name, split in (("calc_train", "train"), ("calc_test", "test"))
        ]
    }
    path = folder / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def _config(root: Path, out: str, **kw) -> BuildConfig:
    return BuildConfig(
        out=root / out,
        spec=_spec(root),
        seed=1,
        per_project=2,
        max_candidates=4,
        workers=1,
        cache_dir=root / "cache",
        **kw,
    )


@pytest.fixture(scope="module")
def taskset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("swe")
    report = build_taskset(_config(root, "tasks"))
    assert report.counts == {"train": 2, "test": 2}
    return root / "tasks"


def _records(tasks: Path, split: str) -> list[dict]:
    return [json.loads(x) for x in (tasks / f"{split}.jsonl").read_text().splitlines()]


def _env(tasks: Path, **kw):
    return make_env("swe", tasks_file=str(tasks), cache_dir=str(tasks.parent / "cache"), **kw)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def test_builder_writes_verified_swebench_records_reproducibly(taskset, tmp_path):
    train, test = _records(taskset, "train"), _records(taskset, "test")
    assert {r["project"] for r in train} == {"calc_train"}
    assert {r["project"] for r in test} == {"calc_test"}  # split by project
    for r in train + test:
        assert r["FAIL_TO_PASS"] and r["PASS_TO_PASS"]
        assert not set(r["FAIL_TO_PASS"]) & set(r["PASS_TO_PASS"])
        assert r["repo"] == f"local/{r['project']}" and r["mirror"] == f"repos/{r['project']}"
        assert r["patch"].startswith("diff --git a/minicalc/")
        assert "tests/" not in r["patch"] and "minicalc/" not in r["test_patch"]
        assert r["test_patch"].startswith("diff --git a/tests/check_core.py")
        assert r["FAIL_TO_PASS"][0] in r["problem_statement"]
        assert "minicalc/" not in r["problem_statement"]  # written from the tests only
        assert r["mutations"][0]["function"] == r["mutation"]["function"]
        repo = taskset / r["mirror"]
        # the base commit is a root commit: `git log` in a workspace shows no fix
        parents = _git(repo, "rev-list", "--parents", "-n1", r["base_commit"]).split()
        assert parents == [r["base_commit"]]
        # the failing tests are not in the buggy checkout; the fixed tree has them
        base_tests = _git(repo, "show", f"{r['base_commit']}:tests/check_core.py")
        fixed_tests = _git(repo, "show", f"{r['environment_setup_commit']}:tests/check_core.py")
        for node in r["FAIL_TO_PASS"]:
            name = node.split("::")[-1]
            assert f"def {name}(" not in base_tests and f"def {name}(" in fixed_tests
        for node in r["PASS_TO_PASS"]:
            assert f"def {node.split('::')[-1]}(" in base_tests
    assert cli_main(["swe", "check", str(taskset / "train.jsonl")]) == 0
    docs = [json.loads(x) for x in (taskset / "docs.jsonl").read_text().splitlines()]
    assert {d["id"] for d in docs} == {"swe/calc_train/README.md", "swe/calc_test/README.md"}
    # same seed, fresh folder, no shared cache, another number of workers → the same bytes
    again = build_taskset(_config(tmp_path, "again", projects=["calc_train"]).model_copy(
        update={"workers": 2}
    ))  # fmt: skip
    assert again.counts["train"] == 2
    assert (tmp_path / "again" / "train.jsonl").read_bytes() == (
        taskset / "train.jsonl"
    ).read_bytes()


def test_expert_resolves_and_grading_rejects_a_wrong_fix(taskset):
    env = _env(taskset)
    try:
        task = env.tasks("train")[0]
        demo = env.demonstrate(task)
        assert demo is not None and demo.outcome == "success"
        actions = demo.actions()
        assert actions[0].startswith("grep -rn 'def ") and actions[-1] == "submit"
        assert any(a.startswith("sed -n") for a in actions)
        assert "python -m pytest -q tests/check_core.py" in actions  # the tests still there
        last = demo.steps[-1].info
        assert last["success"] is True and last["score"] == 1.0
        assert last["diff"].startswith("diff --git a/minicalc/core.py")

        obs = env.reset(task)
        assert "minicalc" in obs
        ws = env.ws
        assert ws is not None and ws.path.exists()
        res = env.step("echo '# nothing' >> minicalc/core.py")
        assert res.info["exit_code"] == 0 and not res.done
        final = env.step("submit")
        assert final.done and final.info["success"] is False
        assert 0.0 < final.info["score"] < 1.0
        assert "# nothing" in final.info["diff"]
        # rewriting the tests so they pass does not count: graded test files are reset
        env.reset(task)
        rec = _records(taskset, "train")[0]
        names = {t.split("::")[-1] for t in rec["FAIL_TO_PASS"] + rec["PASS_TO_PASS"]}
        body = "".join(f"def {n}():\n    pass\n\n\n" for n in sorted(names))
        (env.ws.path / "tests" / "check_core.py").write_text(body)
        cheat = env.step("submit")
        assert cheat.info["success"] is False and cheat.info["diff"] == ""
        assert cheat.info["excluded"] == {"tests/check_core.py": "graded test file"}
        ws = env.ws
        env.close()
        assert not ws.root.exists()  # the workspace is removed
    finally:
        env.close()
    # the task set's repository was only read
    status = subprocess.run(
        ["git", "-C", str(taskset / "repos" / "calc_train"), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == ""


def _bad(tasks: Path, tmp_path: Path, change) -> Path:
    recs = _records(tasks, "test")
    change(recs[1])
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("base_commit"), "base_commit: Field required"),
        (lambda r: r.update(base_commit="0" * 40), "is not a commit of"),
        (
            # (without the test patch: the validator does not look inside files it writes)
            lambda r: r.update(FAIL_TO_PASS=["tests/check_core.py::test_missing"], test_patch=""),
            "test tests/check_core.py::test_missing does not exist",
        ),
        (
            lambda r: r.update(PASS_TO_PASS=["tests/nope.py::test_a"]),
            "test file tests/nope.py does not exist",
        ),
    ],
)
def test_bad_records_fail_before_any_episode(taskset, tmp_path, capsys, change, message):
    path = _bad(taskset, tmp_path, change)
    # the records keep their repo paths relative to the task set
    shutil.copy(path, taskset / "bad.jsonl")
    name = _records(taskset, "test")[1]["instance_id"]
    out = tmp_path / "run"
    argv = ["run", "--env", "swe", "--split", "test", "--tasks", "all", "--policy", "retrieval"]
    argv += ["--env-option", f"tasks_file={taskset / 'bad.jsonl'}", "--out", str(out)]
    argv += ["--no-progress", "--max-steps", "2"]
    assert cli_main(argv) != 0
    err = capsys.readouterr().err
    assert name in err and message in err
    assert not (out / "episodes.jsonl").exists()


def test_official_harness_switch_explains_what_is_missing(monkeypatch, taskset):
    real_which = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda name: None if name == "docker" else real_which(name)
    )
    with pytest.raises(EnvNotInstalledError, match="harness=swebench needs the `docker`"):
        _env(taskset, harness="swebench")
    with pytest.raises(ValueError, match="harness must be"):
        _env(taskset, harness="docker")


def test_synthesize_index_and_ablate_with_the_retrieval_policy(taskset, tmp_path):
    opts = ["--env-option", f"tasks_file={taskset}"]
    opts += ["--env-option", f"cache_dir={taskset.parent / 'cache'}"]
    synth = tmp_path / "synth.jsonl"
    argv = ["synthesize", "--env", "swe", "--split", "train", "--tasks", "2"]
    assert cli_main([*argv, "--out", str(synth), "--no-progress", *opts]) == 0
    examples = [json.loads(x) for x in synth.read_text().splitlines()]
    assert examples and all(e["env"] == "swe" for e in examples)
    assert {e["source"]["kind"] for e in examples} == {"backward"}
    assert any(e["instruction"].startswith("Run `tests/") for e in examples)
    assert any(e["instruction"].startswith("Find where `") for e in examples)
    index = tmp_path / "index"
    argv = ["index", "build", "--trajectories", str(synth), "--out", str(index)]
    argv += ["--docs", str(taskset / "docs.jsonl"), "--embedder", "hash:64"]
    assert cli_main(argv) == 0
    out = tmp_path / "ablate"
    argv = ["ablate", "--env", "swe", "--split", "test", "--tasks", "2", "--policy", "retrieval"]
    argv += ["--index", str(index), "--out", str(out), "--max-steps", "3", "--no-progress"]
    argv += ["--strategies", "none,instruction,observation"]
    assert cli_main([*argv, *opts]) == 0
    recs = latest_records(out)
    assert len(recs) == 6
    assert all(r.error is None for r in recs.values())
    assert any(r.steps > 0 for r in recs.values() if r.strategy != "none")


WRONG_EDIT = "sed -i 's/^def /def /' minicalc/core.py"


def _llm_argv(taskset: Path, out: Path, base_url: str, task_id: str) -> list[str]:
    return [
        "run",
        "--env",
        "swe",
        "--split",
        "test",
        "--task-ids",
        task_id,
        "--policy",
        "llm",
        "--llm",
        "openai:gpt-4o-mini",
        "--llm-base-url",
        base_url,
        "--retrieval",
        "none",
        "--out",
        str(out),
        "--max-steps",
        "4",
        "--no-progress",
        "--env-option",
        f"tasks_file={taskset}",
        "--env-option",
        f"cache_dir={taskset.parent / 'cache'}",
    ]


@pytest.mark.parametrize("fix", [True, False])
def test_llm_run_over_openai_stub_success_depends_on_the_fix(taskset, tmp_path, monkeypatch, fix):
    clear_llm_env(monkeypatch)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")
    rec = _records(taskset, "test")[0]
    (hunk,) = parse_hunks(rec["patch"])
    # the wrong fix is a plausible edit that leaves the function's bug in place
    edit = edit_command(hunk) if fix else WRONG_EDIT
    replies = [
        f"Reason: look at the failing test.\nAction: python -m pytest -q {rec['FAIL_TO_PASS'][0]}",
        f"Reason: apply the fix.\nAction: {edit}",
        "Reason: done.\nAction: submit",
    ]
    out = tmp_path / "run"
    with OpenAIStubServer(replies, repeat_last=False) as srv:
        assert cli_main(_llm_argv(taskset, out, srv.base_url, rec["instance_id"])) == 0
        assert len(srv.requests) == 3
    (r,) = latest_records(out).values()
    assert r.error is None and r.stop_reason == "done"
    assert r.success is fix
    assert (r.score == 1.0) is fix
    steps = [json.loads(x) for x in (out / r.steps_log).read_text().splitlines()]
    assert steps[-1]["action"] == "submit"
    diff = steps[-1]["info"]["diff"]
    assert ("diff --git a/minicalc/core.py" in diff) is fix
