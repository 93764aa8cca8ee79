/* lbi run viewer: a static page over the data shards written by `lbi view`.
 *
 * Data files are scripts that call lbiData(name, jsonString); the string is given to
 * JSON.parse, never evaluated (see lbi_icl/view/shards.py). Every run-provided text reaches
 * the page through textContent / attribute setters, never innerHTML, so observations from
 * web pages cannot inject markup or script.
 */
"use strict";

(function () {
  const { load, forgetOldSteps, registry, el, append, clear, fmt, SAFE_SLUG, SAFE_REL } =
    window.LBI;

  // ------------------------------------------------------------------ state
  const S = { meta: null, rows: [], shardsLoaded: 0, allLoaded: null, route: null };

  function setStatus(text) {
    document.getElementById("status").textContent = text;
  }

  function rowFromArray(a) {
    return {
      strategy: S.meta.strategies[a[0]],
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

  function loadShards() {
    // All shards are requested at once; rows are kept in shard order (a shard holds whole
    // (task, seed) groups, so any subset of shards is still correctly grouped).
    if (S.allLoaded) return S.allLoaded;
    const shards = S.meta.shards;
    const parts = new Array(shards.length);
    if (!shards.length) onShard(); // an empty run is fully loaded at once
    S.allLoaded = Promise.all(
      shards.map((sh, i) =>
        load("episodes:" + i, sh.file).then((rows) => {
          parts[i] = rows.map(rowFromArray);
          registry.delete("episodes:" + i);
          S.rows = parts.filter(Boolean).flat();
          S.shardsLoaded += 1;
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
  function parseRoute() {
    const raw = location.hash.replace(/^#\/?/, "");
    const q = raw.indexOf("?");
    const path = q < 0 ? raw : raw.slice(0, q);
    const params = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
    const parts = path.split("/").map(decodeURIComponent);
    return { view: parts[0] || "list", arg: parts[1] || "", params };
  }

  function href(view, params) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== "" && v !== null) p.set(k, v);
    const qs = p.toString();
    return "#/" + view + (qs ? "?" + qs : "");
  }

  function episodeHref(slug) {
    return "#/episode/" + encodeURIComponent(slug);
  }

  function render() {
    const app = document.getElementById("app");
    const r = parseRoute();
    S.route = r;
    shardRefresh = null;
    for (const id of ["nav-list", "nav-pairs"]) document.getElementById(id).classList.remove("on");
    clear(app);
    if (r.view === "episode") return renderEpisode(app, r.arg);
    if (r.view === "pairs") {
      document.getElementById("nav-pairs").classList.add("on");
      return renderPairs(app, r.params);
    }
    document.getElementById("nav-list").classList.add("on");
    return renderList(app, r.params);
  }

  function pager(total, page, size, go) {
    const pages = Math.max(1, Math.ceil(total / size));
    if (pages <= 1) return null;
    return el(
      "div",
      { class: "pager" },
      el("button", { onclick: () => go(page - 1), disabled: page <= 0 }, "‹ prev"),
      el("span", { class: "muted" }, ` page ${page + 1} of ${pages} `),
      el("button", { onclick: () => go(page + 1), disabled: page >= pages - 1 }, "next ›")
    );
  }

  function select(name, value, options, onchange) {
    const s = el("select", { name, "aria-label": name, onchange: () => onchange(s.value) });
    for (const [v, label] of options) {
      const o = el("option", { value: v }, label);
      if (v === value) o.selected = true;
      s.appendChild(o);
    }
    return s;
  }

  function textFilter(name, value, placeholder, onchange) {
    let timer = null;
    const input = el("input", { type: "search", name, placeholder, value, "aria-label": name });
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => onchange(input.value), 150);
    });
    return input;
  }

  // ------------------------------------------------------------------ episode list
  const PAGE = 100;

  function paramsOf(params, keys) {
    const out = {};
    for (const k of keys) out[k] = params.get(k) || "";
    return out;
  }

  function renderList(app, params) {
    const f = paramsOf(params, ["strategy", "task", "success", "error", "stop", "page"]);
    let draw = () => {};
    const update = (k, v) => {
      f[k] = v;
      if (k !== "page") f.page = "";
      history.replaceState(null, "", href("list", f));
      draw();
    };
    const strategies = [["", "all strategies"], ...S.meta.strategies.map((s) => [s, s])];
    const stops = [["", "any stop reason"], ...S.meta.stop_reasons.map((s) => [s, s])];
    app.appendChild(
      el(
        "div",
        { class: "filters", id: "filters" },
        select("strategy", f.strategy, strategies, (v) => update("strategy", v)),
        textFilter("task", f.task, "task contains…", (v) => update("task", v)),
        select(
          "success",
          f.success,
          [["", "solved or not"], ["1", "solved"], ["0", "not solved"]],
          (v) => update("success", v)
        ),
        select(
          "error",
          f.error,
          [["", "errors or not"], ["1", "errors only"], ["0", "no errors"]],
          (v) => update("error", v)
        ),
        select("stop", f.stop, stops, (v) => update("stop", v))
      )
    );
    const summary = el("div", { class: "summary", id: "summary" });
    for (const s of S.meta.strategies) {
      const c = S.meta.per_strategy[s];
      summary.appendChild(
        el("a", { class: "sum", href: href("list", { strategy: s }), "data-strategy": s },
          el("b", null, s), ` ${c.successes}/${c.finished} solved (${fmt.pct(c.successes, c.finished)})`,
          c.episodes > c.finished ? el("span", { class: "err" }, ` · ${c.episodes - c.finished} errors`) : null)
      );
    }
    app.appendChild(summary);
    const results = el("div", { id: "results" });
    app.appendChild(results);
    const keep = (r) => {
      const task = f.task.toLowerCase();
      return (
        (!f.strategy || r.strategy === f.strategy) &&
        (!task || r.task.toLowerCase().includes(task)) &&
        (f.success === "" || (r.success && !r.error) === (f.success === "1")) &&
        (f.error === "" || Boolean(r.error) === (f.error === "1")) &&
        (!f.stop || r.stop === f.stop)
      );
    };
    draw = () => {
      clear(results);
      const match = S.rows.filter(keep);
      const page = Math.min(Number(f.page) || 0, Math.max(0, Math.ceil(match.length / PAGE) - 1));
      const total = S.meta.counts.episodes;
      const partial = S.rows.length < total ? ` (${S.rows.length} of ${total} loaded)` : "";
      results.appendChild(
        el("p", { class: "count", id: "match-count", "data-count": match.length },
          `${match.length} of ${total} episode${total === 1 ? "" : "s"} match${partial}`)
      );
      const tbody = el("tbody");
      for (const r of match.slice(page * PAGE, (page + 1) * PAGE)) tbody.appendChild(listRow(r));
      results.appendChild(
        el(
          "table",
          { class: "episodes" },
          el(
            "thead",
            null,
            el("tr", null, ["strategy", "task", "seed", "result", "score", "steps",
              "tokens in/out", "cost", "stop", "error"].map((x) => el("th", null, x)))
          ),
          tbody
        )
      );
      append(results, [pager(match.length, page, PAGE, (p) => update("page", String(p)))]);
    };
    draw();
    shardRefresh = draw;
  }

  function resultCell(r) {
    if (r.error) return el("td", { class: "err" }, "error");
    return el("td", { class: r.success ? "ok" : "no" }, r.success ? "✓ solved" : "✗ failed");
  }

  function listRow(r) {
    const link = el("a", { href: episodeHref(r.slug) }, r.task);
    return el(
      "tr",
      {
        class: "episode-row",
        "data-strategy": r.strategy,
        "data-success": r.success ? "1" : "0",
        "data-error": r.error ? "1" : "0",
        onclick: (e) => {
          if (e.target.tagName !== "A") location.hash = episodeHref(r.slug);
        },
      },
      el("td", null, el("span", { class: "chip" }, r.strategy)),
      el("td", { class: "task" }, link),
      el("td", null, String(r.seed)),
      resultCell(r),
      el("td", null, fmt.num(r.score)),
      el("td", null, String(r.steps)),
      el("td", null, `${r.tin}/${r.tout}`),
      el("td", null, fmt.cost(r.cost)),
      el("td", null, r.stop),
      el("td", { class: "errtext", title: r.error || "" }, r.error ? r.error.slice(0, 80) : "")
    );
  }

  // ------------------------------------------------------------------ paired view
  function groupsOf(rows) {
    const out = [];
    for (const r of rows) {
      const last = out[out.length - 1];
      if (last && last.task === r.task && last.seed === r.seed) last.by[r.strategy] = r;
      else out.push({ task: r.task, seed: r.seed, by: { [r.strategy]: r } });
    }
    return out;
  }

  function renderPairs(app, params) {
    const f = paramsOf(params, ["solved", "unsolved", "task", "page"]);
    const strategies = S.meta.strategies;
    let draw = () => {};
    const update = (k, v) => {
      f[k] = v;
      if (k !== "page") f.page = "";
      history.replaceState(null, "", href("pairs", f));
      draw();
    };
    const opts = (label) => [["", label], ...strategies.map((s) => [s, s])];
    const solvedSel = select("solved", f.solved, opts("any strategy"), (v) => update("solved", v));
    const unsolvedSel = select("unsolved", f.unsolved, opts("any strategy"), (v) => update("unsolved", v));
    app.appendChild(
      el(
        "div",
        { class: "filters" },
        el("span", null, "solved by"),
        solvedSel,
        el("span", null, "and not solved by"),
        unsolvedSel,
        textFilter("task", f.task, "task contains…", (v) => update("task", v))
      )
    );
    const base = strategies.includes("none") ? "none" : strategies[0];
    const quick = el("div", { class: "quick", id: "quick" }, el("span", { class: "muted" }, "one click:"));
    const qlinks = [];
    for (const s of strategies) {
      if (s === base) continue;
      for (const [a, b] of [[s, base], [base, s]]) {
        const n = S.meta.discordant[a + ">" + b] || 0;
        const link = el(
          "a",
          {
            class: "qlink",
            href: href("pairs", { solved: a, unsolved: b }),
            "data-solved": a,
            "data-unsolved": b,
            "data-n": n,
            title: `(task, seed) pairs ${a} solved and ${b} did not (both finished)`,
          },
          el("b", null, a), " ✓ ", el("b", null, b), " ✗ ", el("span", { class: "n" }, `(${n})`)
        );
        qlinks.push(link);
        quick.appendChild(link);
      }
    }
    app.appendChild(quick);
    const results = el("div", { id: "results" });
    app.appendChild(results);
    const keep = (g) => {
      const task = f.task.toLowerCase();
      if (task && !g.task.toLowerCase().includes(task)) return false;
      const a = g.by[f.solved];
      const b = g.by[f.unsolved];
      if (f.solved && !(a && !a.error && a.success)) return false;
      if (f.unsolved && !(b && !b.error && !b.success)) return false;
      return true;
    };
    draw = () => {
      clear(results);
      solvedSel.value = f.solved;
      unsolvedSel.value = f.unsolved;
      for (const q of qlinks)
        q.classList.toggle("on", q.dataset.solved === f.solved && q.dataset.unsolved === f.unsolved);
      const all = groupsOf(S.rows);
      const groups = all.filter(keep);
      const page = Math.min(Number(f.page) || 0, Math.max(0, Math.ceil(groups.length / PAGE) - 1));
      results.appendChild(
        el("p", { class: "count", id: "match-count", "data-count": groups.length },
          `${groups.length} of ${all.length} (task, seed) pairs`,
          S.rows.length < S.meta.counts.episodes ? " (still loading)" : "")
      );
      const tbody = el("tbody");
      for (const g of groups.slice(page * PAGE, (page + 1) * PAGE)) {
        tbody.appendChild(
          el(
            "tr",
            { class: "pair-row", "data-task": g.task, "data-seed": g.seed },
            el("td", { class: "task" }, g.task),
            el("td", null, String(g.seed)),
            strategies.map((s) => pairCell(g.by[s], s))
          )
        );
      }
      results.appendChild(
        el(
          "table",
          { class: "pairs" },
          el("thead", null, el("tr", null, el("th", null, "task"), el("th", null, "seed"),
            strategies.map((s) => el("th", null, s)))),
          tbody
        )
      );
      append(results, [pager(groups.length, page, PAGE, (p) => update("page", String(p)))]);
    };
    draw();
    shardRefresh = draw;
  }

  function pairCell(r, strategy) {
    if (!r) return el("td", { class: "none", "data-strategy": strategy }, "–");
    const cls = r.error ? "err" : r.success ? "ok" : "no";
    const label = r.error ? "error" : r.success ? `✓ ${fmt.num(r.score)}` : "✗";
    return el(
      "td",
      { class: "cell " + cls, "data-strategy": strategy, "data-outcome": cls },
      el("a", { href: episodeHref(r.slug), title: `${r.steps} steps, stop: ${r.stop}` }, label)
    );
  }

  // ------------------------------------------------------------------ episode page
  async function renderEpisode(app, slug) {
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
    window.scrollTo(0, 0);
    document.body.dataset.episode = slug;
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
    const title = [m.run.dir, [m.run.env, m.run.split].filter(Boolean).join(" / "), m.run.label]
      .filter(Boolean)
      .join(" — ");
    document.getElementById("run-title").textContent = title;
    document.title = "lbi view — " + m.run.dir;
    if (!m.run.report) document.getElementById("nav-report").remove();
    window.addEventListener("hashchange", render);
    if (m.shards.length) {
      // first paint from shard 0 alone; the rest load after it, in the background
      const rows0 = await load("episodes:0", m.shards[0].file).catch(() => []);
      S.rows = rows0.map(rowFromArray);
    }
    render();
    document.body.dataset.ready = "1";
    if (window.performance && performance.mark) performance.mark("lbi-first-render");
    loadShards().catch((e) => setStatus(String(e.message || e)));
  }

  window.LBIView = { load, el, fmt, state: S };
  document.addEventListener("DOMContentLoaded", start);
})();
