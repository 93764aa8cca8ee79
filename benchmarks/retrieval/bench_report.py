"""bench.py's report: terminal tables, Markdown (--render), targets, MiniLM build estimate."""

from __future__ import annotations

from typing import Any

TARGETS_1M = {  # issue 3 §4, on a 2-core machine at 1M pairs
    "observation_p50_ms": 50.0,
    "agentic_p50_ms": 80.0,
    "load_s": 5.0,
    "peak_mb": 6144.0,
}


def extrapolate_minilm(build: dict[str, Any], rates: dict[str, Any]) -> float | None:
    """Build seconds with MiniLM: the measured non-embedding time plus each embed call's
    unique texts at the measured rate of the nearest text kind (by mean words)."""
    groups = rates.get("groups") or {}
    if not groups:
        return None
    total = build["build_s"] - build["embed_s"]
    for call in build["embed_calls"]:
        nearest = min(groups.values(), key=lambda g: abs(g["mean_words"] - call["mean_words"]))
        total += call["unique"] / nearest["texts_per_s"]
    return total


def _ms(lat: dict[str, Any]) -> str:
    return f"{lat['p50_ms']:.1f} / {lat['p95_ms']:.1f}"


def print_report(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    if report.get("engines"):
        e = report["engines"]
        t = Table(title=f"BM25 engines at {e['n_docs']:,} observations (top-{e['k']}, one query)")
        for col in ("engine", "build s", "query p50 / p95 ms", "queries"):
            t.add_column(col, justify="right" if col != "engine" else "left")
        for r in e["engines"]:
            t.add_row(r["engine"], f"{r['build_s']:.2f}", _ms(r["query"]), str(r["n_queries"]))
        console.print(t)
        for key, val in e["overlap_at_k"].items():
            console.print(
                f"  overlap@{e['k']} {key}: {val:.3f}   top-1 agreement: {e['top1_agree'][key]:.3f}"
            )

    b = Table(title=f"Build (embedder: {report['embedder']})")
    for col in (
        "pairs",
        "examples",
        "build s",
        "read+parse s",
        "embed s (share)",
        "unique texts emb.",
        "texts/s",
        "BM25 s",
        "other s",
        "size MB",
        "peak MB",
        "MiniLM build s (est.)",
    ):
        b.add_column(col, justify="right")
    for r in report["sizes"]:
        x = r["build"]
        uniq = sum(c["unique"] for c in x["embed_calls"])
        rate = uniq / x["embed_s"] if x["embed_s"] else float("inf")
        est = r.get("minilm_build_s_est")
        b.add_row(
            r["label"],
            f"{x['examples']:,}",
            f"{x['build_s']:.1f}",
            f"{x['read_parse_s']:.1f}",
            f"{x['embed_s']:.1f} ({100 * x['embed_s'] / x['build_s']:.0f}%)",
            f"{uniq:,}",
            f"{rate:,.0f}",
            f"{x['bm25_s']:.1f}",
            f"{x['other_s']:.1f}",
            f"{r['index_bytes'] / 2**20:,.0f}",
            f"{x['peak_rss_mb']:,.0f}",
            f"{est:,.0f}" if est is not None else "-",
        )
    console.print(b)

    s = Table(title="Load and query (fresh process; latency p50 / p95 ms)")
    cols = ["pairs", "load s", "peak MB", "BM25 top-5", "embed query"]
    strategies = list(report["sizes"][0]["serve"]["strategies"]) if report["sizes"] else []
    cols += strategies
    for col in cols:
        s.add_column(col, justify="right")
    for r in report["sizes"]:
        x = r["serve"]
        s.add_row(
            r["label"],
            f"{x['load_s']:.2f}",
            f"{x['peak_rss_mb']:,.0f}",
            _ms(x["engine"]["bm25_top5"]),
            _ms(x["engine"]["embed_template_query"]),
            *[_ms(x["strategies"][k]["latency"]) for k in strategies],
        )
    console.print(s)

    if report.get("throughput"):
        th = report["throughput"]
        console.print(
            "MiniLM throughput (unique texts/s): "
            + ", ".join(
                f"{k} {g['texts_per_s']:.1f}/s (~{g['mean_words']:.0f} words, "
                f"~{g.get('mean_wordpieces') or 0:.0f} word pieces)"
                for k, g in th["groups"].items()
            )
        )
        if th.get("query_embed"):
            console.print(f"MiniLM template-query embedding ms p50 / p95: {_ms(th['query_embed'])}")
    for check in report.get("targets", []):
        mark = "[green]met[/]" if check["met"] else "[red]MISSED[/]"
        console.print(
            f"target {check['name']} at {check['label']}: {check['measured']:.2f} "
            f"(≤ {check['target']:.0f}) {mark}"
        )


def markdown_report(report: dict[str, Any]) -> str:
    """The run's tables as Markdown, for the README (`--render RESULTS.json`)."""
    m = report["machine"]
    lines = [
        f"- command: `{report['command']}`",
        f"- date: {report['date']}; git {m.get('git_commit')}; Python {m.get('python')}",
        f"- machine: {m.get('nproc')} CPUs ({m.get('cpu')}), "
        + (m.get("memory", "").splitlines()[1].split()[1] if m.get("memory") else "?")
        + " RAM; 1-min load average at start "
        + (f"{m['loadavg'][0]:.1f}" if m.get("loadavg") else "?"),
        f"- embedder: {report['embedder']}; BLAS threads in serve: "
        + str(report.get("blas_threads") or "library default"),
        "",
    ]
    e = report.get("engines")
    if e:
        lines += [
            f"BM25 engines, {e['n_docs']:,} observations, top-{e['k']}, one query at a time "
            f"(~{e['mean_query_tokens']:.0f} query tokens):",
            "",
            "| engine | build s | query p50 ms | query p95 ms | queries |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in e["engines"]:
            q = r["query"]
            lines.append(
                f"| {r['engine']} | {r['build_s']:.2f} | {q['p50_ms']:.1f} | {q['p95_ms']:.1f} "
                f"| {r['n_queries']} |"
            )
        lines.append("")
        for key, val in e["overlap_at_k"].items():
            lines.append(
                f"- overlap@{e['k']} {key}: {val:.2f} (top-1 agreement {e['top1_agree'][key]:.2f})"
            )
        lines.append("")
    lines += [
        "| pairs | examples | build s | read+parse s | embed s (share) | unique texts "
        "embedded | embed texts/s | BM25 s | other s | index MB | build peak MB | "
        "MiniLM build s (est.) | build load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["sizes"]:
        x = r["build"]
        uniq = sum(c["unique"] for c in x["embed_calls"])
        rate = uniq / x["embed_s"] if x["embed_s"] else float("inf")
        est = r.get("minilm_build_s_est")
        lines.append(
            f"| {r['label']} | {x['examples']:,} | {x['build_s']:.1f} | {x['read_parse_s']:.1f} "
            f"| {x['embed_s']:.1f} ({100 * x['embed_s'] / x['build_s']:.0f} %) | {uniq:,} "
            f"| {rate:,.0f} | {x['bm25_s']:.1f} | {x['other_s']:.1f} "
            f"| {r['index_bytes'] / 2**20:,.0f} | {x['peak_rss_mb']:,.0f} "
            f"| {f'{est:,.0f}' if est is not None else '-'} | {x.get('loadavg_1m') or 0:.1f} |"
        )
    lines.append("")
    strategies = list(report["sizes"][0]["serve"]["strategies"]) if report["sizes"] else []
    lines += [
        "| pairs | load s | serve peak MB | BM25 top-5 | dense top-5 (vector given) "
        "| embed query | " + " | ".join(strategies) + " | serve load avg |",
        "|---|---:|---:|---:|---:|---:|" + "---:|" * len(strategies) + "---:|",
    ]
    for r in report["sizes"]:
        x = r["serve"]
        eng = x["engine"]
        lines.append(
            f"| {r['label']} | {x['load_s']:.2f} | {x['peak_rss_mb']:,.0f} "
            f"| {_ms(eng['bm25_top5'])} | {_ms(eng['dense_top5_given_vector'])} "
            f"| {_ms(eng['embed_template_query'])} | "
            + " | ".join(_ms(x["strategies"][k]["latency"]) for k in strategies)
            + f" | {x.get('loadavg_1m') or 0:.1f} |"
        )
    lines += ["", "(latencies: p50 / p95 ms over the timed queries)", ""]
    th = report.get("throughput")
    if th:
        lines.append("MiniLM (all-MiniLM-L6-v2, CPU) on a sample of the corpus's own texts:")
        lines.append("")
        lines.append("| texts | n | mean words | mean word pieces | texts/s | word pieces/s |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for k, g in th["groups"].items():
            wp = g.get("mean_wordpieces")
            wps = g.get("wordpieces_per_s")
            lines.append(
                f"| {k} | {g['texts']} | {g['mean_words']:.0f} | "
                f"{f'{wp:.0f}' if wp else '-'} | {g['texts_per_s']:.1f} | "
                f"{f'{wps:.0f}' if wps else '-'} |"
            )
        if th.get("query_embed"):
            lines.append("")
            capped = (
                f"; with the observation cut to its first {th['query_cap_words']} words "
                f"(the default template) {_ms(th['query_embed_capped'])} ms"
                if th.get("query_embed_capped")
                else ""
            )
            lines.append(
                f"One template query embedded at a time: {_ms(th['query_embed'])} ms "
                f"(p50 / p95) with the whole observation{capped}; model load "
                f"{th['model_load_s']:.1f} s; load average {th.get('loadavg_1m', 0):.1f}."
            )
        lines.append("")
    for c in report.get("targets", []):
        lines.append(
            f"- target {c['name']} (≤ {c['target']:g}) at {c['label']}: measured "
            f"{c['measured']:.2f} — {'met' if c['met'] else '**MISSED**'}"
        )
    return "\n".join(lines) + "\n"


def check_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 3's targets, checked at the largest size run (they are stated for 1M)."""
    if not report["sizes"]:
        return []
    r = max(report["sizes"], key=lambda x: x["pairs"])
    s = r["serve"]
    p50 = {k: v["latency"]["p50_ms"] for k, v in s["strategies"].items()}
    measured = {
        "observation_p50_ms": p50.get("observation"),
        "agentic_p50_ms": p50.get("agentic"),
        "load_s": s["load_s"],
        "peak_mb": max(s["peak_rss_mb"], r["build"]["peak_rss_mb"]),
    }
    return [
        {
            "name": k,
            "label": r["label"],
            "measured": v,
            "target": TARGETS_1M[k],
            "met": v <= TARGETS_1M[k],
        }
        for k, v in measured.items()
        if v is not None
    ]
