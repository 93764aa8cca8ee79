/* lbi run viewer: the listing of every run in a folder (`lbi view DIR`) and the comparison
 * of two runs on their shared (task, seed) pairs.
 *
 * The pairing rule is lbi_icl/runner/report_compare.py's (`lbi report A B`): an episode
 * is finished unless it ended in an error (outcome code -1); a pair is shared when both
 * runs' episodes are finished; each shared pair is both solved / only A / only B /
 * neither; finished episodes without a finished counterpart are "not shared". The codes
 * come from data/runs/<id>.js, written by `lbi view` with report_compare.outcome.
 */
"use strict";

(function () {
  const { load, reload, registry, el, clear, fmt, href, parseRoute, paramsOf, select, textFilter, pager } = window.LBI;
  const { sortBy, header } = window.LBISort;
  const PAGE = 100;
  const S = { meta: null, route: null, token: 0 };
  const CLASSES = [
    ["both", "both solved"],
    ["only_a", "only A solved"],
    ["only_b", "only B solved"],
    ["neither", "neither solved"],
  ];

  function runs() {
    return S.meta.runs.filter((r) => !r.error);
  }

  function byRel(rel) {
    return runs().find((r) => r.rel === rel) || null;
  }

  // "2026-12-01T10:00:00+00:00" -> "2026-12-01 10:00 UTC"
  function when(iso) {
    if (!iso) return "–";
    const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(?::\d\d(?:\.\d+)?)?(Z|[+-]00:00)?/.exec(String(iso));
    return m ? `${m[1]} ${m[2]}${m[3] ? " UTC" : ""}` : String(iso);
  }

  function episodeLink(run, slug) {
    return run.href + "#/episode/" + encodeURIComponent(slug);
  }

  // ------------------------------------------------------------------ the list of runs
  const COLUMNS = [
    { key: "rel", label: "run", get: (r) => r.rel },
    { key: "env", label: "env / split", get: (r) => [r.env, r.split].filter(Boolean).join(" / ") },
    { key: "label", label: "policy", get: (r) => r.label },
    { key: null, label: "success per strategy" },
    { key: "episodes", label: "episodes", get: (r) => (r.counts ? r.counts.episodes : null) },
    { key: "errors", label: "errors", get: (r) => (r.counts ? r.counts.errors : null) },
    { key: "started", label: "started", get: (r) => r.started_at },
    { key: "ended", label: "ended", get: (r) => r.ended_at },
  ];

  function renderRuns(app, params) {
    const f = paramsOf(params, ["sort", "dir"]);
    const all = S.meta.runs;
    app.appendChild(
      el("p", { class: "count", id: "run-count", "data-count": all.length },
        `${all.length} run${all.length === 1 ? "" : "s"} in ${S.meta.root}; each links to its own viewer. `,
        all.length > 1 ? el("a", { href: "#/compare" }, "Compare two of them ›") : null)
    );
    const col = COLUMNS.find((c) => c.key && c.key === f.sort);
    const list = col ? sortBy(all, col.get, f.dir) : all;
    const tbody = el("tbody");
    for (const r of list) {
      if (r.error) {
        tbody.appendChild(el("tr", { class: "run-row run-error", "data-rel": r.rel },
          el("td", { class: "rel" }, r.rel), el("td", { colspan: "7" }, "viewer not built: " + r.error)));
        continue;
      }
      const chips = r.strategies.map((s) => {
        const c = r.per_strategy[s] || {};
        return el("span", { class: "chip", "data-strategy": s, title: `${s}: ${c.successes} of ${c.finished} finished episodes solved` },
          `${s} ${c.successes}/${c.finished} (${fmt.pct(c.successes, c.finished)})`);
      });
      tbody.appendChild(
        el("tr", { class: "run-row", "data-rel": r.rel, "data-episodes": r.counts.episodes },
          el("td", { class: "rel" }, el("a", { class: "run-link", href: r.href }, r.rel)),
          el("td", null, [r.env, r.split].filter(Boolean).join(" / ") || "–"),
          el("td", null, r.label || "–"),
          el("td", null, chips),
          el("td", null, String(r.counts.episodes)),
          el("td", null, String(r.counts.errors)),
          el("td", { title: r.started_at || "" }, when(r.started_at)),
          el("td", { title: r.ended_at || "" }, when(r.ended_at)))
      );
    }
    const head = header(COLUMNS, f, (key, dir) => {
      history.replaceState(null, "", href("runs", { sort: key, dir }));
      render();
    });
    app.appendChild(el("table", { class: "runs", id: "runs" }, head, tbody));
  }

  // ------------------------------------------------------------------ comparison
  function outcomes(run) {
    const name = "outcomes:" + run.id;
    if (/^https?:$/.test(location.protocol)) {
      if (registry.has(name) && registry.get(name).__v === S.meta.generated_at) return Promise.resolve(registry.get(name));
      return reload(name, run.outcomes, S.meta.generated_at).then((d) => Object.assign(d, { __v: S.meta.generated_at }));
    }
    return load(name, run.outcomes);
  }

  // the shared pairs of (A, strategy index ia) and (B, ib), by report_compare's rule
  function pairUp(oa, ia, ob, ib) {
    const counts = { both: 0, only_a: 0, only_b: 0, neither: 0, a_not_shared: 0, b_not_shared: 0, a_errors: 0, b_errors: 0 };
    const mb = new Map();
    let bFinished = 0;
    for (const [task, seed, codes, slugs] of ob.rows) {
      const c = codes[ib];
      if (c === null || c === undefined) continue;
      if (c === -1) counts.b_errors += 1;
      else bFinished += 1;
      mb.set(task + "\u0000" + seed, { code: c, slug: slugs[ib] });
    }
    const rows = [];
    let aFinished = 0;
    for (const [task, seed, codes, slugs] of oa.rows) {
      const c = codes[ia];
      if (c === null || c === undefined) continue;
      if (c === -1) {
        counts.a_errors += 1;
        continue;
      }
      aFinished += 1;
      const b = mb.get(task + "\u0000" + seed);
      if (!b || b.code === -1) continue;
      const cls = c === 1 && b.code === 1 ? "both" : c === 1 ? "only_a" : b.code === 1 ? "only_b" : "neither";
      counts[cls] += 1;
      rows.push({ task, seed, a: { code: c, slug: slugs[ia] }, b, cls });
    }
    counts.a_not_shared = aFinished - rows.length;
    counts.b_not_shared = bFinished - rows.length;
    return { rows, counts };
  }

  function resultCell(run, side, strategy) {
    const cls = side.code === 1 ? "ok" : "no";
    return el("td", { class: "cell " + cls, "data-outcome": cls },
      el("a", { href: episodeLink(run, side.slug), title: `${strategy} in ${run.rel}` }, side.code === 1 ? "✓ solved" : "✗ failed"));
  }

  async function renderCompare(app, params) {
    const f = paramsOf(params, ["a", "sa", "b", "sb", "show", "task", "sort", "dir", "page"]);
    const list = runs();
    if (!list.length) {
      app.appendChild(el("p", { class: "muted" }, "No run with a built viewer to compare."));
      return;
    }
    const A = byRel(f.a) || list[0];
    const B = byRel(f.b) || list[Math.min(1, list.length - 1)];
    const sa = A.strategies.includes(f.sa) ? f.sa : A.strategies[0] || "";
    const sb = B.strategies.includes(f.sb) ? f.sb : B.strategies.includes(sa) ? sa : B.strategies[0] || "";
    Object.assign(f, { a: A.rel, b: B.rel, sa, sb });
    const go = (changes) => {
      Object.assign(f, changes, { page: "" });
      history.replaceState(null, "", href("compare", f));
      render();
    };
    const runOpts = list.map((r) => [r.rel, r.rel + (r.env ? ` (${r.env})` : "")]);
    app.appendChild(
      el("div", { class: "pickers", id: "pickers" },
        el("b", null, "run A"), select("a", A.rel, runOpts, (v) => go({ a: v, show: "" })),
        select("sa", sa, A.strategies.map((s) => [s, s]), (v) => go({ sa: v, show: "" })),
        el("b", null, "run B"), select("b", B.rel, runOpts, (v) => go({ b: v, show: "" })),
        select("sb", sb, B.strategies.map((s) => [s, s]), (v) => go({ sb: v, show: "" })))
    );
    const token = ++S.token;
    const out = el("div", { id: "compare" }, el("p", { class: "muted" }, "loading outcomes…"));
    app.appendChild(out);
    let oa;
    let ob;
    try {
      [oa, ob] = await Promise.all([outcomes(A), outcomes(B)]);
    } catch (e) {
      clear(out);
      out.appendChild(el("p", { class: "error" }, String(e.message || e)));
      return;
    }
    if (token !== S.token) return; // another render started meanwhile
    const { rows, counts } = pairUp(oa, oa.strategies.indexOf(sa), ob, ob.strategies.indexOf(sb));
    clear(out);
    const n = rows.length;
    const rate = (k) => (n ? fmt.pct(counts.both + counts[k], n) : "–");
    out.appendChild(
      el("p", { class: "count", id: "shared", "data-pairs": n },
        `${n} shared (task, seed) pair${n === 1 ? "" : "s"} (finished in both): `,
        el("b", null, `A ${sa} ${rate("only_a")}`), " vs ", el("b", null, `B ${sb} ${rate("only_b")}`), " solved")
    );
    const chips = el("div", { class: "counts", id: "counts" });
    for (const [k, label] of CLASSES) {
      chips.appendChild(
        el("a", { class: "qlink" + (f.show === k ? " on" : ""), href: href("compare", Object.assign({}, f, { show: f.show === k ? "" : k, page: "" })), "data-class": k, "data-n": counts[k] },
          label, " ", el("span", { class: "n" }, `(${counts[k]})`))
      );
    }
    out.appendChild(chips);
    out.appendChild(
      el("p", { class: "muted", id: "not-shared", "data-a": counts.a_not_shared, "data-b": counts.b_not_shared, "data-a-errors": counts.a_errors, "data-b-errors": counts.b_errors },
        `not shared, so not compared: ${counts.a_not_shared} finished episode(s) of A, ${counts.b_not_shared} of B; ` +
        `ended in an error, excluded: ${counts.a_errors} of A, ${counts.b_errors} of B. ` +
        "The same pairing as `lbi report A B` (exact McNemar test there).")
    );
    out.appendChild(el("div", { class: "filters" }, textFilter("task", f.task, "task contains…", (v) => go({ task: v }))));
    const task = f.task.toLowerCase();
    let shown = rows.filter((r) => (!f.show || r.cls === f.show) && (!task || r.task.toLowerCase().includes(task)));
    const columns = [
      { key: "task", label: "task", get: (r) => r.task },
      { key: "seed", label: "seed", get: (r) => r.seed },
      { key: "a", label: `A: ${sa}`, title: A.rel, get: (r) => r.a.code },
      { key: "b", label: `B: ${sb}`, title: B.rel, get: (r) => r.b.code },
    ];
    const col = columns.find((c) => c.key === f.sort);
    if (col) shown = sortBy(shown, col.get, f.dir);
    const page = Math.min(Number(f.page) || 0, Math.max(0, Math.ceil(shown.length / PAGE) - 1));
    out.appendChild(el("p", { class: "count", id: "match-count", "data-count": shown.length }, `${shown.length} of ${n} pairs shown`));
    const tbody = el("tbody");
    for (const r of shown.slice(page * PAGE, (page + 1) * PAGE)) {
      tbody.appendChild(
        el("tr", { class: "cmp-row", "data-task": r.task, "data-seed": r.seed, "data-class": r.cls },
          el("td", { class: "task" }, r.task), el("td", null, String(r.seed)), resultCell(A, r.a, sa), resultCell(B, r.b, sb))
      );
    }
    const head = header(columns, f, (key, dir) => go({ sort: key, dir }));
    out.appendChild(el("table", { class: "pairs", id: "cmp" }, head, tbody));
    const p = pager(shown.length, page, PAGE, (pg) => {
      f.page = String(pg);
      history.replaceState(null, "", href("compare", f));
      render();
    });
    if (p) out.appendChild(p);
    document.body.dataset.compared = `${A.rel}:${sa}|${B.rel}:${sb}`;
  }

  // ------------------------------------------------------------------ routing and start
  function render() {
    const app = document.getElementById("app");
    const r = parseRoute();
    S.route = r;
    const view = r.view === "compare" ? "compare" : "runs";
    document.getElementById("nav-runs").classList.toggle("on", view === "runs");
    document.getElementById("nav-compare").classList.toggle("on", view === "compare");
    clear(app);
    S.token += 1;
    delete document.body.dataset.compared;
    if (view === "compare") return renderCompare(app, r.params);
    return renderRuns(app, r.params);
  }

  function showTitle() {
    const n = S.meta.runs.length;
    document.getElementById("run-title").textContent = `${S.meta.root} — ${n} run${n === 1 ? "" : "s"}`;
    document.title = "lbi view — " + S.meta.root;
    document.body.dataset.runs = String(n);
  }

  async function start() {
    try {
      S.meta = await load("meta", "data/meta.js");
    } catch (e) {
      document.getElementById("app").textContent = "No listing data next to this page: run `lbi view DIR`.";
      return;
    }
    showTitle();
    window.addEventListener("hashchange", render);
    render();
    document.body.dataset.ready = "1";
    window.LBILive.start(() => S.meta, async (meta) => {
      S.meta = meta;
      showTitle();
      render();
    });
  }

  window.LBIRuns = { pairUp, state: S };
  document.addEventListener("DOMContentLoaded", start);
})();
