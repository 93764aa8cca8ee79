"""Prompt templates in runs: a user template file named in a run config changes the prompts
(step logs: text and template hash; manifest; the viewer's data) with nothing else edited;
bad template settings stop `lbi run` before any episode; an edited template refuses a
resume; every shipped `configs/*.yaml` loads through the real loader, and one runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbi_icl.cli import main as cli_main
from lbi_icl.prompts import default_template
from lbi_icl.runner import latest_records
from lbi_icl.runner.config import ConfigError, build_config
from lbi_icl.view.build import build_view

pytestmark = pytest.mark.babyai

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
MARK = "CUSTOM-SYSTEM-7f3a"
SCRIPT = {
    "rules": [
        {"contains": MARK, "in": "system", "response": "Reason: custom prompt\nAction: turn left"},
        {"contains": "search query", "response": "go to the red ball"},
    ],
    "default": "Reason: default prompt\nAction: go forward",
}


def _write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data) if path.suffix == ".yaml" else data, encoding="utf-8")
    return path


def _base(tmp: Path, out: str) -> dict[str, Any]:
    script = _write(tmp / "script.yaml", SCRIPT)
    return {
        "env": "babyai",
        "split": "test",
        "tasks": 1,
        "policy": "llm",
        "llm": f"scripted:{script}",
        "strategies": ["none"],
        "max_steps": 2,
        "out": str(tmp / out),
    }


def _steps(run: Path) -> list[dict[str, Any]]:
    (rec,) = latest_records(run).values()
    return [json.loads(line) for line in (run / rec.steps_log).read_text().splitlines()]


def _view_steps(run: Path) -> list[dict[str, Any]]:
    """The step records as the viewer's data shard holds them (parsed as the page does)."""
    build_view(run)
    (shard,) = (run / "view" / "data" / "steps").glob("*.js")
    text = shard.read_text(encoding="utf-8")
    payload = json.loads(json.loads(text[text.index(",") + 1 : text.rindex(")")]))
    return payload["steps"]


def test_user_template_changes_the_prompts_with_nothing_else_edited(tmp_path: Path) -> None:
    base = _base(tmp_path, "run-default")
    default_cfg = _write(tmp_path / "default.yaml", base)
    # the same config plus one line; the template sits beside it (relative path)
    _write(tmp_path / "cfgs" / "sys.txt", f"{MARK} agent${{in_env}}.\n$action_space\n")
    user_cfg = _write(
        tmp_path / "cfgs" / "user.yaml",
        {**base, "out": str(tmp_path / "run-user"), "prompts": {"agent_system": "sys.txt"}},
    )
    assert cli_main(["run", "--config", str(default_cfg), "--no-progress"]) == 0
    assert cli_main(["run", "--config", str(user_cfg), "--no-progress"]) == 0

    plain, custom = _steps(tmp_path / "run-default"), _steps(tmp_path / "run-user")
    user_sha = default_template("agent_system").sha256
    for s in plain:
        assert MARK not in s["prompt"][0]["content"] and s["action"] == "go forward"
        assert s["prompt_templates"]["agent_system"] == user_sha
    file_sha = (
        __import__("hashlib")
        .sha256(f"{MARK} agent${{in_env}}.\n$action_space".encode())
        .hexdigest()
    )
    for s in custom:
        system = s["prompt"][0]["content"]
        assert system.startswith(f"{MARK} agent in the babyai environment.\nYou act in a BabyAI")
        assert s["prompt_templates"]["agent_system"] == file_sha
        assert s["action"] == "turn left"  # the model saw the new prompt
    # only the system prompt changed: user messages, other template hashes are the same
    assert plain[0]["prompt"][1] == custom[0]["prompt"][1]
    assert plain[0]["prompt_sha256"] != custom[0]["prompt_sha256"]
    same = {k: v for k, v in custom[0]["prompt_templates"].items() if k != "agent_system"}
    assert same == {k: v for k, v in plain[0]["prompt_templates"].items() if k != "agent_system"}
    assert set(same) == {"agent_user", "agent_answer_format"}

    manifest = json.loads((tmp_path / "run-user" / "manifest.json").read_text())
    src = manifest["prompts"]["agent_system"]
    assert src == {"source": str(tmp_path / "cfgs" / "sys.txt"), "sha256": file_sha}
    assert manifest["prompts"]["agent_user"]["source"] == "default"
    assert manifest["fingerprint"]["prompts"] == {"agent_system": file_sha}
    plain_manifest = json.loads((tmp_path / "run-default" / "manifest.json").read_text())
    assert "prompts" not in plain_manifest["fingerprint"]  # old run dirs still resume

    # the viewer's data carries the same template names and hashes, and the manifest's source
    viewed = _view_steps(tmp_path / "run-user")
    assert [v["prompt_templates"] for v in viewed] == [s["prompt_templates"] for s in custom]
    meta = (tmp_path / "run-user" / "view" / "data" / "meta.js").read_text()
    assert str(tmp_path / "cfgs" / "sys.txt") in meta


