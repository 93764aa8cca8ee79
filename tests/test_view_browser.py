"""The run viewer in a real headless Chromium (Debian's /usr/bin/chromium through
playwright): filters narrow the list, the paired view's one-click filter matches the
records, the episode page shows retrieved examples from the index, the prompt and the
model output, hostile text stays text; once from disk (file://) and once served.
Screenshots are saved under the test's tmp folder and their paths printed."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from view_run import HOSTILE, STRATEGIES, TASKS, hostile_episode, make_run

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
