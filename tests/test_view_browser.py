"""The run viewer in a real headless Chromium (Debian's /usr/bin/chromium through
playwright): filters narrow the list, the paired view's one-click filter matches the
records, the episode page shows retrieved examples from the index, the prompt and the
model output, hostile text stays text; once from disk (file://) and once served. Issue 23
item 4: sorting by a column orders the rows (and survives a reload), full-text search finds
a string inside one step's observation and its link opens that step highlighted, charts
show the report's numbers, scores name their scorer; the listing of a folder of runs and
the comparison of two (counts checked against `lbi report A B`'s code); a live refresh
under `lbi view --serve` shows an episode appended while the page is open.
Screenshots are saved under the test's tmp folder and their paths printed."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from view_run import HOSTILE, MARKER, STRATEGIES, TASKS, hostile_episode, make_run, mark_step

from lbi_icl.envs.browsergym.launch import CHROMIUM_FLAGS
from lbi_icl.index import load_index
from lbi_icl.runner import latest_records
from lbi_icl.runner.results import episode_slug, is_finished
from lbi_icl.view import build_view, make_server
from lbi_icl.view.serve import viewer_url

pytestmark = [pytest.mark.babyai, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
# the offline launch flags BrowserGym envs use too (one list, in the web env)
FLAGS = list(CHROMIUM_FLAGS)


def _need_browser() -> None:
    """Skip on a machine without Chromium or playwright; in CI (CI set) that is a failure,
    since .ci/setup-view.sh installs both."""
    missing = None
    if not os.access(CHROMIUM, os.X_OK):
        missing = f"{CHROMIUM} is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = 'playwright is not installed (pip install -e ".[view]")'
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("viewrun")
    run = make_run(root)
    return run, hostile_episode(run)


@pytest.fixture(scope="module")
def browser():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


def _wait_loaded(page) -> None:
    page.wait_for_selector("body[data-loaded='all']", timeout=30_000)


def _rows(page, selector: str) -> list[dict[str, str]]:
    return page.eval_on_selector_all(selector, "els => els.map(e => Object.assign({}, e.dataset))")


def _norm(text: str) -> str:
    return " ".join(text.split())


def _count(page) -> int:
    return int(page.get_attribute("#match-count", "data-count"))


def test_viewer_in_chromium_from_disk(run_dir, browser, tmp_path):
    run, hostile_key = run_dir
    res = build_view(run)
    records = latest_records(run)
    assert res.episodes == len(records) == TASKS * len(STRATEGIES)
    assert res.examples > 0 and res.examples_note is None

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(res.index_html.resolve().as_uri())
    _wait_loaded(page)

    # -- the list and its filters
    assert len(_rows(page, "tr.episode-row")) == len(records)
    page.select_option("select[name=strategy]", "observation")
    rows = _rows(page, "tr.episode-row")
    assert len(rows) == TASKS and {r["strategy"] for r in rows} == {"observation"}
    page.select_option("select[name=strategy]", "")
    page.select_option("select[name=success]", "1")
    solved = sum(1 for r in records.values() if is_finished(r) and r.success)
    rows = _rows(page, "tr.episode-row")
    assert len(rows) == solved == _count(page) and all(r["success"] == "1" for r in rows)
    page.select_option("select[name=success]", "0")
    assert _count(page) == len(records) - solved
    page.select_option("select[name=success]", "")
    page.select_option("select[name=error]", "1")
    assert _count(page) == sum(1 for r in records.values() if not is_finished(r))
    page.select_option("select[name=error]", "")
    some_task = next(iter(records.values())).task_id
    n_strat = len(STRATEGIES)
    page.fill("input[name=task]", some_task)
    # (the page's CSP forbids eval, so waits use selectors, not wait_for_function)
    page.wait_for_selector(f"#match-count[data-count='{n_strat}']")
    page.screenshot(path=str(tmp_path / "viewer-list.png"), full_page=True)

    # -- the paired view: one click gives the discordant pairs the records say
    page.click("#nav-pairs")
    page.wait_for_selector("tr.pair-row")
    assert len(_rows(page, "tr.pair-row")) == TASKS
    cells = _rows(page, "tr.pair-row td.cell")
    assert len(cells) == TASKS * len(STRATEGIES)
    by_pair: dict[tuple[str, int], dict[str, bool]] = {}
    for r in records.values():
        if is_finished(r):
            by_pair.setdefault((r.task_id, r.seed), {})[r.strategy] = r.success
    wins = {
        s: sum(1 for v in by_pair.values() if v.get(s) and v.get("none") is False)
        for s in STRATEGIES[1:]
    }
    best = max(wins, key=lambda s: wins[s])
    assert wins[best] > 0, f"no strategy solved a pair that none failed: {wins}"
    quick = f"a.qlink[data-solved={best}][data-unsolved=none]"
    assert page.get_attribute(quick, "data-n") == str(wins[best])
    page.click(quick)
    page.wait_for_selector(f"a.qlink.on[data-solved={best}][data-unsolved=none]")
    assert _count(page) == wins[best] == len(page.query_selector_all("tr.pair-row"))
    for row in page.query_selector_all("tr.pair-row"):
        outcome = {
            c.get_attribute("data-strategy"): c.get_attribute("data-outcome")
            for c in row.query_selector_all("td.cell")
        }
        assert outcome[best] == "ok" and outcome["none"] == "no"
    page.screenshot(path=str(tmp_path / "viewer-pairs.png"), full_page=True)

    # -- an episode page: retrieved examples with their text, prompt, output
    rec = records[hostile_key]
    page.goto(res.index_html.resolve().as_uri() + "#/episode/" + episode_slug(rec.key))
    page.wait_for_selector("section.step")
    steps = [json.loads(x) for x in (run / rec.steps_log).read_text().splitlines()]
    assert len(page.query_selector_all("section.step")) == len(steps)
    first = page.query_selector("section.step[data-step='0']")
    hits = first.query_selector_all("table.retrieved tr.hit")
    assert [h.get_attribute("data-id") for h in hits] == [it["id"] for it in steps[0]["retrieved"]]
    assert hits, "the observation strategy retrieved nothing at step 0"
    index = load_index(run.parent / "index")
    example = index.get(steps[0]["retrieved"][0]["id"])
    window = first.query_selector("table.retrieved .example-window")
    window.evaluate("w => w.closest('details').open = true")
    assert example.instruction in window.inner_text()
    matched = window.query_selector("li.matched")
    assert matched is not None
    assert matched.get_attribute("data-step") == str(steps[0]["retrieved"][0]["matched_step"])
    assert first.query_selector("table.dropped tr.hit") is not None  # the budget-dropped hit
    prompt = first.query_selector("details.prompt")
    assert not prompt.evaluate("d => d.open")  # collapsed until asked
    prompt.evaluate("d => d.open = true")
    assert _norm(steps[0]["prompt"][-1]["content"])[:300] in _norm(prompt.inner_text())
    assert steps[0]["raw_output"] in first.query_selector("pre.raw").inner_text()
    # the prompt templates of the step: names with their sha256 prefix (lbi_icl/prompts)
    templates = first.query_selector("p.templates").inner_text()
    for name, sha in steps[0]["prompt_templates"].items():
        assert f"{name} {sha[:8]}" in templates
    assert "agent_system" in steps[0]["prompt_templates"]
    other = first.query_selector("details.other")
    assert "future_field" in other.text_content() and "<b>not bold</b>" in other.text_content()

    # hostile text is shown as text, never run or parsed as markup
    assert HOSTILE in first.query_selector("pre.obs-main").text_content()
    assert page.evaluate("window.__xss") is None
    assert page.query_selector("#app img") is None
    assert page.query_selector("#app b:text('not bold')") is None
    # a rag episode: its hits are documentation chunks, shown with their text
    rag = next(r for r in records.values() if r.strategy == "rag")
    page.goto(res.index_html.resolve().as_uri() + "#/episode/" + episode_slug(rag.key))
    page.wait_for_selector("section.step table.retrieved .example-window.doc", state="attached")
    hit = json.loads((run / rag.steps_log).read_text().splitlines()[0])["retrieved"][0]
    chunk = next(c for c in index.chunks if c.id == hit["id"])
    doc = page.query_selector("section.step table.retrieved .example-window.doc")
    assert _norm(chunk.text)[:200] in _norm(doc.text_content())
    page.goto(res.index_html.resolve().as_uri() + "#/episode/" + episode_slug(rec.key))
    page.wait_for_selector("section.step")
    shot = tmp_path / "viewer-episode.png"
    page.screenshot(path=str(shot), full_page=False)
    print(f"\nviewer screenshots: {tmp_path}/viewer-{{list,pairs,episode}}.png")
    art = os.environ.get("LBI_VIEW_ARTIFACTS")
    if art:  # keep them beyond pytest's tmp cleanup
        Path(art).mkdir(parents=True, exist_ok=True)
        for name in ("viewer-list.png", "viewer-pairs.png", "viewer-episode.png"):
            shutil.copy(tmp_path / name, Path(art) / name)
    assert not errors, errors
    page.close()


def test_viewer_served_on_loopback(run_dir, browser):
    run, _ = run_dir
    build_view(run)
    server = make_server(run, 0)
    assert server.server_address[0] == "127.0.0.1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page = browser.new_page()
        page.goto(viewer_url(server))
        _wait_loaded(page)
        assert len(_rows(page, "tr.episode-row")) == TASKS * len(STRATEGIES)
        page.click("tr.episode-row >> nth=0")
        page.wait_for_selector("section.step")
        # the raw-log link resolves on the server, as it does from disk
        link = page.get_attribute("a:text('raw step log')", "href")
        resp = page.request.get(page.url.split("#")[0].rsplit("/", 1)[0] + "/" + link)
        assert resp.status == 200 and '"step"' in resp.text()
        page.close()
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------ issue 23 item 4


@pytest.fixture(scope="module")
def marked(run_dir) -> tuple[Path, str, int]:
    run, _ = run_dir
    key, step = mark_step(run)
    return run, key, step


def _page(browser, errors: list[str]):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return page


def _ints(page, selector: str, attr: str) -> list[int]:
    return [int(r[attr]) for r in _rows(page, selector)]


def test_sort_search_step_links_charts_and_scorers(marked, browser, tmp_path):
    from lbi_icl.runner.report import build_report

    run, key, step = marked
    res = build_view(run)
    url = res.index_html.resolve().as_uri()
    records = latest_records(run)
    errors: list[str] = []
    page = _page(browser, errors)
    page.goto(url)
    _wait_loaded(page)

    # -- sorting by steps: numeric order, then reversed; the state is in the URL
    want = sorted(r.steps for r in records.values())
    assert len(set(want)) > 1 and want[0] < 10 <= want[-1]  # "10" < "9" as text: numbers
    page.click("#episodes th[data-sort=steps]")
    page.wait_for_selector("#episodes th.sorted-asc[data-sort=steps]")
    assert _ints(page, "tr.episode-row", "steps") == want
    page.click("#episodes th[data-sort=steps]")
    page.wait_for_selector("#episodes th.sorted-desc[data-sort=steps]")
    assert _ints(page, "tr.episode-row", "steps") == want[::-1]
    assert "sort=steps" in page.url and "dir=desc" in page.url
    page.goto(page.url)
    page.reload()
    _wait_loaded(page)
    assert _ints(page, "tr.episode-row", "steps") == want[::-1]  # restored from the hash
    scale = page.inner_text("#episodes th[data-sort=score]")
    assert "BabyAI reward, 0–1" in scale
    # the paired view sorts too: by task, descending
    page.goto(url + "#/pairs")
    _wait_loaded(page)
    page.click("#pairs th[data-sort=task]")
    page.click("#pairs th[data-sort=task]")
    page.wait_for_selector("#pairs th.sorted-desc[data-sort=task]")
    tasks = [r["task"] for r in _rows(page, "tr.pair-row")]
    assert tasks == sorted({r.task_id for r in records.values()}, reverse=True)

    # -- full-text search from the list page: the marker is in one step's observation only
    page.goto(url + "#/list")
    _wait_loaded(page)
    page.fill("input[name=q]", MARKER.upper())  # case-insensitive
    page.press("input[name=q]", "Enter")
    page.wait_for_selector(f"#search-count[data-query='{MARKER.upper()}']", timeout=30_000)
    assert page.get_attribute("#search-count", "data-count") == "1"
    hits = _rows(page, "tr.search-hit")
    slug = episode_slug(key)
    assert hits == [{"slug": slug, "step": str(step), "field": "observation"}]
    assert page.inner_text("tr.search-hit mark").lower() == MARKER.lower()
    page.screenshot(path=str(tmp_path / "viewer-search.png"), full_page=True)
    page.click("tr.search-hit a.step-link")
    page.wait_for_selector(f"section.step.target[data-step='{step}']")
    assert page.url.endswith(f"#/episode/{slug}/step/{step}")
    assert len(page.query_selector_all("section.step.target")) == 1
    box = page.eval_on_selector(
        "section.step.target",
        "e => { const r = e.getBoundingClientRect(); return [r.top, innerHeight]; }",
    )
    assert 0 <= box[0] < box[1], box  # scrolled to it
    assert MARKER in page.inner_text("section.step.target pre.obs-main")
    # every step links to itself; the link opens that step, highlighted
    links = page.eval_on_selector_all(
        "section.step",
        "els => els.map(e => [e.dataset.step, e.querySelector('a.steplink').getAttribute('href')])",
    )
    assert links and all(h == f"#/episode/{slug}/step/{n}" for n, h in links)
    page.click("section.step[data-step='0'] a.steplink")
    page.wait_for_selector("section.step.target[data-step='0']")
    assert page.get_attribute("body", "data-step") == "0"
    page.goto(url + f"#/episode/{slug}/step/1")  # a shared URL, opened fresh
    page.wait_for_selector("section.step.target[data-step='1']")
    page.screenshot(path=str(tmp_path / "viewer-step.png"))

    # -- search over retrieved example texts: the page counts what the data says
    from lbi_icl.view.examples import ExampleSource
    from lbi_icl.view.search import example_text, step_entries

    obs_rec = next(r for r in records.values() if r.strategy == "observation")
    first = json.loads((run / obs_rec.steps_log).read_text().splitlines()[0])
    index = load_index(run.parent / "index")
    query = index.get(first["retrieved"][0]["id"]).instruction
    source = ExampleSource(index)
    texts: dict[str, str] = {}
    expected = 0
    ql = query.lower()
    for rec in records.values():
        lines = (run / rec.steps_log).read_text().splitlines()
        for _n, obs, act, out, ids in step_entries([json.loads(x) for x in lines]):
            expected += sum(ql in t.lower() for t in (obs, act, out))
            for i in ids:
                if i not in texts:
                    texts[i] = example_text(source.lookup(i) or {})
                expected += ql in texts[i].lower()
    page.goto(url + "#/search?q=" + query.replace(" ", "%20"))
    page.wait_for_selector("#search-count[data-count]", timeout=30_000)
    assert int(page.get_attribute("#search-count", "data-count")) == expected > 0
    found = _rows(page, "tr.search-hit")
    assert any(h["field"] == "retrieved example" for h in found)
    if expected <= len(found):
        want = {"slug": episode_slug(obs_rec.key), "step": "0", "field": "retrieved example"}
        assert want in found

    # -- the scorer of every retrieved item: BM25 for observation hits, cosine for rag docs
    page.goto(url + "#/episode/" + episode_slug(obs_rec.key))
    page.wait_for_selector("section.step[data-step='0'] table.retrieved td.score")
    scorers = {
        c.get_attribute("data-scorer")
        for c in page.query_selector_all("section.step[data-step='0'] table.retrieved td.score")
    }
    assert scorers == {"BM25"}
    assert "BM25 · observation" in page.inner_text(
        "section.step[data-step='0'] table.retrieved td.score"
    )
    rag = next(r for r in records.values() if r.strategy == "rag")
    page.goto(url + "#/episode/" + episode_slug(rag.key))
    page.wait_for_selector("section.step table.retrieved td.score")
    assert "cosine · docs embedding" in page.inner_text("section.step table.retrieved td.score")
    assert "BabyAI reward, 0–1" in page.inner_text("section.episode-head")

    # -- charts: one SVG per measure, bars at the report's numbers
    page.goto(url + "#/summary")
    page.wait_for_selector("svg.chart[data-metric=success_rate] rect.bar")
    assert len(page.query_selector_all("svg.chart")) == 5
    rows = {r.strategy: r for r in build_report(run).strategies}
    for metric, field in (("success_rate", "success_rate"), ("mean_steps", "mean_steps")):
        bars = _rows(page, f"svg.chart[data-metric={metric}] rect.bar")
        got = {b["strategy"]: float(b["value"]) for b in bars}
        assert got == pytest.approx({s: getattr(r, field) for s, r in rows.items()})
    heights = page.eval_on_selector_all(
        "svg.chart[data-metric=mean_steps] rect.bar",
        "els => els.map(e => [e.dataset.value, e.getAttribute('height')])",
    )
    hi = max(heights, key=lambda x: float(x[0]))
    lo = min(heights, key=lambda x: float(x[0]))
    assert float(hi[1]) >= float(lo[1]) > 0
    assert page.query_selector("#app [style]") is None  # the CSP forbids inline style
    page.screenshot(path=str(tmp_path / "viewer-charts.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_listing_of_runs_and_comparison_in_chromium(browser, tmp_path):
    from view_pairs import RAG, make_pair

    from lbi_icl.runner.report_compare import compare_runs
    from lbi_icl.view import build_runs_view

    root = tmp_path / "runs"
    a, b = make_pair(root / "sweep")
    res = build_runs_view(root)
    errors: list[str] = []
    page = _page(browser, errors)
    page.goto(res.index_html.resolve().as_uri())
    page.wait_for_selector("tr.run-row")
    runs = _rows(page, "tr.run-row")
    assert [r["rel"] for r in runs] == ["sweep/a", "sweep/b"]
    assert [r["episodes"] for r in runs] == ["22", "22"]
    assert page.inner_text("tr.run-row[data-rel='sweep/a'] .chip[data-strategy=rag]").startswith(
        "rag 7/11"
    )
    # sorted by run, descending
    page.click("#runs th[data-sort=rel]")
    page.click("#runs th[data-sort=rel]")
    page.wait_for_selector("#runs th.sorted-desc[data-sort=rel]")
    assert [r["rel"] for r in _rows(page, "tr.run-row")] == ["sweep/b", "sweep/a"]
    page.screenshot(path=str(tmp_path / "viewer-runs.png"), full_page=True)
    # each run links to its own viewer, which loads from disk
    page.click("tr.run-row[data-rel='sweep/a'] a.run-link")
    _wait_loaded(page)
    assert page.url.endswith("/sweep/a/view/index.html")
    assert len(_rows(page, "tr.episode-row")) == 22

    # -- compare A rag with B rag: the counts `lbi report A B` computes
    page.goto(res.index_html.resolve().as_uri() + "#/compare?a=sweep/a&sa=rag&b=sweep/b&sb=rag")
    page.wait_for_selector("body[data-compared]")
    want = {r.strategy_a: r for r in compare_runs(a, b).rows}["rag"]
    assert want.both == RAG["both"]  # the hand-made answer, and the page agrees with both

    def counts() -> dict[str, int]:
        return {r["class"]: int(r["n"]) for r in _rows(page, "#counts a.qlink")}

    assert counts() == {"both": 2, "only_a": 4, "only_b": 1, "neither": 2}
    assert page.get_attribute("#shared", "data-pairs") == "9"
    ns = _rows(page, "#not-shared")[0]
    assert (ns["a"], ns["b"], ns["aErrors"], ns["bErrors"]) == ("2", "1", "0", "1")
    page.click("#counts a.qlink[data-class=only_a]")
    page.wait_for_selector("#counts a.qlink.on[data-class=only_a]")
    rows = _rows(page, "tr.cmp-row")
    assert _count(page) == 4 and {r["class"] for r in rows} == {"only_a"}
    assert sorted(r["task"] for r in rows) == ["t2", "t3", "t4", "t5"]
    page.click("#cmp th[data-sort=task]")
    page.click("#cmp th[data-sort=task]")
    page.wait_for_selector("#cmp th.sorted-desc[data-sort=task]")
    assert [r["task"] for r in _rows(page, "tr.cmp-row")] == ["t5", "t4", "t3", "t2"]
    page.screenshot(path=str(tmp_path / "viewer-compare.png"), full_page=True)
    # cells link to the episode pages in each run's viewer
    link = page.get_attribute("tr.cmp-row[data-task=t3] td.cell >> nth=1 >> a", "href")
    assert link.startswith("../sweep/b/view/index.html#/episode/")
    page.click("tr.cmp-row[data-task=t3] td.cell >> nth=0 >> a")
    page.wait_for_selector("section.step")
    assert "/sweep/a/view/index.html#/episode/" in page.url
    assert "rag" in page.inner_text("section.episode-head")

    # another pair of strategies through the pickers: A rag against B none
    page.goto(res.index_html.resolve().as_uri() + "#/compare?a=sweep/a&sa=rag&b=sweep/b&sb=rag")
    page.wait_for_selector("body[data-compared]")
    page.select_option("select[name=sb]", "none")
    page.wait_for_selector("body[data-compared$='sweep/b:none']")
    cross = compare_runs(a, b, [("rag", "none")]).rows[0]
    assert counts() == {
        "both": cross.both,
        "only_a": cross.only_a,
        "only_b": cross.only_b,
        "neither": cross.neither,
    }
    assert not errors, errors
    page.close()


def test_live_refresh_under_serve(browser, tmp_path):
    """`lbi view FOLDER --serve`: the folder is served; an episode appended to a run while
    its page is open shows up there and in the listing without a reload."""
    import signal
    import subprocess
    import sys

    from view_pairs import make_pair, write_episode

    from lbi_icl.util.lifetime import interruptible_child

    root = tmp_path / "runs"
    a, _ = make_pair(root)
    cmd = [sys.executable, "-m", "lbi_icl", "view", str(root), "--serve", "--no-progress"]
    cmd += ["--interval", "0.3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, preexec_fn=interruptible_child)
    errors: list[str] = []
    try:
        url = None
        for line in proc.stdout:
            if line.startswith("serving "):
                url = line.split()[1]
                break
        assert url and url.startswith("http://127.0.0.1:") and "live" in line
        listing = _page(browser, errors)
        listing.goto(url)
        listing.wait_for_selector("body[data-live=on] tr.run-row[data-rel=a][data-episodes='22']")
        page = _page(browser, errors)
        page.goto(url.replace("/view/index.html", "/a/view/index.html"))
        _wait_loaded(page)
        page.wait_for_selector("body[data-live=on]")
        assert _count(page) == 22
        write_episode(a, "a", "none", "t77", "ok")
        page.wait_for_selector("body[data-episodes='23']", timeout=40_000)
        page.wait_for_selector("#match-count[data-count='23']", timeout=20_000)
        assert page.query_selector("tr.episode-row[data-slug*='t77']") is not None
        assert "updated" in page.inner_text("#live")
        listing.wait_for_selector("tr.run-row[data-rel=a][data-episodes='23']", timeout=40_000)
        page.close()
        listing.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert "live: runs:" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not errors, errors
