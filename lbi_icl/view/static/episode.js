/* lbi run viewer: the episode page (step timeline). Text goes in via textContent only. */
"use strict";

(function () {
  // Step-log fields shown by name; any other field appears under "other fields".
  const KNOWN = new Set([
    "step", "observation", "strategy", "queries", "retrieved", "dropped", "prompt_sha256",
    "prompt", "raw_output", "action", "parsed", "next_observation", "reward", "done",
    "input_tokens", "output_tokens", "cost_usd", "cached", "retrieval_s", "model_s", "env_s",
    "reason", "valid", "executed", "info", "retrieval_llm_s", "retrieval_input_tokens",
    "retrieval_output_tokens", "retrieval_cost_usd", "error", "prompt_templates",
    "format_version", // the run log's version (runner/runlog.py), the same on every line
  ]);

  let h; // helpers from viewer.js

  function pre(text, cls) {
    return h.el("pre", { class: cls || "text" }, text === null || text === undefined ? "" : String(text));
  }

  // A desktop env's screenshot (`info.screenshot`, saved inside the run folder with
  // --env-option screenshot_dir=RUN/screens): shown by its path below the run folder's name
  // (this page is RUN/view/index.html); paths elsewhere stay text in "env info".
  function screenshotSrc(path) {
    const dir = h.meta && h.meta.run && h.meta.run.dir;
    const p = String(path || "");
    if (!dir) return null;
    const at = p.startsWith(dir + "/") ? 0 : p.lastIndexOf("/" + dir + "/") + 1;
    if (at < 0 || (at === 0 && !p.startsWith(dir + "/"))) return null;
    const rest = p.slice(at + dir.length + 1).split("/");
    if (rest.includes("..") || !/\.png$/i.test(p)) return null;
    return "../" + rest.map(encodeURIComponent).join("/");
  }

  function kv(pairs) {
    const dl = h.el("dl", { class: "kv" });
    for (const [k, v] of pairs) {
      if (v === null || v === undefined || v === "") continue;
      dl.appendChild(h.el("dt", null, k));
      dl.appendChild(h.el("dd", null, v));
    }
    return dl;
  }

  // The prompt templates a step used: name, sha256 prefix, and the user's file when the run
  // manifest says the template came from one (lbi_icl/prompts; `prompts:` in a run config).
  function templateLine(templates) {
    const known = (h.meta && h.meta.run && h.meta.run.prompts) || {};
    const spans = templates.map(([name, sha]) => {
      const m = known[name];
      const file = m && m.sha256 === sha && m.source !== "default" ? String(m.source) : "";
      const label = `${name} ${String(sha).slice(0, 8)}` + (file ? ` (file ${file.split("/").pop()})` : "");
      const title = `${name}: template sha256 ${sha}` + (file ? `, from ${file}` : m ? ", packaged default" : "");
      return h.el("span", { class: file ? "template custom" : "template", title: title }, label);
    });
    return h.el("p", { class: "templates" }, h.el("b", null, "Prompt templates: "), spans);
  }

  function badge(text, cls) {
    return h.el("span", { class: "badge " + (cls || "") }, text);
  }

  function json(value) {
    return JSON.stringify(value, null, 2);
  }

  function header(ep) {
    const r = ep.record;
    const el = h.el;
    const failed = r.error || r.stop_reason === "error";
    const outcome = failed ? badge("error", "err") : r.success ? badge("✓ solved", "ok") : badge("✗ not solved", "no");
    const links = [];
    if (typeof r.steps_log === "string" && h.SAFE_REL.test(r.steps_log))
      links.push(el("a", { href: "../" + r.steps_log }, "raw step log"));
    if (typeof r.trajectory_file === "string" && h.SAFE_REL.test(r.trajectory_file))
      links.push(el("a", { href: "../" + r.trajectory_file }, "trajectory"));
    const sib = el("div", { class: "siblings", id: "siblings" }, el("span", { class: "muted" }, "same task & seed: "));
    for (const s of ep.siblings || []) {
      const cls = s.error ? "err" : s.success ? "ok" : "no";
      const mark = s.error ? "!" : s.success ? "✓" : "✗";
      const node = h.el("a", { class: "sib " + cls + (s.slug === ep.slug ? " on" : ""), href: h.episodeHref(s.slug), "data-strategy": s.strategy }, `${s.strategy} ${mark}`);
      sib.appendChild(node);
    }
    const tokens = `${r.input_tokens} in / ${r.output_tokens} out` +
      (r.retrieval_input_tokens || r.retrieval_output_tokens
        ? ` (query writer ${r.retrieval_input_tokens}/${r.retrieval_output_tokens})` : "");
    return el(
      "section",
      { class: "episode-head" },
      el("h1", null, r.task_id, " ", el("span", { class: "muted" }, "seed " + r.seed)),
      el("div", { class: "badges" }, badge(r.strategy, "chip"), outcome, badge("stop: " + r.stop_reason), badge(r.policy)),
      r.instruction ? el("p", { class: "instruction" }, el("b", null, "Instruction: "), r.instruction) : null,
      kv([
        [`score (${(h.meta.run && h.meta.run.score_label) || "score"})`, h.fmt.num(r.score)],
        ["steps (actions sent)", String(r.steps)],
        ["policy calls", r.policy_calls ? String(r.policy_calls) : null],
        ["tokens", tokens],
        ["cost", h.fmt.cost(r.cost_usd)],
        ["cached calls", r.cached_calls ? String(r.cached_calls) : null],
        ["time", `${h.fmt.num(r.duration_s, 2)} s (retrieval ${h.fmt.num(r.retrieval_s, 3)}, model ${h.fmt.num(r.model_s, 3)}, env ${h.fmt.num(r.env_s, 3)})`],
        ["finished", r.finished_at],
      ]),
      r.error ? el("pre", { class: "text error" }, r.error) : null,
      sib,
      el("div", { class: "links" }, links),
      (ep.problems || []).length ? el("ul", { class: "problems" }, ep.problems.map((p) => el("li", null, p))) : null
    );
  }

  function windowView(item, ex) {
    const el = h.el;
    if (!ex) return null;
    if (ex.kind === "document") {
      return el("div", { class: "example-window doc" }, el("div", { class: "ex-title" }, ex.title || ""), pre(ex.text));
    }
    const steps = ex.steps || [];
    const span = Array.isArray(item.span) ? item.span : [0, steps.length];
    const matched = typeof item.matched_step === "number" ? item.matched_step : null;
    const box = el("div", { class: "example-window" });
    box.appendChild(
      el("div", { class: "ex-title" }, el("b", null, "Task: "), ex.instruction || "",
        ex.instruction_kind ? badge("instruction: " + ex.instruction_kind, "kind") : null,
        ex.source_kind ? badge("source: " + ex.source_kind) : null,
        ex.outcome ? badge("outcome: " + ex.outcome) : null)
    );
    const list = el("ol", { class: "ex-steps", start: String(span[0]) });
    const showAll = el("button", { class: "small" }, `show all ${steps.length} steps`);
    const draw = (all) => {
      h.clear(list);
      const lo = all ? 0 : span[0];
      const hi = all ? steps.length : span[1];
      list.setAttribute("start", String(lo));
      for (let i = lo; i < hi; i++) {
        const [obs, act] = steps[i];
        const inSpan = i >= span[0] && i < span[1];
        const cls = (i === matched ? "matched " : "") + (inSpan ? "in-span" : "out-span");
        const mark = matched === null ? "" : i === matched ? "t" : "t" + (i - matched > 0 ? "+" : "") + (i - matched);
        list.appendChild(
          el("li", { class: cls, "data-step": i },
            el("span", { class: "mark" }, mark),
            el("div", null, pre(obs, "obs"), el("div", { class: "act" }, "→ ", el("code", null, act))))
        );
      }
      if (hi === steps.length && ex.final !== null && ex.final !== undefined)
        list.appendChild(el("li", { class: "final" }, el("span", { class: "mark" }, "end"), pre(ex.final, "obs")));
    };
    draw(false);
    showAll.addEventListener("click", () => { draw(true); showAll.remove(); });
    box.appendChild(list);
    if (span[0] > 0 || span[1] < steps.length) box.appendChild(showAll);
    return box;
  }

  // Which scorer gave a hit its score (lbi_icl/view/scales.py): BM25 over observations,
  // cosine over an embedding field, fused, or reciprocal rank fusion.
  function scorerOf(item, stepStrategy) {
    const sc = h.meta.run && h.meta.run.scorers;
    if (!sc || item.score === undefined || item.score === null) return null;
    const part = String(item.strategy || "");
    if (part.includes("+") || (sc.rrf_strategies || []).includes(stepStrategy)) return sc.rrf;
    return sc.parts[part] || null;
  }

  function scoreCell(item, stepStrategy) {
    const s = scorerOf(item, stepStrategy);
    return h.el("td", { class: "score", title: s ? s[2] : null, "data-scorer": s ? s[0] : null },
      h.fmt.num(item.score, 3), s ? h.el("span", { class: "scorer" }, `${s[0]} · ${s[1]}`) : null);
  }

  function hitsTable(items, examples, cls, stepStrategy) {
    const el = h.el;
    const tbody = el("tbody");
    for (const it of items) {
      if (!it || typeof it !== "object") continue;
      const ex = examples.get(String(it.id));
      const span = Array.isArray(it.span) ? `${it.span[0]}–${it.span[1]}` : "–";
      const row = el(
        "tr",
        { class: "hit", "data-id": String(it.id) },
        el("td", null, it.rank === undefined ? "–" : String(it.rank)),
        el("td", { class: "id" }, String(it.id)),
        scoreCell(it, stepStrategy),
        el("td", null, it.strategy || "–"),
        el("td", null, it.kind || "example"),
        el("td", null, ex && ex.instruction_kind ? ex.instruction_kind : "–"),
        el("td", null, it.matched_step === null || it.matched_step === undefined ? "–" : String(it.matched_step)),
        el("td", null, span),
        el("td", null, it.query_writer || "–")
      );
      tbody.appendChild(row);
      const win = windowView(it, ex);
      const extra = Object.keys(it).filter((k) => !["id", "rank", "score", "strategy", "kind", "matched_step", "span", "query_writer"].includes(k));
      const detail = el("td", { colspan: "9" });
      if (win) detail.appendChild(el("details", { class: "window" }, el("summary", null, ex.kind === "document" ? `document: ${ex.title || ""}` : `example: “${ex.instruction || ""}” (window, matched step highlighted)`), win));
      else detail.appendChild(el("span", { class: "muted" }, "text not available (see the note at the top of the list)"));
      if (extra.length) detail.appendChild(el("details", null, el("summary", null, "more fields"), pre(json(Object.fromEntries(extra.map((k) => [k, it[k]]))))));
      tbody.appendChild(el("tr", { class: "hit-detail" }, detail));
    }
    return el(
      "table",
      { class: "hits " + cls },
      el("thead", null, el("tr", null, ["rank", "id", "score (scorer · field)", "found by", "kind", "instruction kind", "matched step", "window", "query writer"].map((x) => el("th", null, x)))),
      tbody
    );
  }

  function stepView(st, examples, index) {
    const el = h.el;
    const n = typeof st.step === "number" ? st.step : index;
    const parsed = st.parsed === true;
    const valid = st.valid === false ? badge("not a valid action", "no") : st.valid === true ? badge("valid", "ok") : null;
    const executed = st.executed ? badge("executed", "ok") : badge("not executed", "no");
    const tokens = `${st.input_tokens || 0}/${st.output_tokens || 0} tok` +
      (st.retrieval_input_tokens || st.retrieval_output_tokens ? ` (+${st.retrieval_input_tokens || 0}/${st.retrieval_output_tokens || 0} query)` : "");
    const sec = el(
      "section",
      { class: "step" + (st.error ? " has-error" : ""), id: "step-" + n, "data-step": n },
      el("div", { class: "step-head" },
        el("a", { class: "steplink", href: h.episodeHref(h.slug, n), title: "link to this step (share it)", "aria-label": "link to step " + n }, "#"),
        el("span", { class: "stepno" }, "step " + n),
        el("code", { class: "action" }, st.action === null || st.action === undefined ? "(no action)" : String(st.action)),
        parsed ? null : badge("unparsable", "no"), valid, executed,
        st.reward !== null && st.reward !== undefined ? badge("reward " + h.fmt.num(st.reward, 3), st.reward > 0 ? "ok" : "") : null,
        st.done ? badge("done", "ok") : null,
        st.cached ? badge("cached") : null,
        el("span", { class: "timing" },
          `retrieval ${h.fmt.ms(st.retrieval_s)}` + (st.retrieval_llm_s ? ` + query LLM ${h.fmt.ms(st.retrieval_llm_s)}` : "") +
          ` · model ${h.fmt.ms(st.model_s)} · env ${h.fmt.ms(st.env_s)} · ${tokens} · ${h.fmt.cost(st.cost_usd)}`))
    );
    if (st.error) sec.appendChild(el("pre", { class: "text error" }, String(st.error)));
    sec.appendChild(el("h3", null, "Observation"));
    sec.appendChild(pre(st.observation, "text obs-main"));
    const queries = st.queries && typeof st.queries === "object" ? Object.entries(st.queries) : [];
    const retrieved = Array.isArray(st.retrieved) ? st.retrieved : [];
    if (queries.length || retrieved.length) {
      const writers = [...new Set(retrieved.map((it) => it && it.query_writer).filter(Boolean))];
      sec.appendChild(el("h3", null, `Retrieval (${st.strategy || "?"})`));
      if (queries.length) {
        sec.appendChild(
          el("table", { class: "queries" },
            el("tbody", null, queries.map(([k, v]) => el("tr", null, el("th", null, k), el("td", null, pre(typeof v === "string" ? v : json(v), "q"))))))
        );
      }
      if (writers.length) sec.appendChild(el("p", { class: "muted" }, "model query written by: " + writers.join(", ")));
      sec.appendChild(retrieved.length ? hitsTable(retrieved, examples, "retrieved", st.strategy) : el("p", { class: "muted" }, "nothing retrieved"));
    }
    if (Array.isArray(st.dropped) && st.dropped.length) {
      sec.appendChild(el("h3", null, `Dropped by the token budget (${st.dropped.length})`));
      sec.appendChild(hitsTable(st.dropped, examples, "dropped", st.strategy));
    }
    if (Array.isArray(st.prompt)) {
      const msgs = st.prompt.map((m) => el("div", { class: "msg" }, el("div", { class: "role" }, String(m.role)), pre(m.content)));
      sec.appendChild(el("details", { class: "prompt" }, el("summary", null, `Prompt (${st.prompt.length} messages, sha256 ${String(st.prompt_sha256 || "").slice(0, 12)})`), msgs));
    } else {
      sec.appendChild(el("p", { class: "muted" }, `prompt not logged (agent.log_prompts = false); sha256 ${String(st.prompt_sha256 || "–").slice(0, 12)}`));
    }
    const templates = st.prompt_templates && typeof st.prompt_templates === "object" ? Object.entries(st.prompt_templates) : [];
    if (templates.length) sec.appendChild(templateLine(templates));
    sec.appendChild(el("h3", null, "Model output"));
    sec.appendChild(pre(st.raw_output, "text raw"));
    if (st.reason) sec.appendChild(el("p", { class: "reason" }, el("b", null, "Reason: "), String(st.reason)));
    if (st.next_observation !== null && st.next_observation !== undefined)
      sec.appendChild(el("details", null, el("summary", null, "next observation"), pre(st.next_observation)));
    const shot = st.info && st.info.screenshot ? screenshotSrc(st.info.screenshot) : null;
    if (shot) sec.appendChild(el("img", { class: "screenshot", src: shot, alt: "screen after this step", loading: "lazy" }));
    if (st.info && typeof st.info === "object" && Object.keys(st.info).length)
      sec.appendChild(el("details", null, el("summary", null, "env info"), pre(json(st.info))));
    const other = Object.keys(st).filter((k) => !KNOWN.has(k));
    if (other.length)
      sec.appendChild(el("details", { class: "other" }, el("summary", null, "other fields: " + other.join(", ")), pre(json(Object.fromEntries(other.map((k) => [k, st[k]]))))));
    return sec;
  }

  function render(app, ep, examples, helpers) {
    h = Object.assign({ clear: (n) => { while (n.firstChild) n.removeChild(n.firstChild); } }, helpers);
    const el = h.el;
    ep.slug = ep.slug || (location.hash.split("/")[2] || "");
    h.slug = ep.slug;
    app.appendChild(header(ep));
    const note = h.meta.examples && h.meta.examples.note;
    if (note) app.appendChild(el("p", { class: "note" }, "examples: " + note));
    const steps = Array.isArray(ep.steps) ? ep.steps : [];
    const toc = el("nav", { class: "toc" }, el("span", { class: "muted" }, `${steps.length} steps: `));
    steps.forEach((st, i) => {
      const n = typeof st.step === "number" ? st.step : i;
      const cls = st.error ? "err" : st.done ? "ok" : st.executed ? "" : "no";
      toc.appendChild(el("a", { href: h.episodeHref(ep.slug, n), class: cls, title: String(st.action || "") }, String(n)));
    });
    app.appendChild(toc);
    const timeline = el("div", { class: "timeline", id: "timeline" });
    steps.forEach((st, i) => timeline.appendChild(stepView(st, examples, i)));
    if (!steps.length) timeline.appendChild(el("p", { class: "muted" }, "no steps logged"));
    app.appendChild(timeline);
  }

  window.EpisodeView = { render };
})();
