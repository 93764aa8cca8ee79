"""`lbi view` without a browser: data shards parse as data, the build is incremental,
tolerates odd step logs, explains a missing index, and bad input fails with file:line."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_runner_helpers import FakeEpisode, make_tasks

from lbi_icl.cli import main as cli_main
from lbi_icl.runner import RunConfig, latest_records, run_experiment
from lbi_icl.view import build_view, make_server
from lbi_icl.view.serve import viewer_url
from lbi_icl.view.shards import bucket_of, fnv1a, shard_text

SHARD = re.compile(r'^lbiData\(("(?:[^"\\]|\\.)*"),("(?:[^"\\]|\\.)*")\);\n$')


def read_shard(path: Path) -> tuple[str, object]:
    """Parse a shard the way the page does: one call, a name and a JSON string."""
    m = SHARD.match(path.read_text())
    assert m, f"{path} is not exactly one lbiData(name, string) call"
    return json.loads(m.group(1)), json.loads(json.loads(m.group(2)))


def _fake_run(tmp_path: Path, tasks: int = 4) -> Path:
    cfg = RunConfig(
        env="fake",
        out=tmp_path / "run",
        strategies=["none", "rag"],
        seeds=2,
        index=tmp_path / "idx",
    )
    run_experiment(cfg, tasks=make_tasks(tasks), episode_fn=FakeEpisode(), show_progress=False)
    return cfg.out


def test_shard_is_one_call_with_an_escaped_json_string():
    hostile = {"o": '</script><script>alert(1)</script>"\\\u2028\n', "n": float("nan")}
    text = shard_text("steps:x", hostile)
    assert "</script>" not in text and "\u2028" not in text and text.isascii()
    m = SHARD.match(text)
    assert m is not None
    assert json.loads(json.loads(m.group(2))) == {"o": hostile["o"], "n": None}


def test_fnv1a_matches_the_reference_values():
    # FNV-1a 32-bit test vectors; viewer.js computes the same function
    assert fnv1a("") == 0x811C9DC5
    assert fnv1a("a") == 0xE40C292C
    assert fnv1a("foobar") == 0xBF9CF968
    assert 0 <= bucket_of("é/ü", 7) < 7


def test_build_writes_shards_steps_and_pair_counts(tmp_path):
    run = _fake_run(tmp_path)
    res = build_view(run, shard_size=5)
    recs = latest_records(run)
    assert res.episodes == len(recs) == 16
    assert res.examples_note and "not found" in res.examples_note  # the fake index is absent
    for name in ("index.html", "lib.js", "viewer.js", "episode.js", "viewer.css"):
        assert (res.out / name).is_file()
    _, meta = read_shard(res.out / "data" / "meta.js")
    assert meta["strategies"] == ["none", "rag"]
    rows = []
    for shard in meta["shards"]:
        _, part = read_shard(res.out / shard["file"])
        # groups of 2 are never split: 5 rows would cut one, so shards hold 4
        assert len(part) == shard["rows"] == 4
        rows += part
    assert len(rows) == 16 and len(meta["shards"]) == 4
    cols = meta["columns"]
    assert {(meta["strategies"][r[0]], r[cols.index("task")], r[2]) for r in rows} == {
        (r.strategy, r.task_id, r.seed) for r in recs.values()
    }
    done = {(r.task_id, r.seed, r.strategy): r.success for r in recs.values()}
    want = sum(
        1 for (t, s, st), ok in done.items() if st == "rag" and ok and not done[(t, s, "none")]
    )
    assert meta["discordant"]["rag>none"] == want
    rec = next(iter(recs.values()))
    slug = rows[0][cols.index("slug")]
    name, ep = read_shard(res.out / "data" / "steps" / f"{slug}.js")
    assert name == f"steps:{slug}"
    rec = next(r for r in recs.values() if r.steps_log.endswith(f"{slug}.jsonl"))
    assert len(ep["steps"]) == len((run / rec.steps_log).read_text().splitlines())
    assert {s["strategy"] for s in ep["siblings"]} == {"none", "rag"}


def test_rebuild_is_incremental_and_tolerates_bad_step_lines(tmp_path):
    run = _fake_run(tmp_path, tasks=2)
    first = build_view(run)
    assert first.step_files_written == 8 and first.step_files_kept == 0
    again = build_view(run)
    assert again.step_files_written == 0 and again.step_files_kept == 8
    rec = next(iter(latest_records(run).values()))
    log = run / rec.steps_log
    good = log.read_text().splitlines()[0]
    extra = json.loads(good) | {"dropped": [{"id": "ex-1", "score": 0.5}], "new_field": [1]}
    log.write_text(json.dumps(extra) + "\nnot json\n" + good + '\n{"torn')
    third = build_view(run)
    assert third.step_files_written == 1 and third.step_files_kept == 7
    slug = Path(rec.steps_log).stem
    _, ep = read_shard(run / "view" / "data" / "steps" / f"{slug}.js")
    assert [s.get("new_field") for s in ep["steps"]] == [[1], None]
    assert ep["steps"][0]["dropped"][0]["id"] == "ex-1"
    assert any(":2: invalid JSON" in p for p in ep["problems"])
    assert any(":4: " in p and "torn last line" in p for p in ep["problems"])
    # U+2028 / U+2029 (written raw: JSON allows them) are text, not line breaks
    odd = json.loads(good) | {"observation": "a\u2028b\u2029c\x1cd\x85e"}
    log.write_text(json.dumps(odd, ensure_ascii=False) + "\n" + good + "\n")
    build_view(run)
    _, ep = read_shard(run / "view" / "data" / "steps" / f"{slug}.js")
    assert ep["problems"] == [] and len(ep["steps"]) == 2
    assert ep["steps"][0]["observation"] == "a\u2028b\u2029c\x1cd\x85e"


def test_cli_view_and_bad_input(tmp_path, capsys):
    run = _fake_run(tmp_path, tasks=1)
    assert cli_main(["view", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert str(run / "view" / "index.html") in out and "file://" in out
    assert cli_main(["view", str(tmp_path / "nope")]) == 1
    assert "no such run directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli_main(["view", str(tmp_path / "empty")]) == 1
    assert "not a run directory" in capsys.readouterr().err
    with (run / "episodes.jsonl").open("a") as f:
        f.write('{"key": 3}\n{"key": "x"}\n')
    assert cli_main(["view", str(run)]) == 1
    err = capsys.readouterr().err
    assert "episodes.jsonl:" in err and "not an episode record" in err


def test_readers_of_a_run_stay_inside_it(tmp_path, capsys):
    """A steps_log / trajectory_file pointing outside the run (absolute, `..`, or a symlink)
    is never read: view and export refuse or record the problem, and copy nothing."""
    run = _fake_run(tmp_path, tasks=1)
    secret = tmp_path / "secret.txt"
    secret.write_text('{"observation": "SECRET-CONTENT"}\n')
    rec = next(iter(latest_records(run).values()))
    log = run / rec.steps_log
    log.unlink()
    log.symlink_to(secret)  # planted inside the run dir, pointing out
    assert cli_main(["view", str(run), "--no-progress"]) == 0
    slug = Path(rec.steps_log).stem
    _, ep = read_shard(run / "view" / "data" / "steps" / f"{slug}.js")
    assert ep["steps"] == [] and "leads outside the run directory" in ep["problems"][0]
    view_text = "".join(p.read_text() for p in (run / "view").rglob("*.js"))
    assert "SECRET-CONTENT" not in view_text
    out = tmp_path / "x.jsonl"
    assert rec.trajectory_file is not None
    (run / rec.trajectory_file).unlink()
    (run / rec.trajectory_file).symlink_to(secret)
    assert cli_main(["export", str(run), "--out", str(out), "--all"]) == 1
    assert "leads outside the run directory" in capsys.readouterr().err
    # a record naming a path outside is refused where the record is read, with its line
    lines = (run / "episodes.jsonl").read_text().splitlines()
    bad = json.loads(lines[0]) | {"steps_log": "../secret.txt", "trajectory_file": "/etc/passwd"}
    (run / "episodes.jsonl").write_text("\n".join([json.dumps(bad), *lines[1:]]) + "\n")
    for argv in (["view", str(run)], ["export", str(run), "--out", str(out)]):
        assert cli_main(argv) == 1
        err = capsys.readouterr().err
        assert "episodes.jsonl:1" in err and "inside the run directory" in err


def test_server_serves_the_run_on_loopback_only(tmp_path):
    import threading

    run = _fake_run(tmp_path, tasks=1)
    with pytest.raises(FileNotFoundError, match="build the viewer first"):
        make_server(run)
    build_view(run)
    server = make_server(run)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        assert server.server_address[0] == "127.0.0.1"
        url = viewer_url(server)
        with urllib.request.urlopen(url) as r:
            assert r.status == 200 and b"viewer.js" in r.read()
        with urllib.request.urlopen(url.replace("index.html", "data/meta.js")) as r:
            assert r.headers["Content-Type"].startswith("text/javascript")
            assert r.headers["X-Content-Type-Options"] == "nosniff"
        # DNS rebinding: a page on evil.example whose name resolves to 127.0.0.1
        port = server.server_address[1]
        for host in (f"evil.example:{port}", "127.0.0.1", ""):
            req = urllib.request.Request(url, headers={"Host": host})
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(req)
            assert err.value.code == 421
        req = urllib.request.Request(url, headers={"Host": f"localhost:{port}"})
        with urllib.request.urlopen(req) as r:
            assert r.status == 200
    finally:
        server.shutdown()
        server.server_close()


def test_viewer_benchmark_smoke(tmp_path):
    """benchmarks/viewer/bench_viewer.py at 50 episodes (build only), so it cannot rot."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, str(root / "benchmarks" / "viewer" / "bench_viewer.py")]
    cmd += ["--episodes", "50", "--no-browser", "--keep", str(tmp_path / "b")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "synthetic run: 50 episodes" in proc.stdout
    assert "unchanged rebuild" in proc.stdout and "(50 step files kept)" in proc.stdout
    assert (tmp_path / "b" / "run" / "view" / "data" / "meta.js").exists()


def test_cli_serve_answers_on_loopback_and_stops_on_ctrl_c(tmp_path):
    import signal
    import subprocess
    import sys

    from lbi_icl.util.lifetime import interruptible_child

    run = _fake_run(tmp_path, tasks=1)
    cmd = [sys.executable, "-m", "lbi_icl", "view", str(run), "--serve", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, preexec_fn=interruptible_child)
    try:
        url = None
        for line in proc.stdout:
            if line.startswith("serving "):
                url = line.split()[1]
                break
        assert url and url.startswith("http://127.0.0.1:") and url.endswith("/view/index.html")
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------ issue 23 item 4


def test_folder_of_runs_lists_each_and_writes_outcome_tables(tmp_path, capsys):
    from view_pairs import PLAN, make_pair

    from lbi_icl.view import build_runs_view, find_runs

    root = tmp_path / "runs"
    a, b = make_pair(root / "sweep")
    deep = root / "x" / "y"
    deep.mkdir(parents=True)
    (root / "x" / "index").mkdir()  # an index folder: a manifest.json, but not a run's
    index_manifest = {"format_version": 1, "embedder": {"id": "h"}, "config": {"m": 1}}
    (root / "x" / "index" / "manifest.json").write_text(json.dumps(index_manifest))
    c = _fake_run(deep)  # deep/run
    assert find_runs(root) == [a, b, c]
    res = build_runs_view(root)
    assert res.runs == [a, b, c] and res.built == 3 and not res.failed
    assert (root / "view" / "index.html").read_text().count("runs.js") == 1
    _, meta = read_shard(root / "view" / "data" / "meta.js")
    assert meta["kind"] == "runs" and [r["rel"] for r in meta["runs"]] == [
        "sweep/a",
        "sweep/b",
        "x/y/run",
    ]
    ra = meta["runs"][0]
    assert ra["href"] == "../sweep/a/view/index.html"
    assert (root / "sweep/a/view/index.html").is_file()
    assert ra["env"] == "babyai" and ra["split"] == "test" and ra["strategies"] == ["none", "rag"]
    assert ra["label"].startswith("retrieval-only") and ra["started_at"].startswith("2026-12-01")
    assert ra["per_strategy"]["rag"]["successes"] == 7
    assert ra["per_strategy"]["rag"]["finished"] == 11
    assert ra["counts"]["episodes"] == 22
    # the outcome table the comparison page reads: report_compare.outcome codes
    _, table = read_shard(root / "view" / ra["outcomes"])
    assert table["strategies"] == ["none", "rag"]
    codes = {(t, s): c for t, s, c, _ in table["rows"]}
    want = {"ok": 1, "no": 0, "err": -1}
    for task, result in PLAN["a"]["rag"].items():
        assert codes[(task, 0)][1] == want[result]
    _, tb = read_shard(root / "view" / meta["runs"][1]["outcomes"])
    assert {(t, s): c[1] for t, s, c, _ in tb["rows"]}[("t9", 0)] == -1
    assert {(t, s): c[0] for t, s, c, _ in tb["rows"]}[("t9", 0)] == 0
    slug = table["rows"][0][3][1]
    assert (root / "sweep" / "a" / "view" / "data" / "steps" / f"{slug}.js").is_file()

    # the CLI: a folder of runs (the quickstart's layout: runs/quickstart/run)
    assert cli_main(["view", str(root), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"runs: {root / 'view' / 'index.html'} (3 run(s)" in out
    # a run that cannot be read is listed with its problem; the others still are
    (b / "episodes.jsonl").write_text('{"key": 1}\n')
    assert cli_main(["view", str(root), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "1 not built" in out and "note: sweep/b:" in out
    _, meta = read_shard(root / "view" / "data" / "meta.js")
    assert meta["runs"][1]["error"] and "outcomes" not in meta["runs"][1]


def test_folder_without_runs_is_a_one_line_error(tmp_path, capsys):
    empty = tmp_path / "nothing here"
    (empty / "index").mkdir(parents=True)
    (empty / "index" / "manifest.json").write_text('{"embedder": {}, "config": {"a": 1}}')
    (empty / "notes").mkdir()
    assert cli_main(["view", str(empty)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(empty) in err and "no runs found inside it" in err
    assert not (empty / "view").exists()


def test_search_shards_hold_every_step_and_change_only_when_text_does(tmp_path, monkeypatch):
    from view_pairs import MARKER, make_pair, write_episode

    from lbi_icl.view import search as search_mod

    a, _ = make_pair(tmp_path)
    monkeypatch.setattr(search_mod, "SHARD_CHARS", 2000)  # several shards
    res = build_view(a)
    _, meta = read_shard(a / "view" / "data" / "meta.js")
    files = meta["search"]["steps"]
    assert len(files) > 2 and meta["search"]["examples"] == []  # no index: no example texts
    entries = []
    for f in files:
        name, shard = read_shard(a / "view" / f["file"])
        assert name == "search:" + Path(f["file"]).stem and len(shard["steps"]) == f["steps"]
        for ep, n, obs, act, out, ids in shard["steps"]:
            slug, strategy, task, _seed = shard["episodes"][ep]
            entries.append((slug, n, obs, act, out, ids, meta["strategies"][strategy], task))
    recs = latest_records(a)
    assert len(entries) == res.search_entries == sum(r.steps for r in recs.values())
    hits = [e for e in entries if MARKER in e[2]]
    assert len(hits) == 1
    slug, n, obs, act, out, ids, strategy, task = hits[0]
    assert (strategy, task, n) == ("rag", "t3", 1) and act == "go forward"
    assert out == "Action: go forward 1" and ids == ["doc-t3"]
    step_file = a / "view" / "data" / "steps" / f"{slug}.js"
    assert MARKER in read_shard(step_file)[1]["steps"][1]["observation"]
    # an unchanged rebuild writes no search shard; a new episode rewrites only what moved
    assert build_view(a).step_files_written == 0
    _, meta2 = read_shard(a / "view" / "data" / "meta.js")
    assert meta2["search"]["written"] == 0 and meta2["search"]["steps"] == files
    write_episode(a, "a", "rag", "t99", "ok")  # sorts last: only the last shard changes
    build_view(a)
    _, meta3 = read_shard(a / "view" / "data" / "meta.js")
    assert 1 <= meta3["search"]["written"] <= 2
    # built without search: no search data, and the page says so (meta.search is null)
    build_view(a, search=False)
    _, meta4 = read_shard(a / "view" / "data" / "meta.js")
    assert meta4["search"] is None and not (a / "view" / "data" / "search").exists()


def test_example_texts_are_searchable():
    from lbi_icl.view.search import example_text, step_entries

    ex = {
        "kind": "example",
        "instruction": "open the door",
        "steps": [["a locked door", "toggle"]],
        "final": "done",
    }
    assert example_text(ex) == "open the door\na locked door\n> toggle\ndone"
    assert example_text({"kind": "document", "title": "Doors", "text": "keys open"}) == (
        "Doors\nkeys open"
    )
    steps = [{"step": 4, "observation": None, "action": {"x": 1}, "retrieved": [{"id": 3}]}, 7]
    assert step_entries(steps) == [[4, "", '{"x": 1}', "", ["3"]]]


def test_meta_labels_score_scales_scorers_and_chart_means(tmp_path):
    from view_pairs import make_pair

    from lbi_icl.runner.report import build_report
    from lbi_icl.view.scales import score_label, scorer_labels

    assert score_label("scienceworld").startswith("ScienceWorld score, 0–100")
    assert score_label("babyai") == "BabyAI reward, 0–1" and score_label("mine") == "score"
    assert scorer_labels({})["parts"]["observation"][0] == "BM25"
    assert scorer_labels({})["parts"]["instruction"][0] == "cosine"
    assert scorer_labels({})["rrf_strategies"] == []
    assert scorer_labels({"fusion": "rrf"})["rrf_strategies"] == ["rag", "agentic"]
    a, _ = make_pair(tmp_path)
    build_view(a)
    _, meta = read_shard(a / "view" / "data" / "meta.js")
    assert meta["run"]["score_label"] == "BabyAI reward, 0–1"
    assert meta["run"]["scorers"]["parts"]["model"][1] == "model-query embedding"
    rows = {r.strategy: r for r in build_report(a).strategies}
    for s, st in meta["per_strategy"].items():
        r = rows[s]
        assert st["success_rate"] == pytest.approx(r.success_rate)
        assert st["mean_steps"] == pytest.approx(r.mean_steps)
        assert st["tokens_in"] == pytest.approx(r.input_tokens_per_episode)
        assert st["tokens_out"] == pytest.approx(r.output_tokens_per_episode)
        assert st["cost"] is None and st["cost_known"] == 0
    assert meta["per_strategy"]["rag"]["success_rate"] == pytest.approx(7 / 11)


def test_live_rebuilder_rebuilds_when_episodes_are_appended(tmp_path):
    import time

    from view_pairs import make_pair, write_episode

    from lbi_icl.view.live import LiveRebuilder

    a, _ = make_pair(tmp_path)
    build_view(a)
    said: list[str] = []

    def rebuild() -> str:
        return f"{build_view(a).episodes} episodes"

    live = LiveRebuilder(lambda: [a], rebuild, interval=0.05, report=said.append)
    live.start()
    try:
        time.sleep(0.3)
        assert live.rebuilds == 0  # nothing changed: nothing rebuilt
        write_episode(a, "a", "none", "t42", "ok")
        deadline = time.monotonic() + 30
        while live.rebuilds == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        live.stop()
        live.join(5)
    assert said and said[-1] == "live: 23 episodes"
    _, meta = read_shard(a / "view" / "data" / "meta.js")
    assert meta["counts"]["episodes"] == 23


def test_report_html_links_resolve_to_the_view_it_writes(tmp_path, capsys):
    from lbi_icl.runner.results import episode_slug

    run = _fake_run(tmp_path, tasks=2)
    assert cli_main(["report", str(run), "--format", "html"]) == 0
    out = capsys.readouterr().out
    assert f"viewer: {run / 'view' / 'index.html'}" in out
    page = (run / "report.html").read_text()
    links = re.findall(r'href="view/index\.html#/episode/([^"]+)"', page)
    recs = latest_records(run)
    assert sorted(set(links)) == sorted(episode_slug(k) for k in recs)
    for slug in links:
        assert (run / "view" / "data" / "steps" / f"{slug}.js").is_file()
    assert ".jsonl" not in "".join(re.findall(r'href="([^"]+)"', page))
