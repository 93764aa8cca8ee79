/* lbi run viewer: bar charts of the per-strategy means (success rate, steps, tokens in and
 * out, cost), drawn as inline SVG with DOM calls: no library, no inline style (the CSP
 * forbids it; colours come from viewer.css classes). The numbers are the report's own
 * (`lbi report`): computed by `lbi view` from the run's records into data/meta.js.
 */
"use strict";

(function () {
  const { el, svg, fmt } = window.LBI;

  const METRICS = [
    { key: "success_rate", title: "success rate", note: "over finished episodes", format: (v) => fmt.pct(v, 1), max: 1 },
    { key: "mean_steps", title: "mean steps", note: "actions per finished episode", format: (v) => fmt.num(v, 1) },
    { key: "tokens_in", title: "mean tokens in", note: "prompt tokens per episode (query writer included)", format: (v) => fmt.num(v, 0) },
    { key: "tokens_out", title: "mean tokens out", note: "output tokens per episode", format: (v) => fmt.num(v, 0) },
    { key: "cost", title: "mean cost", note: "USD per episode, where the price is known", format: (v) => fmt.cost(v) },
  ];

  // axis labels: 3 significant digits (0.5, 12.5, 1.2k), a $ for costs, % for rates
  function tick(metric, v) {
    if (metric.max === 1) return fmt.pct(v, 1);
    const a = Math.abs(v);
    const n = a >= 1000 ? String(Number((v / 1000).toPrecision(3))) + "k" : String(Number(v.toPrecision(3)));
    return (metric.key === "cost" ? "$" : "") + n;
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  // One chart: items = [{label, value}] (value null: no bar, "–")
  function bars(metric, items) {
    const barW = 56;
    const gap = 22;
    const left = 62;
    const top = 22;
    const h = 150;
    const bottom = 46;
    const width = left + items.length * (barW + gap) + gap;
    const values = items.map((it) => it.value).filter((v) => typeof v === "number" && Number.isFinite(v));
    const max = metric.max || niceMax(Math.max(0, ...values));
    const y = (v) => top + h * (1 - Math.max(0, v) / max);
    const root = svg("svg", {
      class: "chart",
      width,
      height: top + h + bottom,
      viewBox: `0 0 ${width} ${top + h + bottom}`,
      role: "img",
      "aria-label": metric.title + " by strategy",
      "data-metric": metric.key,
    });
    root.appendChild(svg("title", { text: `${metric.title} by strategy (${metric.note})` }));
    for (const t of [0, 0.5, 1]) {
      const v = t * max;
      root.appendChild(svg("line", { class: "grid", x1: left, x2: width, y1: y(v), y2: y(v) }));
      root.appendChild(svg("text", { class: "tick", x: left - 6, y: y(v) + 4, "text-anchor": "end", text: tick(metric, v) }));
    }
    items.forEach((it, i) => {
      const x = left + gap + i * (barW + gap);
      const ok = typeof it.value === "number" && Number.isFinite(it.value);
      if (ok) {
        const bar = svg("rect", {
          class: "bar",
          x,
          y: y(it.value),
          width: barW,
          height: Math.max(0, top + h - y(it.value)),
          "data-strategy": it.label,
          "data-value": it.value,
        });
        bar.appendChild(svg("title", { text: `${it.label}: ${metric.format(it.value)}` }));
        root.appendChild(bar);
      }
      root.appendChild(
        svg("text", { class: "value", x: x + barW / 2, y: (ok ? y(it.value) : top + h) - 4, "text-anchor": "middle", text: ok ? metric.format(it.value) : "–" })
      );
      root.appendChild(svg("text", { class: "label", x: x + barW / 2, y: top + h + 16, "text-anchor": "middle", text: it.label }));
    });
    root.appendChild(svg("line", { class: "axis", x1: left, x2: width, y1: top + h, y2: top + h }));
    return root;
  }

  function renderSummary(app, meta) {
    const strategies = meta.strategies;
    app.appendChild(
      el("p", { class: "muted" },
        `Per strategy, over this run's ${meta.counts.episodes} episode(s): the numbers of \`lbi report\` ` +
        "(success and steps over finished episodes; tokens and cost over every recorded episode).")
    );
    const grid = el("div", { class: "charts", id: "charts" });
    for (const m of METRICS) {
      const items = strategies.map((s) => {
        const st = meta.per_strategy[s] || {};
        let v = st[m.key];
        if (m.key === "cost" && !st.cost_known) v = null;
        return { label: s, value: v === undefined ? null : v };
      });
      grid.appendChild(el("figure", { class: "chart-box" }, el("figcaption", null, el("b", null, m.title), " ", el("span", { class: "muted" }, m.note)), bars(m, items)));
    }
    app.appendChild(grid);
  }

  window.LBICharts = { bars, renderSummary, METRICS };
})();
