/* lbi run viewer: the episode list and the paired view, both filterable and sortable
 * (sort state in the URL hash). Text goes in via textContent only.
 */
"use strict";

(function () {
  const { el, append, clear, fmt, href, episodeHref, paramsOf, select, textFilter, pager } = window.LBI;
  const { sortBy, header } = window.LBISort;
  const PAGE = 100;

  // the state of a page in the hash: filters, page and sort
  function controller(view, f, draw) {
    return (k, v) => {
      f[k] = v;
      if (k !== "page") f.page = "";
      history.replaceState(null, "", href(view, f));
      draw();
    };
  }

  function resultCode(r) {
    return r.error ? -1 : r.success ? 1 : 0;
  }

  // ------------------------------------------------------------------ episode list
  const LIST_COLUMNS = [
    { key: "strategy", label: "strategy", get: (r) => r.strategyRank },
    { key: "task", label: "task", get: (r) => r.task },
    { key: "seed", label: "seed", get: (r) => r.seed },
    { key: "result", label: "result", title: "solved > failed > error", get: resultCode },
    { key: "score", label: "score", get: (r) => r.score },
    { key: "steps", label: "steps", get: (r) => r.steps },
    { key: "tin", label: "tokens in", get: (r) => r.tin },
    { key: "tout", label: "tokens out", get: (r) => r.tout },
    { key: "cost", label: "cost", get: (r) => r.cost },
    { key: "seconds", label: "time", get: (r) => r.seconds },
    { key: "stop", label: "stop", get: (r) => r.stop },
    { key: "error", label: "error", get: (r) => r.error },
  ];

  function searchBox(value) {
    const input = el("input", {
      type: "search",
      name: "q",
      value: value || "",
      placeholder: "search every step: observations, actions, outputs, retrieved examples…",
      "aria-label": "full-text search",
      class: "fulltext",
    });
    const go = () => {
      if (input.value.trim()) location.hash = href("search", { q: input.value.trim() });
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") go();
    });
    return el("form", { class: "searchbar", id: "searchbar", onsubmit: (e) => { e.preventDefault(); go(); } },
      input, el("button", { type: "submit" }, "Search"));
  }

  function renderList(app, params, S) {
    const meta = S.meta;
    const f = paramsOf(params, ["strategy", "task", "success", "error", "stop", "page", "sort", "dir"]);
    let draw = () => {};
    const update = controller("list", f, () => draw());
    if (meta.search) app.appendChild(searchBox(""));
    const strategies = [["", "all strategies"], ...meta.strategies.map((s) => [s, s])];
    const stops = [["", "any stop reason"], ...meta.stop_reasons.map((s) => [s, s])];
    app.appendChild(
      el(
        "div",
        { class: "filters", id: "filters" },
        select("strategy", f.strategy, strategies, (v) => update("strategy", v)),
        textFilter("task", f.task, "task contains…", (v) => update("task", v)),
        select("success", f.success, [["", "solved or not"], ["1", "solved"], ["0", "not solved"]], (v) => update("success", v)),
        select("error", f.error, [["", "errors or not"], ["1", "errors only"], ["0", "no errors"]], (v) => update("error", v)),
        select("stop", f.stop, stops, (v) => update("stop", v))
      )
    );
    const summary = el("div", { class: "summary", id: "summary" });
    for (const s of meta.strategies) {
      const c = meta.per_strategy[s];
      summary.appendChild(
        el("a", { class: "sum", href: href("list", { strategy: s }), "data-strategy": s },
          el("b", null, s), ` ${c.successes}/${c.finished} solved (${fmt.pct(c.successes, c.finished)})`,
          c.episodes > c.finished ? el("span", { class: "err" }, ` · ${c.episodes - c.finished} errors`) : null)
      );
    }
    summary.appendChild(el("a", { class: "sum charts-link", href: "#/summary" }, "charts ›"));
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
    const scale = meta.run.score_label || "score";
    const columns = LIST_COLUMNS.map((c) =>
      c.key === "score" ? Object.assign({}, c, { title: "episode score: " + scale, extra: el("span", { class: "scale" }, scale) }) : c
    );
    draw = () => {
      clear(results);
      let match = S.rows.filter(keep);
      const col = columns.find((c) => c.key === f.sort);
      if (col) match = sortBy(match, col.get, f.dir);
      const page = Math.min(Number(f.page) || 0, Math.max(0, Math.ceil(match.length / PAGE) - 1));
      const total = meta.counts.episodes;
      const partial = S.rows.length < total ? ` (${S.rows.length} of ${total} loaded)` : "";
      results.appendChild(
        el("p", { class: "count", id: "match-count", "data-count": match.length },
          `${match.length} of ${total} episode${total === 1 ? "" : "s"} match${partial}`)
      );
      const tbody = el("tbody");
      for (const r of match.slice(page * PAGE, (page + 1) * PAGE)) tbody.appendChild(listRow(r));
      const head = header(columns, f, (key, dir) => {
        f.sort = key;
        update("dir", dir);
      });
      results.appendChild(el("table", { class: "episodes", id: "episodes" }, head, tbody));
      append(results, [pager(match.length, page, PAGE, (p) => update("page", String(p)))]);
    };
    draw();
    return draw;
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
        "data-steps": r.steps,
        "data-slug": r.slug,
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
      el("td", null, String(r.tin)),
      el("td", null, String(r.tout)),
      el("td", null, fmt.cost(r.cost)),
      el("td", null, fmt.num(r.seconds, 1) + " s"),
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

  // a cell's sort value: solved (by score) > failed > error > missing
  function cellValue(r) {
    if (!r) return null;
    if (r.error) return -1;
    return r.success ? 2 + (typeof r.score === "number" ? r.score / 1e6 : 0) : 0;
  }

  function renderPairs(app, params, S) {
    const meta = S.meta;
    const f = paramsOf(params, ["solved", "unsolved", "task", "page", "sort", "dir"]);
    const strategies = meta.strategies;
    let draw = () => {};
    const update = controller("pairs", f, () => draw());
    const opts = (label) => [["", label], ...strategies.map((s) => [s, s])];
    const solvedSel = select("solved", f.solved, opts("any strategy"), (v) => update("solved", v));
    const unsolvedSel = select("unsolved", f.unsolved, opts("any strategy"), (v) => update("unsolved", v));
    app.appendChild(
      el("div", { class: "filters" }, el("span", null, "solved by"), solvedSel, el("span", null, "and not solved by"),
        unsolvedSel, textFilter("task", f.task, "task contains…", (v) => update("task", v)))
    );
    const base = strategies.includes("none") ? "none" : strategies[0];
    const quick = el("div", { class: "quick", id: "quick" }, el("span", { class: "muted" }, "one click:"));
    const qlinks = [];
    for (const s of strategies) {
      if (s === base) continue;
      for (const [a, b] of [[s, base], [base, s]]) {
        const n = meta.discordant[a + ">" + b] || 0;
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
    const columns = [
      { key: "task", label: "task", get: (g) => g.task },
      { key: "seed", label: "seed", get: (g) => g.seed },
      ...strategies.map((s) => ({ key: "s:" + s, label: s, title: "solved (by score) > failed > error", get: (g) => cellValue(g.by[s]) })),
    ];
    draw = () => {
      clear(results);
      solvedSel.value = f.solved;
      unsolvedSel.value = f.unsolved;
      for (const q of qlinks)
        q.classList.toggle("on", q.dataset.solved === f.solved && q.dataset.unsolved === f.unsolved);
      const all = groupsOf(S.rows);
      let groups = all.filter(keep);
      const col = columns.find((c) => c.key === f.sort);
      if (col) groups = sortBy(groups, col.get, f.dir);
      const page = Math.min(Number(f.page) || 0, Math.max(0, Math.ceil(groups.length / PAGE) - 1));
      results.appendChild(
        el("p", { class: "count", id: "match-count", "data-count": groups.length },
          `${groups.length} of ${all.length} (task, seed) pairs`,
          S.rows.length < meta.counts.episodes ? " (still loading)" : "")
      );
      const tbody = el("tbody");
      for (const g of groups.slice(page * PAGE, (page + 1) * PAGE)) {
        tbody.appendChild(
          el("tr", { class: "pair-row", "data-task": g.task, "data-seed": g.seed },
            el("td", { class: "task" }, g.task), el("td", null, String(g.seed)),
            strategies.map((s) => pairCell(g.by[s], s)))
        );
      }
      const head = header(columns, f, (key, dir) => {
        f.sort = key;
        update("dir", dir);
      });
      results.appendChild(el("table", { class: "pairs", id: "pairs" }, head, tbody));
      append(results, [pager(groups.length, page, PAGE, (p) => update("page", String(p)))]);
    };
    draw();
    return draw;
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

  window.LBIList = { renderList, renderPairs, searchBox };
})();
