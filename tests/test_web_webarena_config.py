"""WebArena settings and configs without a browser or the [webarena] extra: missing `WA_*`
settings and unreachable sites are named before any episode (`lbi run` exits 1), and user
configs may not smuggle Python into the evaluator."""

from __future__ import annotations

import json

import pytest

from lbi_icl.cli import main as cli_main
from lbi_icl.envs.browsergym.webarena import (
    WA_SETTINGS,
    SitesNotReadyError,
    WebArenaEnv,
    check_func,
    load_configs,
    probe,
    webarena_config_path,
)
from lbi_icl.envs.registry import register_env, unregister_env


def _config(task_id: int, start_url: str) -> dict:
    return {
        "task_id": task_id,
        "intent": "What is the total?",
        "sites": ["shop"],
        "start_url": start_url,
        "eval": {
            "eval_types": ["program_html"],
            "reference_answers": None,
            "reference_url": "",
            "program_html": [
                {"url": "last", "locator": "", "required_contents": {"must_include": ["42"]}}
            ],
        },
    }


def test_missing_settings_are_all_named(monkeypatch) -> None:
    for key in WA_SETTINGS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("WA_REDDIT", "http://127.0.0.1:9")
    with pytest.raises(SitesNotReadyError) as info:
        WebArenaEnv().check_ready()
    msg = str(info.value)
    for key in WA_SETTINGS:
        assert (key in msg) == (key != "WA_REDDIT"), key


def test_unreachable_site_is_named_and_no_browser_starts(tmp_path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps([_config(7, "http://127.0.0.1:9/index.html")]))
    e = WebArenaEnv(task_configs=path, probe_timeout_s=2)
    assert [t.id for t in e.tasks("test")] == ["webarena.7"]
    with pytest.raises(SitesNotReadyError, match=r"start_url of task 7=http://127\.0\.0\.1:9/ is"):
        e.check_ready()
    with pytest.raises(SitesNotReadyError):
        e.reset(e.tasks("test")[0])
    assert e.browser_pids() == []
    assert probe("http://127.0.0.1:9/", 2) is not None


def test_user_configs_may_not_run_python(tmp_path) -> None:
    cfg = _config(3, "http://127.0.0.1:9/")
    cfg["eval"]["program_html"][0]["locator"] = "func:__import__('os').getcwd()"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([cfg]))
    with pytest.raises(
        ValueError, match=r"program_html\[0\]\.locator .*one call of a WebArena helper"
    ):
        WebArenaEnv(task_configs=path).tasks("test")
    for bad, why in [
        ("func:reddit_get_post_url(open('/etc/passwd').read())", "string literals"),
        ("func:shopping_get_latest_order_url().x", "one call"),
        ("func:reddit_get_post_url('a'", "not a Python call"),
    ]:
        cfg["eval"]["program_html"][0]["locator"] = bad
        path.write_text(json.dumps([cfg]))
        with pytest.raises(ValueError, match=why):
            WebArenaEnv(task_configs=path).tasks("test")
    # what the packaged configs do is allowed in your own (issue 26): a WebArena helper
    # with string literals or the page
    cfg["eval"]["program_html"][0]["url"] = "func:reddit_get_post_url('__last_url__')"
    cfg["eval"]["program_html"][0]["locator"] = (
        "func:gitlab_get_project_memeber_role(__page__, 'x')"
    )
    path.write_text(json.dumps([cfg]))
    assert WebArenaEnv(task_configs=path).tasks("test")[0].metadata["task_id"] == 3
    packaged = load_configs(webarena_config_path())
    funcs = [
        str(t.get(f, ""))
        for c in packaged
        for t in c["eval"].get("program_html") or []
        for f in ("url", "locator")
    ]
    funcs = [f for f in funcs if f.startswith("func:")]
    assert len(funcs) > 50 and all(check_func(f) is None for f in funcs)
    assert load_configs(path, trusted=True)[0]["task_id"] == 3  # packaged data is trusted
    (tmp_path / "list.json").write_text(json.dumps({"task_id": 1}))
    with pytest.raises(ValueError, match="expected a JSON list"):
        load_configs(tmp_path / "list.json")


def test_lbi_run_stops_before_the_first_episode(tmp_path, capsys) -> None:
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps([_config(1, "http://127.0.0.1:9/a"), _config(2, "http://127.0.0.1:9/b")])
    )

    def factory(**options):
        return WebArenaEnv(task_configs=path, probe_timeout_s=2, **options)

    register_env("webarena_test_nosite", factory, overwrite=True)
    try:
        out = tmp_path / "run"
        argv = ["run", "--env", "webarena_test_nosite", "--split", "test", "--tasks", "2"]
        argv += ["--policy", "retrieval", "--retrieval", "none", "--out", str(out), "--no-progress"]
        assert cli_main(argv) == 1
        err = capsys.readouterr().err
        assert "start_url of task 1=http://127.0.0.1:9/" in err and "not reachable" in err
        episodes = out / "episodes.jsonl"
        assert not episodes.exists() or episodes.read_text() == ""
    finally:
        unregister_env("webarena_test_nosite")
