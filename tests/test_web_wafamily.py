"""VisualWebArena, WebArena-Verified and WorkArena through the BrowserGym env: their task
lists load offline from their packages, `lbi envs` shows what each needs, and `lbi run`
without the sites / instance stops before the first episode with one error naming the
missing setting or URL (exit 1). No browser is started. Needs the packages that
`bash .ci/setup-webarena.sh` installs: skipped without them, a failure under CI."""

from __future__ import annotations

import http.server
import json
import threading

import pytest
from web_setup import fail_under_ci, require_setup

from lbi_icl.cli import main as cli_main
from lbi_icl.envs.browsergym.wafamily import VWA_SETTINGS, VisualWebArenaEnv, WebArenaVerifiedEnv
from lbi_icl.envs.browsergym.webarena import WA_SETTINGS, SitesNotReadyError
from lbi_icl.envs.browsergym.workarena import SNOW_SETTINGS, WorkArenaEnv

MODULES = ("visualwebarena", "browsergym.visualwebarena", "webarena_verified")
MODULES += ("browsergym.workarena", "browsergym.webarena")
MISSING = require_setup(MODULES, chromium=False)


@pytest.fixture(autouse=True)
def _installed() -> None:
    fail_under_ci(MISSING)


SETTINGS = {
    "visualwebarena": VWA_SETTINGS,
    "webarena_verified": WA_SETTINGS,
    "workarena": SNOW_SETTINGS,
}


@pytest.fixture
def no_settings(monkeypatch):
    for names in SETTINGS.values():
        for key in names:
            monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="module")
def local_site():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _run(env: str, tmp_path, capsys, *extra: str) -> tuple[int, str, object]:
    out = tmp_path / "run"
    argv = ["run", "--env", env, "--tasks", "2", "--policy", "retrieval", "--retrieval"]
    argv += ["none", "--out", str(out), "--no-progress", *extra]
    rc = cli_main(argv)
    return rc, capsys.readouterr().err, out / "episodes.jsonl"


def test_visualwebarena_lists_910_tasks_offline() -> None:
    tasks = VisualWebArenaEnv().tasks("test")
    assert len(tasks) == 910 and tasks[0].id == "visualwebarena.0"
    assert tasks[0].metadata["gym_id"] == "browsergym/visualwebarena.0"
    assert {"classifieds", "shopping", "reddit"} <= {s for t in tasks for s in t.metadata["sites"]}
    with_images = [t for t in tasks if t.metadata["input_images"]]
    assert 0 < len(with_images) < len(tasks)
    assert any(t.metadata["require_reset"] for t in tasks)
    docs = {d.title for d in VisualWebArenaEnv().documents()}
    assert "classifieds" in docs


def test_webarena_verified_lists_812_audited_tasks_offline() -> None:
    tasks = WebArenaVerifiedEnv().tasks("test")
    assert len(tasks) == 812 and tasks[0].id == "webarena_verified.0"
    kinds = {k for t in tasks for k in t.metadata["eval_types"]}
    assert "AgentResponseEvaluator" in kinds and "NetworkEventEvaluator" in kinds
    # the same task ids as WebArena, on its sites, with audited (sometimes reworded) intents
    assert tasks[27].metadata["task_id"] == 27
    # run by this adapter's own gym task, judged by webarena-verified's evaluators
    assert tasks[0].metadata["gym_id"] == "browsergym/lbi.webarena_verified"
    assert tasks[0].metadata["task_kwargs"]["config"]["eval"][0]["evaluator"]
    assert tasks[0].metadata["task_kwargs"]["login"] is True
    assert all(t.metadata["start_url"] for t in tasks)