def test_edited_template_refuses_resume(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tpl = _write(tmp_path / "sys.txt", "$action_space\n")
    cfg = _write(
        tmp_path / "run.yaml", {**_base(tmp_path, "run"), "prompts": {"agent_system": "sys.txt"}}
    )
    assert cli_main(["run", "--config", str(cfg), "--no-progress"]) == 0
    assert cli_main(["run", "--config", str(cfg), "--no-progress"]) == 0  # unchanged: resumes
    tpl.write_text("Be brief.\n$action_space\n", encoding="utf-8")
    capsys.readouterr()
    assert cli_main(["run", "--config", str(cfg), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "different settings (prompts.agent_system: " in err and " → " in err


def test_prompt_layout_is_recorded_reported_and_a_change_refuses_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from lbi_icl.runner.report import report

    cfg = _write(tmp_path / "run.yaml", _base(tmp_path, "run"))
    run = tmp_path / "run"
    assert cli_main(["run", "--config", str(cfg), "--no-progress"]) == 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["prompt_layout"] == "stable_first"  # the default
    assert manifest["fingerprint"]["agent"]["prompt_layout"] == "stable_first"
    assert manifest["config"]["agent"]["prompt_layout"] == "stable_first"
    assert "prompt layout: stable_first (objective first" in report(run, "md")
    assert cli_main(["run", "--config", str(cfg), "--no-progress"]) == 0  # same: resumes
    capsys.readouterr()

    paper = ["--set", "agent.prompt_layout=examples_first"]
    assert cli_main(["run", "--config", str(cfg), "--no-progress", *paper]) == 1
    err = capsys.readouterr().err
    assert 'agent.prompt_layout: "stable_first" → "examples_first"' in err
    assert "--set agent.prompt_layout=stable_first for the run's prompt layout" in err

    # a run made before the setting existed: no prompt_layout anywhere, the paper's layout
    manifest = json.loads((run / "manifest.json").read_text())
    assert len(manifest["sessions"]) == 2  # the refused attempt wrote no session
    for key in ("fingerprint", "config"):
        del manifest[key]["agent"]["prompt_layout"]
    del manifest["prompt_layout"]
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert "prompt layout: examples_first (the paper's" in report(run, "md")
    assert cli_main(["run", "--config", str(cfg), "--no-progress"]) == 1  # now stable_first
    assert 'agent.prompt_layout: "examples_first" → "stable_first"' in capsys.readouterr().err
    assert cli_main(["run", "--config", str(cfg), "--no-progress", *paper]) == 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["prompt_layout"] == "examples_first"
    assert len(manifest["sessions"]) == 3

    # `lbi ablate` and config files take it too; a wrong name stops before any episode
    other = _write(
        tmp_path / "paper.yaml",
        {**_base(tmp_path, "paper"), "agent": {"prompt_layout": "examples_first"}},
    )
    assert build_config(other).agent.prompt_layout == "examples_first"
    bad = ["--set", "agent.prompt_layout=sideways"]
    assert cli_main(["ablate", "--config", str(other), "--no-progress", *bad]) == 1
    assert "agent.prompt_layout" in capsys.readouterr().err
    assert not (tmp_path / "paper").exists()


@pytest.mark.parametrize(
    ("prompts", "template", "expected"),
    [
        ({"agent_sytem": "t.txt"}, None, "unknown prompt 'agent_sytem'"),
        ({"agent_system": "missing.txt"}, None, "missing.txt: prompt 'agent_system': no such"),
        ({"agent_user": "t.txt"}, "$instruction $goal\n", "uses $goal, which does not exist"),
        ({"committee_user": "t.txt"}, None, "is a synthesis prompt"),
    ],
)
def test_bad_prompt_settings_stop_before_any_episode(
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    prompts: dict,
    template: str | None,
    expected: str,
) -> None:
    if template is not None:
        _write(tmp_path / "t.txt", template)
    cfg = _write(tmp_path / "run.yaml", {**_base(tmp_path, "run"), "prompts": prompts})
    assert cli_main(["run", "--config", str(cfg), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert expected in err and str(cfg) in err  # names the config and what is wrong
    if template is not None:
        assert str(tmp_path / "t.txt") in err  # and the template file
    assert not (tmp_path / "run").exists()  # nothing ran, nothing was written
    with pytest.raises(ConfigError, match=expected.replace("$", r"\$")):
        build_config(cfg)


def test_set_flag_points_a_prompt_at_a_file(tmp_path: Path) -> None:
    f = _write(tmp_path / "q.txt", "Query for: $instruction\n")
    cfg = build_config(None, {**_base(tmp_path, "run"), "prompts.query_user": str(f)})
    assert cfg.prompt_set()["query_user"].text == "Query for: $instruction"
    assert cfg.fingerprint()["prompts"] == {"query_user": cfg.prompt_set()["query_user"].sha256}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path, tmp_path: Path) -> None:
    from lbi_icl.retrieval import RetrievalConfig

    cfg = build_config(path)
    RetrievalConfig(**cfg.retrieval)  # every retrieval key is a real option
    cfg.prompt_set()
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#") and "lbi ablate --config configs/" in text  # documented
    if path.name != "beyond_paper.yaml":  # the paper's settings (PAPER.md §2)
        r = cfg.retrieval
        assert (r["m1"], r["m2"], r["rag_max_docs"]) == (5, 5, 50)
        assert {"observation", "model", "agentic", "rag", "none"} <= set(cfg.strategies)
        assert cfg.agent.prompt_layout == "examples_first"  # the paper's prompt too


def test_beyond_paper_config_runs_offline_with_its_prompt(tmp_path: Path) -> None:
    """configs/beyond_paper.yaml as shipped, with the scripted LLM and a tiny index: every
    strategy runs and the agent saw the config's own template file."""
    from lbi_icl.embed import HashEmbedder
    from lbi_icl.index import build_index

    samples = ROOT / "lbi_icl" / "samples" / "trajectories.jsonl"
    build_index([samples], tmp_path / "index", embedder=HashEmbedder(64))
    script = _write(
        tmp_path / "script.yaml",
        {
            "rules": [
                {
                    "contains": "Reach the objective",
                    "in": "system",
                    "response": "Action: go forward",
                },
                {"contains": "search query", "response": "go to the red ball"},
            ],
            "default": "Action: done",
        },
    )
    config = ROOT / "configs" / "beyond_paper.yaml"
    argv = ["ablate", "--config", str(config), "--llm", f"scripted:{script}", "--tasks", "1",
            "--max-steps", "2", "--index", str(tmp_path / "index"), "--out", str(tmp_path / "run"),
            "--no-progress"]  # fmt: skip
    assert cli_main(argv) == 0
    recs = latest_records(tmp_path / "run")
    assert sorted(r.strategy for r in recs.values()) == sorted(build_config(config).strategies)
    terse = ROOT / "configs" / "prompts" / "agent_system_terse.txt"
    for rec in recs.values():
        assert rec.error is None
        steps = [json.loads(x) for x in (tmp_path / "run" / rec.steps_log).read_text().splitlines()]
        assert steps and all(s["action"] == "go forward" for s in steps)
        assert all(
            s["prompt"][0]["content"].startswith("You control an agent in the babyai")
            for s in steps
        )
        if rec.strategy == "agentic":  # the scripted LLM wrote its queries: recorded too
            assert all("query_user" in s["prompt_templates"] for s in steps)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["prompts"]["agent_system"]["source"] == str(terse)


def test_synthesize_prompt_flag_replaces_a_synthesis_template(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    tpl = _write(tmp_path / "abstract.txt", f"{MARK} ($env):\n$trajectory\n")
    script = _write(
        tmp_path / "script.yaml",
        {"rules": [{"contains": MARK, "response": "reach the custom goal"}], "default": "other"},
    )
    out = tmp_path / "data.jsonl"
    argv = ["synthesize", "--env", "babyai", "--tasks", "1", "--task-source", "env",
            "--explorers", "expert", "--writer", "llm", "--kinds", "abstract",
            "--windows-per-trajectory", "2", "--llm", f"scripted:{script}", "--no-progress",
            "--no-env-check", "--out", str(out)]  # fmt: skip
    assert cli_main([*argv, "--prompt", f"relabel_abstract={tpl}"]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows and {r["instruction"] for r in rows} == {"reach the custom goal"}
    report = json.loads((tmp_path / "data.report.json").read_text())
    assert report["stages"]["prompts"]["relabel_abstract"]["source"] == str(tpl)
    assert report["stages"]["prompts"]["committee_user"]["source"] == "default"
    capsys.readouterr()
    bad = _write(tmp_path / "bad.txt", "$trajectory $oops\n")
    out2 = tmp_path / "data2.jsonl"
    assert cli_main([*argv[:-1], str(out2), "--prompt", f"relabel_abstract={bad}"]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "$oops" in err and not out2.exists()
