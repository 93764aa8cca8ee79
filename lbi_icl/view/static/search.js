/* lbi run viewer: full-text search over every step of the run (observations, actions,
 * model outputs) and the texts of the examples they retrieved, case-insensitive substring
 * match. It reads the search shards `lbi view` wrote (data/search/*.js: the searchable
 * text only, no prompts, so not the step files), at most 4 at a time, keeps them in
 * memory for the next query, and links every hit to its step: #/episode/SLUG/step/N.
 */
"use strict";

(function () {
  const { load, reload, registry, el, clear, href, episodeHref } = window.LBI;
  const { searchBox } = window.LBIList;
  const MAX_SHOWN = 200;
  const FIELDS = ["observation", "action", "model output"];
  const state = { key: null, loading: null };

  async function limited(jobs, n, fn) {
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) await fn(jobs[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(n, jobs.length) }, worker));
  }

  function prepareSteps(data) {
    const eps = data.episodes.map(([slug, strategy, task, seed]) => ({ slug, strategy, task, seed }));
    return data.steps.map(([ep, n, obs, act, out, ids]) => ({
      ep: eps[ep], n, t: [obs, act, out], lo: [obs.toLowerCase(), act.toLowerCase(), out.toLowerCase()], ids,
    }));
  }

  // Every search shard, loaded once per build of the data (generated_at).
  function ensure(meta, onProgress) {
    if (state.key === meta.generated_at && state.loading) return state.loading;
    state.key = meta.generated_at;
    const live = /^https?:$/.test(location.protocol);
    const get = (name, src) => (live ? reload(name, src, meta.generated_at) : load(name, src));
    const files = meta.search;
    const total = files.examples.length + files.steps.length;
    const examples = new Array(files.examples.length);
    const shards = new Array(files.steps.length);
    const jobs = [...files.examples.map((f, i) => ["x", i, f.file]), ...files.steps.map((f, i) => ["s", i, f.file])];
    let done = 0;
    state.loading = limited(jobs, 4, async ([kind, i, file]) => {
      const name = "search:" + file.split("/").pop().replace(/\.js$/, "");
      const data = await get(name, file);
      registry.delete(name);
      if (kind === "x") examples[i] = data.map(([id, text]) => ({ id, text, lo: text.toLowerCase() }));
      else shards[i] = prepareSteps(data);
      done += 1;
      onProgress(done, total);
    }).then(() => ({ examples: examples.flat(), shards }));
    state.loading.catch(() => { state.loading = null; });
    return state.loading;
  }

  function run(data, q) {
    const ql = q.toLowerCase();
    const exHits = new Map();
    for (const x of data.examples) {
      const p = x.lo.indexOf(ql);
      if (p >= 0) exHits.set(x.id, { text: x.text, pos: p });
    }
    const results = [];
    let count = 0;
    let steps = 0;
    for (const shard of data.shards) {
      for (const st of shard) {
        let hit = false;
        for (let f = 0; f < FIELDS.length; f++) {
          const p = st.lo[f].indexOf(ql);
          if (p < 0) continue;
          hit = true;
          count += 1;
          if (results.length < MAX_SHOWN) results.push({ st, field: FIELDS[f], text: st.t[f], pos: p });
        }
        if (exHits.size) {
          for (const id of st.ids) {
            const h = exHits.get(id);
            if (!h) continue;
            hit = true;
            count += 1;
            if (results.length < MAX_SHOWN) results.push({ st, field: "retrieved example", example: id, text: h.text, pos: h.pos });
          }
        }
        if (hit) steps += 1;
      }
    }
    return { results, count, steps, examples: exHits.size };
  }

  function snippet(text, pos, len) {
    const a = Math.max(0, pos - 80);
    const b = Math.min(text.length, pos + len + 120);
    return el("span", { class: "snippet" },
      (a > 0 ? "…" : "") + text.slice(a, pos), el("mark", null, text.slice(pos, pos + len)),
      text.slice(pos + len, b) + (b < text.length ? "…" : ""));
  }

  function hitRow(h, q) {
    const st = h.st;
    const link = episodeHref(st.ep.slug, st.n);
    return el(
      "tr",
      { class: "search-hit", "data-slug": st.ep.slug, "data-step": st.n, "data-field": h.field },
      el("td", { class: "task" }, el("span", { class: "chip" }, st.ep.strategy), " ", st.ep.task, el("span", { class: "muted" }, " seed " + st.ep.seed)),
      el("td", null, el("a", { href: link, class: "step-link" }, "step " + st.n)),
      el("td", null, h.field, h.example ? el("div", { class: "muted id" }, h.example) : null),
      el("td", null, el("pre", { class: "snip" }, snippet(h.text, h.pos, q.length)))
    );
  }

  function render(app, params, S) {
    const q = (params.get("q") || "").trim();
    app.appendChild(searchBox(q));
    const meta = S.meta;
    if (!meta.search) {
      app.appendChild(el("p", { class: "note" }, "This view was built without search data (rebuild it with `lbi view`)."));
      return;
    }
    const status = el("p", { class: "muted", id: "search-status" });
    const out = el("div", { id: "search-results" });
    app.appendChild(status);
    app.appendChild(out);
    if (!q) {
      status.textContent = `Type a word or phrase: every step's observation, action and model output, and the ` +
        `texts of the examples it retrieved, are searched (${meta.search.entries} steps).`;
      return;
    }
    const started = performance.now();
    ensure(meta, (done, total) => {
      if (S.route.params.get("q") === params.get("q")) status.textContent = `loading search data ${done}/${total}…`;
    })
      .then((data) => {
        if (S.route.view !== "search" || S.route.params.get("q") !== params.get("q")) return;
        const res = run(data, q);
        const ms = performance.now() - started;
        status.textContent = "";
        clear(out);
        out.appendChild(
          el("p", { class: "count", id: "search-count", "data-count": res.count, "data-steps": res.steps, "data-query": q, "data-ms": ms.toFixed(1) },
            `${res.count} match${res.count === 1 ? "" : "es"} in ${res.steps} step${res.steps === 1 ? "" : "s"}` +
            (res.examples ? ` (${res.examples} retrieved example${res.examples === 1 ? "" : "s"} match)` : "") +
            (res.count > res.results.length ? `; the first ${res.results.length} shown` : "") +
            ` · ${ms.toFixed(0)} ms`)
        );
        if (!res.count) return;
        const tbody = el("tbody");
        for (const h of res.results) tbody.appendChild(hitRow(h, q));
        out.appendChild(el("table", { class: "search" }, el("thead", null, el("tr", null,
          ["episode", "step", "found in", "text"].map((x) => el("th", null, x)))), tbody));
      })
      .catch((e) => {
        status.textContent = "search data could not be loaded: " + String(e.message || e);
      });
  }

  window.LBISearch = { render, run, ensure, href };
})();