def test_workarena_lists_its_curriculum_offline() -> None:
    l1 = WorkArenaEnv(seeds_per_task=2).tasks("test")
    names = {t.metadata["task"] for t in l1}
    assert len(names) == 33 and 33 <= len(l1) <= 66
    assert all(t.id == f"{t.metadata['task']}/seed-{t.metadata['seed']}" for t in l1)
    incident = next(t for t in l1 if t.metadata["task"].endswith(".create-incident"))
    assert incident.instruction == "ServiceNow: create incident"
    assert l1 == WorkArenaEnv(seeds_per_task=2).tasks("test")  # deterministic by meta_seed
    l2 = WorkArenaEnv(level="l2").tasks("test")
    assert l2 and not {t.metadata["task"] for t in l2} & names
    with pytest.raises(ValueError, match="level='l4'"):
        WorkArenaEnv(level="l4")
    with pytest.raises(ValueError, match="one split, 'test'"):
        WorkArenaEnv().tasks("train")


@pytest.mark.parametrize("env", sorted(SETTINGS))
def test_lbi_run_without_sites_names_every_setting(env, no_settings, tmp_path, capsys) -> None:
    rc, err, episodes = _run(env, tmp_path, capsys)
    assert rc == 1
    for key in SETTINGS[env]:
        assert key in err, (env, key, err)
    assert not episodes.exists() or episodes.read_text() == ""


def test_lbi_run_names_the_url_that_does_not_answer(no_settings, monkeypatch, tmp_path, capsys):
    for key in VWA_SETTINGS:
        monkeypatch.setenv(key, "http://127.0.0.1:9")
    monkeypatch.setenv("VWA_CLASSIFIEDS_RESET_TOKEN", "not-a-url")  # a token: not probed
    rc, err, _ = _run("visualwebarena", tmp_path, capsys, "--env-option", "probe_timeout_s=2")
    assert rc == 1 and "VWA_CLASSIFIEDS=http://127.0.0.1:9 is not reachable" in err


def test_workarena_probes_the_instance_and_never_prints_the_password(
    no_settings, monkeypatch, tmp_path, capsys
) -> None:
    monkeypatch.setenv("SNOW_INSTANCE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SNOW_INSTANCE_UNAME", "admin")
    monkeypatch.setenv("SNOW_INSTANCE_PWD", "s3cret-pw-4217")
    rc, err, _ = _run("workarena", tmp_path, capsys, "--env-option", "probe_timeout_s=2")
    assert rc == 1 and "SNOW_INSTANCE_URL=http://127.0.0.1:9 is not reachable" in err
    assert "s3cret-pw-4217" not in err
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert "s3cret-pw-4217" not in path.read_text(errors="replace"), path


def test_webarena_verified_with_sites_runs_or_names_what_is_missing(
    no_settings, local_site, monkeypatch, tmp_path, capsys
) -> None:
    from lbi_icl.envs.browsergym import webarena

    for key in WA_SETTINGS:
        monkeypatch.setenv(key, local_site)
    # packaged tasks sign in through browsergym.webarena, which downloads punkt_tab on import
    monkeypatch.setattr(webarena, "nltk_punkt_available", lambda: False)
    with pytest.raises(SitesNotReadyError, match="punkt_tab"):
        WebArenaVerifiedEnv().check_ready()
    rc, err, episodes = _run("webarena_verified", tmp_path, capsys)
    assert rc == 1 and "nltk.downloader punkt_tab" in err
    assert not episodes.exists() or episodes.read_text() == ""
    monkeypatch.setattr(webarena, "nltk_punkt_available", lambda: True)
    WebArenaVerifiedEnv().check_ready()  # nothing left to refuse: episodes are scored


def test_own_configs_through_webarena_or_verified_only(tmp_path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps([]))
    with pytest.raises(ValueError, match="use --env webarena"):
        VisualWebArenaEnv(task_configs=path)
    assert WebArenaVerifiedEnv(task_configs=path).tasks("test") == []


def test_lbi_envs_json_shows_the_family_and_what_it_needs(capsys) -> None:
    assert cli_main(["envs", "--json", "--no-counts"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for name, settings in [("webarena", WA_SETTINGS), *SETTINGS.items()]:
        assert name in rows, name
        assert "setup-webarena.sh" in rows[name]["install_hint"]
        text = rows[name]["description"]
        assert all(key in text for key in settings) or name == "webarena_verified", name
    assert "WA_*" in rows["webarena_verified"]["description"]
