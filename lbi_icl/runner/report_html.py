"""`lbi report --format html`: one self-contained page (inline SVG chart of success with CI
whiskers, the main table, every episode linked to its page in the run viewer,
`view/index.html#/episode/<slug>`, which `lbi report --format html` and `lbi quickstart`
write beside it; no JS, no CDN)."""

from __future__ import annotations

import html

from lbi_icl.runner.report_data import Report
from lbi_icl.runner.report_text import _cost, _notes, _num, _pct, _title, table_rows
from lbi_icl.runner.results import episode_slug


def _svg_chart(rep: Report) -> str:
    """Bars of success rate with Wilson CI whiskers, drawn inline (no JS, no CDN)."""
    rows = [r for r in rep.strategies if r.success_rate is not None]
    bar_w, gap, height, top, bottom, left = 56, 28, 220, 28, 40, 44
    width = left + len(rows) * (bar_w + gap) + gap
    total_h = top + height + bottom

    def y(v: float) -> float:
        return top + height * (1 - v)

    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{total_h}" role="img" aria-label="success rate by strategy">',
        "<title>success rate by strategy (95% Wilson CI)</title>",
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{left}" x2="{width}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" '
            f'font-size="11">{int(tick * 100)}%</text>'
        )
    for i, r in enumerate(rows):
        x = left + gap + i * (bar_w + gap)
        rate = r.success_rate or 0.0
        name = html.escape(r.strategy)
        parts.append(
            f'<rect class="bar" data-strategy="{name}" x="{x}" y="{y(rate):.1f}" '
            f'width="{bar_w}" height="{height * rate:.1f}" fill="#4c78a8">'
            f"<title>{name}: {_pct(rate)} ({r.successes}/{r.finished})</title></rect>"
        )
        top_of = max(rate, r.ci_high or 0.0)  # the label sits above bar and whisker
        if r.ci_low is not None and r.ci_high is not None:
            cx = x + bar_w / 2
            parts.append(
                f'<line x1="{cx}" x2="{cx}" y1="{y(r.ci_low):.1f}" y2="{y(r.ci_high):.1f}" '
                'stroke="#222"/>'
                f'<line x1="{cx - 8}" x2="{cx + 8}" y1="{y(r.ci_high):.1f}" '
                f'y2="{y(r.ci_high):.1f}" stroke="#222"/>'
                f'<line x1="{cx - 8}" x2="{cx + 8}" y1="{y(r.ci_low):.1f}" '
                f'y2="{y(r.ci_low):.1f}" stroke="#222"/>'
            )
        parts.append(
            f'<text x="{x + bar_w / 2}" y="{top + height + 16}" text-anchor="middle" '
            f'font-size="12">{name}</text>'
            f'<text x="{x + bar_w / 2}" y="{y(top_of) - 4:.1f}" text-anchor="middle" '
            f'font-size="11">{_pct(rate)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def to_html(rep: Report) -> str:
    esc = html.escape
    head, rows = table_rows(rep)
    main = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    ep_rows = []
    for e in rep.episodes:
        traj = f'<a href="{esc(e.trajectory_file)}">trajectory</a>' if e.trajectory_file else ""
        page = esc(f"view/index.html#/episode/{episode_slug(e.key)}")
        ep_rows.append(
            "<tr>"
            f'<td>{esc(e.strategy)}</td><td><a href="{page}">{esc(e.task_id)}</a></td>'
            f"<td>{e.seed}</td>"
            f'<td class="{"ok" if e.success else "no"}">{"yes" if e.success else "no"}</td>'
            f"<td>{_num(e.score)}</td><td>{e.steps}</td>"
            f"<td>{e.input_tokens}/{e.output_tokens}</td><td>{_cost(e.cost_usd)}</td>"
            f"<td>{esc(e.stop_reason)}</td><td>{esc(e.error or '')}</td>"
            f'<td><a class="view" href="{page}">steps in the viewer</a> {traj}</td>'
            "</tr>"
        )
    notes = "".join(f"<li>{esc(n)}</li>" for n in _notes(rep))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{esc(_title(rep))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
th {{ background: #f3f3f3; }}
td.ok {{ color: #1a7f37; }} td.no {{ color: #b42318; }}
.label {{ background: #fff4ce; padding: 4px 8px; display: inline-block; }}
</style></head><body>
<h1>{esc(_title(rep))}</h1>
<p class="label">{esc(rep.label)}</p>
<p>run: <code>{esc(rep.run)}</code></p>
{f"<p class='protocol'>{esc(rep.protocol)}</p>" if rep.protocol else ""}
<p class="viewer"><a href="view/index.html">Open the run viewer</a> (each step's observation,
retrieved examples, prompt and output; written by <code>lbi view {esc(rep.run)}</code>)</p>
<h2>Success by strategy</h2>
{_svg_chart(rep)}
<h2>Summary</h2>
<table class="summary"><thead><tr>{main}</tr></thead><tbody>{body}</tbody></table>
<ul>{notes}</ul>
<h2>Episodes</h2>
<table class="episodes"><thead><tr><th>strategy</th><th>task</th><th>seed</th><th>success</th>
<th>score</th><th>steps</th><th>tokens in/out</th><th>cost</th><th>stop</th><th>error</th>
<th>steps</th></tr></thead><tbody>{"".join(ep_rows)}</tbody></table>
</body></html>
"""
