"""The hosted benchmark's results as markdown tables (scale, cost per episode, rate)."""

from __future__ import annotations

from typing import Any


def _table(title: str, rows: list[dict[str, Any]], cols: list[tuple[str, Any]]) -> list[str]:
    out = [f"### {title}", "", "| " + " | ".join(h for h, _ in cols) + " |"]
    out.append("|" + "|".join("---" for _ in cols) + "|")
    out += ["| " + " | ".join(str(f(r)) for _, f in cols) + " |" for r in rows]
    return [*out, ""]


def _f(key: str, fmt: str = "{}") -> Any:
    return lambda r: "-" if r.get(key) is None else fmt.format(r[key])


def render(res: dict[str, Any]) -> str:
    lines = _table(
        "Scale",
        res.get("scale", []),
        [
            ("workers", _f("workers")),
            ("episodes", _f("episodes")),
            ("wall s", _f("wall_s", "{:.1f}")),
            ("first request s", _f("first_request_s", "{:.2f}")),
            ("SDK import s", _f("sdk_import_s", "{:.1f}")),
            ("episodes/hour", _f("episodes_per_hour", "{:.0f}")),
            ("ratio of ideal", _f("ratio_of_ideal", "{:.2f}")),
            ("calls/s", _f("calls_per_s", "{:.1f}")),
            ("calls ratio", _f("calls_ratio_of_ideal", "{:.2f}")),
            ("client CPU ms/call", _f("cpu_ms_per_call", "{:.1f}")),
            ("cores busy", _f("cpu_share", "{:.2f}")),
            ("load avg", _f("load", "{:.0f}")),
            ("peak MB", _f("hwm_mb", "{:.0f}")),
            ("MB per worker", _f("mb_per_worker", "{:.1f}")),
        ],
    )
    lines += _table(
        "Cost per episode",
        res.get("cost", []),
        [
            ("protocol", _f("protocol")),
            ("strategy", _f("strategy")),
            ("prompt", _f("prompt")),
            ("layout", _f("layout")),
            ("cache minimum", _f("minimum")),
            ("cache_prompt", _f("cache_prompt")),
            ("steps", _f("steps_per_episode", "{:.1f}")),
            ("input tok", _f("input_per_episode", "{:.0f}")),
            ("read tok", _f("read_per_episode", "{:.0f}")),
            ("write tok", _f("write_per_episode", "{:.0f}")),
            ("billed $/ep", _f("cost_per_episode", "{:.4f}")),
            ("uncached $/ep", _f("uncached_cost_per_episode", "{:.4f}")),
            (
                "billed / uncached",
                lambda r: f"{r['cost_per_episode'] / r['uncached_cost_per_episode']:.2f}",
            ),
        ],
    )
    lines += _table(
        "Rate",
        res.get("rate", []),
        [
            ("case", _f("case")),
            ("client rpm", _f("client_rpm", "{:.0f}")),
            ("provider rpm", _f("server_rpm", "{:.0f}")),
            ("requests", _f("requests")),
            ("429s", _f("http_429")),
            ("observed rpm", _f("observed_rpm", "{:.0f}")),
            ("max in any 60 s", _f("max_in_60s")),
            ("max in any 10 s x 6", _f("max_in_10s_x6")),
            ("wall s", _f("wall_s", "{:.1f}")),
            ("errors", _f("errors")),
        ],
    )
    return "\n".join(lines)
