/* lbi run viewer: a static page over the data shards written by `lbi view`.
 *
 * Data files are scripts that call lbiData(name, jsonString); the string is given to
 * JSON.parse, never evaluated (see lbi_icl/view/shards.py). Every run-provided text reaches
 * the page through textContent / attribute setters, never innerHTML, so observations from
 * web pages cannot inject markup or script.
 *
 * Routes: #/list (episodes, sortable), #/pairs (paired view), #/summary (charts),
 * #/search?q= (full text), #/episode/SLUG and #/episode/SLUG/step/N (a shareable step).
 */
"use strict";

(function () {
  const { load, reload, forgetOldSteps, registry, el, clear, fmt, SAFE_SLUG, SAFE_REL, parseRoute, episodeHref } =
    window.LBI;

  // ------------------------------------------------------------------ state
  const S = { meta: null, rows: [], shardsLoaded: 0, allLoaded: null, route: null, episode: null };

  function setStatus(text) {
    document.getElementById("status").textContent = text;
  }

  function rowFromArray(a) {
    return {
      strategy: S.meta.strategies[a[0]],
      strategyRank: a[0],
      task: a[1],
      seed: a[2],
      success: a[3] === 1,
      score: a[4],
      steps: a[5],
      tin: a[6],
      tout: a[7],
      cost: a[8],
      stop: a[9],
      error: a[10],
      slug: a[11],
      seconds: a[12],
    };
  }

  // All shards are requested at once; rows are kept in shard order (a shard holds whole
  // (task, seed) groups, so any subset of shards is still correctly grouped). `fresh`: a
  // live reload (new query strings; the rows on screen are replaced once all are in).
  function loadShards(fresh) {
    if (S.allLoaded && !fresh) return S.allLoaded;
    const meta = S.meta;
    const shards = meta.shards;
    const parts = new Array(shards.length);
    S.shardsLoaded = 0;
    if (!shards.length) {
      S.rows = [];
      onShard();
    }
    const get = (name, src) => (fresh ? reload(name, src, meta.generated_at) : load(name, src));
    S.allLoaded = Promise.all(
      shards.map((sh, i) =>
        get("episodes:" + i, sh.file).then((rows) => {
          if (S.meta !== meta) return; // a newer build arrived meanwhile
          parts[i] = rows.map(rowFromArray);
          registry.delete("episodes:" + i);
          S.shardsLoaded += 1;
          if (!fresh || S.shardsLoaded === shards.length) S.rows = parts.filter(Boolean).flat();
          onShard();
        })
      )
    );
    return S.allLoaded;
  }

  let shardRefresh = null;
  let refreshTimer = null;
  function onShard() {
    const total = S.meta.shards.length;
    setStatus(S.shardsLoaded < total ? `loading episodes ${S.shardsLoaded}/${total}` : "");
    document.body.dataset.shards = String(S.shardsLoaded);
    const last = S.shardsLoaded === total;
    // redraw at most every 200 ms while shards arrive, and once when all are in
    if (!last && refreshTimer) return;
    clearTimeout(refreshTimer);
    refreshTimer = last ? null : setTimeout(() => {
      refreshTimer = null;
      if (shardRefresh) shardRefresh();
    }, 200);
    if (!last) return;
    if (shardRefresh) shardRefresh();
    document.body.dataset.loaded = "all";
    if (window.performance && performance.mark) performance.mark("lbi-all-loaded");
  }

  // ------------------------------------------------------------------ routing
  const NAV = { list: "nav-list", pairs: "nav-pairs", summary: "nav-summary", search: "nav-search" };

  function render() {
    const app = document.getElementById("app");
    const r = parseRoute();
    const prev = S.route;
    S.route = r;
    if (r.view === "episode" && prev && prev.view === "episode" && prev.arg === r.arg && S.episode === r.arg) {
      highlightStep(r.sub === "step" ? r.subArg : null, true); // same episode: just go to the step
      return;
    }
    S.episode = null;
    shardRefresh = null;
    for (const id of Object.values(NAV)) document.getElementById(id).classList.remove("on");
    const view = NAV[r.view] ? r.view : r.view === "episode" ? "episode" : "list";
    if (NAV[view]) document.getElementById(NAV[view]).classList.add("on");
    clear(app);
    if (view === "episode") return renderEpisode(app, r.arg, r.sub === "step" ? r.subArg : null);
    if (view === "pairs") shardRefresh = window.LBIList.renderPairs(app, r.params, S);
    else if (view === "summary") window.LBICharts.renderSummary(app, S.meta);
    else if (view === "search") window.LBISearch.render(app, r.params, S);
    else shardRefresh = window.LBIList.renderList(app, r.params, S);
  }

  // ------------------------------------------------------------------ episode page
  function highlightStep(n, scroll) {
    for (const old of document.querySelectorAll("section.step.target")) old.classList.remove("target");
    if (n === null || n === undefined || n === "") {
      delete document.body.dataset.step;
      return;
    }
    const node = document.getElementById("step-" + n);
    if (!node) return;
    node.classList.add("target");
    document.body.dataset.step = String(n);
    if (scroll) node.scrollIntoView({ block: "start" });
  }

  async function renderEpisode(app, slug, step) {
    if (!SAFE_SLUG.test(slug)) {
      app.appendChild(el("p", { class: "error" }, "not an episode id: " + slug));
      return;
    }
    app.appendChild(el("p", { class: "muted" }, "loading episode…"));
    let ep;
    try {
      const name = "steps:" + slug;
      ep = await load(name, "data/steps/" + slug + ".js");
      forgetOldSteps(name);
    } catch (e) {
      clear(app);
      app.appendChild(el("p", { class: "error" }, String(e.message || e)));
      return;
    }
    const examples = await loadExamples(ep.steps);
    if (S.route.view !== "episode" || S.route.arg !== slug) return; // navigated away
    clear(app);
    ep.slug = slug;
    window.EpisodeView.render(app, ep, examples, { el, fmt, episodeHref, SAFE_REL, meta: S.meta });
    S.episode = slug;
    document.body.dataset.episode = slug;
    const want = S.route.sub === "step" ? S.route.subArg : step;
    if (want !== null && want !== undefined && want !== "") highlightStep(want, true);
    else {
      highlightStep(null);
      window.scrollTo(0, 0);
    }
  }

  function fnv1a(text) {
    let h = 0x811c9dc5;
    for (const byte of new TextEncoder().encode(text)) {
      h ^= byte;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h >>> 0;
  }

  async function loadExamples(steps) {
    const buckets = S.meta.examples.buckets;
    const found = new Map();
    if (!buckets) return found;
    const ids = new Set();
    for (const st of steps) {
      for (const field of ["retrieved", "dropped"]) {
        if (Array.isArray(st[field])) for (const it of st[field]) if (it && it.id) ids.add(String(it.id));
      }
    }
    const want = new Map();
    for (const id of ids) {
      const b = fnv1a(id) % buckets;
      if (!want.has(b)) want.set(b, []);
      want.get(b).push(id);
    }
    await Promise.all(
      [...want.entries()].map(async ([b, list]) => {
        const name = "examples:" + b;
        try {
          const data = await load(name, "data/examples/" + String(b).padStart(3, "0") + ".js");
          for (const id of list) if (Object.prototype.hasOwnProperty.call(data, id)) found.set(id, data[id]);
        } catch (e) {
          console.warn(e);
        }
      })
    );
    return found;
  }

  // ------------------------------------------------------------------ live (served over http)
  async function onNewMeta(meta) {
    const examplesChanged = meta.examples.buckets !== S.meta.examples.buckets;
    S.meta = meta;
    showTitle();
    if (examplesChanged) for (const k of [...registry.keys()]) if (k.startsWith("examples:")) registry.delete(k);
    await loadShards(true);
    if (S.route.view !== "episode") render(); // an open episode page stays as it is
  }

  function showTitle() {
    const m = S.meta;
    const title = [m.run.dir, [m.run.env, m.run.split].filter(Boolean).join(" / "), m.run.label]
      .filter(Boolean)
      .join(" — ");
    document.getElementById("run-title").textContent = title;
    document.title = "lbi view — " + m.run.dir;
    document.body.dataset.episodes = String(m.counts.episodes);
  }

  // ------------------------------------------------------------------ start
  async function start() {
    try {
      S.meta = await load("meta", "data/meta.js");
    } catch (e) {
      clear(document.getElementById("app"));
      document.getElementById("app").appendChild(
        el("p", { class: "error" }, "No viewer data next to this page: run `lbi view RUN_DIR`.")
      );
      return;
    }
    const m = S.meta;
    showTitle();
    if (!m.run.report) document.getElementById("nav-report").remove();
    if (!m.search) document.getElementById("nav-search").remove();
    window.addEventListener("hashchange", render);
    if (m.shards.length) {
      // first paint from shard 0 alone; the rest load after it, in the background
      const rows0 = await load("episodes:0", m.shards[0].file).catch(() => []);
      S.rows = rows0.map(rowFromArray);
    }
    render();
    document.body.dataset.ready = "1";
    if (window.performance && performance.mark) performance.mark("lbi-first-render");
    loadShards(false).catch((e) => setStatus(String(e.message || e)));
    window.LBILive.start(() => S.meta, onNewMeta);
  }

  window.LBIView = { load, el, fmt, state: S };
  document.addEventListener("DOMContentLoaded", start);
})();
