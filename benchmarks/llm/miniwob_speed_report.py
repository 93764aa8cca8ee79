"""OUT/speed/speed.md from OUT/speed/speed.json (miniwob_speed.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _sum(rows: list[dict[str, Any]], key: str) -> float:
    return float(sum(r.get(key) or 0 for r in rows))


def layout_lines(layouts: dict[str, Any], episodes: int) -> list[str]:
    lines = [
        "| variant | calls | prompt tokens sent / call | evaluated / call | prefix reused | "
        "s / query call | s / policy call | s / step | s / episode | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, v in layouts.items():
        rows = v["calls"]
        q = [r for r in rows if r["kind"] == "query"]
        p = [r for r in rows if r["kind"] == "policy"]
        sent, ev = _sum(rows, "prompt_tokens"), _sum(rows, "evaluated")
        steps = max(1, len(p))
        lines.append(
            f"| {name} | {len(rows)} | {sent / len(rows):.0f} | {ev / len(rows):.0f} | "
            f"{100 * (1 - ev / sent):.0f} % | {_sum(q, 's') / max(1, len(q)):.1f} | "
            f"{_sum(p, 's') / steps:.1f} | {_sum(rows, 's') / steps:.1f} | "
            f"{_sum(rows, 's') / max(1, episodes):.0f} | {v.get('load', '?')} |"
        )
    return lines


def engine_lines(engine: dict[str, Any]) -> list[str]:
    lines = [
        "| server | prompt tokens | prompt tok/s | generated | gen tok/s | RSS MB | load |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, v in engine.items():
        f, g = v["full_prompt"], v["generation"]
        pts = f["evaluated"] / f["prompt_eval_s"] if f.get("prompt_eval_s") else float("nan")
        gts = g["out_tokens"] / g["gen_s"] if g.get("gen_s") else float("nan")
        lines.append(
            f"| {name} | {f['evaluated']} | {pts:.1f} | {g['out_tokens']} | {gts:.1f} | "
            f"{v.get('rss_mb')} | {v.get('load')} |"
        )
    return lines


def write_speed_md(res: dict[str, Any], path: Path) -> None:
    md = [f"# Speed on this machine ({res.get('started')} – {res.get('finished')})", ""]
    layouts = res.get("layouts") or {}
    if layouts:
        first = next(iter(layouts.values()))["calls"]
        episodes = res.get("episodes") or 0
        md += ["## Prompt layout and slots (the same steps replayed)", ""]
        md += layout_lines(layouts, episodes)
        md += ["", f"({len(first)} calls per variant)", ""]
    if res.get("engine"):
        md += ["## Engine settings (one full policy prompt, then a 64-token answer)", ""]
        md += [*engine_lines(res["engine"]), ""]
    caps = res.get("caps") or {}
    if caps.get("answers"):
        kept = ", ".join(f"{c}: {100 * v:.0f} %" for c, v in caps["kept_at_cap"].items())
        md += [
            "## Output caps",
            "",
            f"{caps['answers']} recorded policy answers; share whose `Action:` line ends within "
            f"the cap (tokens): {kept}.",
            "",
        ]
    trees = res.get("trees") or {}
    if trees:
        md += [
            "## Tree sizes",
            "",
            f"{trees['steps']} observed steps: accessibility tree p50 {trees['p50']}, p90 "
            f"{trees['p90']}, max {trees['max']} characters.",
            "",
        ]
    path.write_text("\n".join(md))
