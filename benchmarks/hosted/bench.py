"""Hosted models, simulated: `lbi run` against the loopback provider (provider.py, its own
process) with hosted-like latency, rate limits and cache accounting. Three measurements:

1. scale: BabyAI episodes/hour with 1/8/32/64 workers (threads, strategy `none`, the LLM
   policy over the Anthropic wire) as a ratio of the ideal (workers x the 1-worker rate);
   each point is a fresh process, so its peak memory gives memory per worker;
2. cost: billed cost per 20-step episode with prompt caching against the same tokens
   without it, for `none` and `agentic`, over both wire protocols, with the paper's prompt
   (layout examples_first) and the stable-first layout (providers' cache minimums; no
   minimum, what caching could do if short prefixes were cached), with the environment's
   documents in the system message and with them after each task's instruction (a long
   objective), both layouts;
3. rate: the request rate the provider observed against `--rpm` with 64 workers (never
   above it), and what happens without a client limit against a provider enforcing one.

    python benchmarks/hosted/bench.py --out /tmp/hosted-bench
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from bisect import bisect_left
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ANTHROPIC = "anthropic:claude-sonnet-4"
OPENAI = "openai:gpt-4.1"
# scale and rate: every episode the same length (turning never reaches a goal)
TURN = "Reason: I look around first.\nAction: turn left"


class ProviderProc:
    """provider.py in a child process (dies with us); its URLs, stats and reset."""

    def __init__(self, **settings: Any) -> None:
        argv = [sys.executable, str(HERE / "provider.py")]
        for k, v in settings.items():
            if v is not None:
                argv += [f"--{k.replace('_', '-')}", str(v)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"provider did not start: {line!r}")
        self.port = int(line.split()[1])

    def url(self, spec: str) -> str:
        base = f"http://127.0.0.1:{self.port}"
        return base + "/v1" if spec.startswith("openai:") else base

    def stats(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=30) as r:
            return json.loads(r.read())

    def reset(self) -> None:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/reset", data=b"{}")
        urllib.request.urlopen(req, timeout=30).read()

    def __enter__(self) -> ProviderProc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def build_index(root: Path, train_tasks: int) -> Path:
    from lbi_icl.cli import main

    data, index = root / "data" / "babyai.jsonl", root / "index"
    if not (index / "manifest.json").exists():
        argv = ["synthesize", "--env", "babyai", "--tasks", str(train_tasks), "--out", str(data)]
        assert main([*argv, "--no-progress"]) == 0
        argv = ["index", "build", "--trajectories", str(data), "--out", str(index)]
        assert (
            main([*argv, "--docs", str(data.with_suffix(".docs.jsonl")), "--embedder", "hash:64"])
            == 0
        )
    return index


def babyai_docs() -> str:
    from lbi_icl.envs import make_env

    env = make_env("babyai")
    try:
        return "\n\n".join(f"### {d.title}\n{d.text}" for d in env.documents())
    finally:
        env.close()


def docs_system_prompt(root: Path) -> Path:
    """The default system template with BabyAI's documents appended (a longer stable head)."""
    from lbi_icl.prompts import default_prompts

    docs = babyai_docs()
    text = default_prompts()["agent_system"].text.rstrip()
    path = root / "agent_system_docs.txt"
    path.write_text(f"{text}\n\n## Documentation\n\n{docs.replace('$', '$$')}\n", "utf-8")
    return path


def config(out: Path, spec: str, url: str, **kw: Any) -> Any:
    from lbi_icl.runner import RunConfig

    base: dict[str, Any] = {
        "env": "babyai",
        "policy": "llm",
        "llm": spec,
        "llm_base_url": url,
        "strategies": ["none"],
        "out": out,
        "max_steps": 20,
    }
    return RunConfig(**{**base, **kw})


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def memory_mb() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


# -- 1. scale ---------------------------------------------------------------------------
def scale_one(args: argparse.Namespace) -> None:
    """One scale point in this (fresh) process; prints its JSON."""
    t0 = time.monotonic()
    import anthropic  # noqa: F401  (the SDK's import is seconds, paid once per process)

    sdk_import_s = time.monotonic() - t0
    from lbi_icl.runner import run_experiment

    cfg = config(
        Path(args.run_out),
        ANTHROPIC,
        args.url,
        tasks=args.episodes,
        workers=args.workers,
        max_steps=args.steps,
    )
    marks: dict[str, Any] = {"t_start": time.monotonic(), "sdk_import_s": sdk_import_s}

    def on_plan(*_: int) -> None:
        marks["t_plan"] = time.monotonic()
        marks["mem_plan"] = memory_mb()
        marks["cpu_plan"] = _cpu_s()

    summary = run_experiment(cfg, show_progress=False, on_plan=on_plan)
    marks["t_end"] = time.monotonic()
    marks["cpu_s"] = _cpu_s() - marks["cpu_plan"]
    marks["load"] = os.getloadavg()[0]
    print(
        json.dumps({**marks, "mem_end": memory_mb(), "ran": summary.ran, "errors": summary.errors})
    )


def phase_scale(args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    rows = []
    settings = {"latency_s": args.latency, "per_output_token_s": args.per_token, "answer": TURN}
    with ProviderProc(**settings) as prov:
        for w in args.workers:
            episodes = max(args.min_episodes, args.episodes_per_worker * w)
            argv = [sys.executable, __file__, "_scale", "--url", prov.url(ANTHROPIC)]
            argv += ["--workers", str(w), "--episodes", str(episodes), "--steps", str(args.steps)]
            argv += ["--run-out", str(out / f"scale-w{w}")]
            prov.reset()
            res = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT)
            m = json.loads(res.stdout.strip().splitlines()[-1])
            served = prov.stats()
            ok = [s for s in served if s["status"] == 200]
            wall = m["t_end"] - m["t_plan"]
            rows.append(
                {
                    "workers": w,
                    "episodes": m["ran"],
                    "errors": m["errors"],
                    "calls": len(ok),
                    "calls_per_s": len(ok) / wall,
                    "wall_s": wall,
                    "first_request_s": min(s["t"] for s in ok) - m["t_plan"],
                    "sdk_import_s": m["sdk_import_s"],
                    "cpu_ms_per_call": 1000 * m["cpu_s"] / max(1, len(ok)),
                    "cpu_share": m["cpu_s"] / wall,  # cores this process kept busy
                    "load": m["load"],
                    "episodes_per_hour": 3600 * m["ran"] / wall,
                    "hwm_mb": m["mem_end"]["VmHWM"],
                    "rss_at_plan_mb": m["mem_plan"]["VmRSS"],
                }
            )
            print(f"scale: {rows[-1]}", file=sys.stderr)
    one = rows[0]["episodes_per_hour"] / rows[0]["workers"]
    one_calls = rows[0]["calls_per_s"] / rows[0]["workers"]
    for r in rows:
        r["ratio_of_ideal"] = r["episodes_per_hour"] / (r["workers"] * one)
        r["calls_ratio_of_ideal"] = r["calls_per_s"] / (r["workers"] * one_calls)
    base = rows[0]
    for r in rows[1:]:
        r["mb_per_worker"] = (r["hwm_mb"] - base["hwm_mb"]) / (r["workers"] - base["workers"])
    return rows


# -- 2. cost ----------------------------------------------------------------------------
def _uncached_cost(spec: str, recs: list[Any]) -> float:
    """The same calls' cost had every prompt token been billed as plain input."""
    from lbi_icl.llm import price_for

    price = price_for(spec.split(":", 1)[1])
    assert price is not None
    cost = sum(r.cost_usd or 0 for r in recs)
    extra = sum(
        r.cache_read_tokens * (price.input_per_m - price.read_per_m())
        + r.cache_write_tokens * (price.input_per_m - price.write_per_m())
        for r in recs
    )
    return cost + extra / 1e6


def phase_cost(args: argparse.Namespace, out: Path, index: Path) -> list[dict[str, Any]]:
    from lbi_icl.envs import make_env

    env = make_env("babyai")
    tasks = env.tasks("test")[: args.cost_episodes]
    env.close()
    docs = docs_system_prompt(out)
    # a long objective (a stand-in for a swe problem statement): BabyAI's documents after
    # each task's instruction
    manual = babyai_docs()
    long_tasks = [
        t.model_copy(update={"instruction": f"{t.instruction}\n\n{manual}"}) for t in tasks
    ]
    # prompt variant -> (template overrides, agent.prompt_layout, tasks)
    variants = {
        "paper": ({}, "examples_first", tasks),
        "stable-first": ({}, "stable_first", tasks),
        "docs": ({"agent_system": docs}, "examples_first", tasks),
        "docs+stable-first": ({"agent_system": docs}, "stable_first", tasks),
        "long objective": ({}, "examples_first", long_tasks),
        "long objective+stable-first": ({}, "stable_first", long_tasks),
    }
    wanted = [x.strip() for x in args.cost_prompts.split(",") if x.strip()]
    rows = []
    cases = [
        ("provider minimum", None, "paper"),
        ("provider minimum", None, "stable-first"),
        ("no minimum", 0, "paper"),
        ("no minimum", 0, "stable-first"),
        ("provider minimum", None, "docs"),
        ("provider minimum", None, "docs+stable-first"),
        ("provider minimum", None, "long objective"),
        ("provider minimum", None, "long objective+stable-first"),
    ]
    by_minimum: dict[Any, list[str]] = {}
    for _, minimum, prompt in cases:
        if prompt in wanted:
            by_minimum.setdefault(minimum, []).append(prompt)
    for minimum, names in by_minimum.items():
        minimum_label = "provider minimum" if minimum is None else "no minimum"
        _cost_runs(args, out, index, minimum, minimum_label, names, variants, rows)
    return rows


def _cost_runs(
    args: argparse.Namespace,
    out: Path,
    index: Path,
    minimum: int | None,
    minimum_label: str,
    names: list[str],
    variants: dict[str, tuple[dict[str, Path], str, list[Any]]],
    rows: list[dict[str, Any]],
) -> None:
    """Every protocol x strategy x prompt variant against one provider (one cache minimum)."""
    from lbi_icl.runner import latest_records, run_experiment

    with ProviderProc(latency_s=0.0, per_output_token_s=0.0, min_cache_tokens=minimum) as prov:
        for prompt in names:
            overrides, layout, tasks = variants[prompt]
            for spec in (ANTHROPIC, OPENAI):
                for strategy in ("none", "agentic"):
                    for mode in (
                        ("auto", "off")
                        if (spec, strategy, minimum, prompt) == (ANTHROPIC, "none", None, "paper")
                        else ("auto",)
                    ):
                        prov.reset()
                        tag = prompt.replace("+", "-").replace(" ", "-")
                        run_dir = (
                            out / f"cost-{spec.split(':')[0]}-{strategy}-{tag}-{minimum}-{mode}"
                        )
                        cfg = config(
                            run_dir,
                            spec,
                            prov.url(spec),
                            tasks=len(tasks),
                            strategies=[strategy],
                            index=index,
                            workers=args.cost_workers,
                            llm_cache_prompt=mode,
                            prompts=overrides,
                            agent={"prompt_layout": layout},
                        )
                        t0 = time.monotonic()
                        run_experiment(cfg, tasks=tasks, show_progress=False)
                        wall = time.monotonic() - t0
                        recs = list(latest_records(run_dir).values())
                        n = len(recs)
                        served = [s for s in prov.stats() if s["status"] == 200]
                        rows.append(
                            {
                                "protocol": spec,
                                "strategy": strategy,
                                "prompt": prompt,
                                "layout": layout,
                                "minimum": minimum_label,
                                "cache_prompt": mode,
                                "episodes": n,
                                "steps_per_episode": statistics.mean(r.steps for r in recs),
                                "input_per_episode": sum(r.input_tokens for r in recs) / n,
                                "read_per_episode": sum(r.cache_read_tokens for r in recs) / n,
                                "write_per_episode": sum(r.cache_write_tokens for r in recs) / n,
                                "cost_per_episode": sum(r.cost_usd or 0 for r in recs) / n,
                                "uncached_cost_per_episode": _uncached_cost(spec, recs) / n,
                                "server_read": sum(s["cache_read"] for s in served),
                                "client_read": sum(r.cache_read_tokens for r in recs),
                                "wall_s": wall,
                                "load": os.getloadavg()[0],
                            }
                        )
                        print(f"cost: {rows[-1]}", file=sys.stderr)


# -- 3. rate ----------------------------------------------------------------------------
def _max_in(times: list[float], window: float) -> int:
    times = sorted(times)
    return max((i - bisect_left(times, t - window) + 1 for i, t in enumerate(times)), default=0)


def phase_rate(args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    from lbi_icl.runner import latest_records, run_experiment

    rows = []
    rpm = args.rpm
    cases = [
        ("client --rpm, provider unlimited", rpm, None),
        ("no client limit, provider enforces rpm", None, rpm),
        ("client --rpm = provider's rpm", rpm, rpm),
        ("client --rpm at 95% of provider's", 0.95 * rpm, rpm),
    ]
    for label, client, server in cases:
        with ProviderProc(
            latency_s=args.latency,
            per_output_token_s=args.per_token,
            server_rpm=server,
            answer=TURN,
        ) as prov:
            run_dir = out / f"rate-{len(rows)}"
            cfg = config(
                run_dir,
                ANTHROPIC,
                prov.url(ANTHROPIC),
                tasks=args.rate_episodes,
                workers=args.rate_workers,
                max_steps=args.rate_steps,
                llm_rpm=client,
            )
            t0 = time.monotonic()
            run_experiment(cfg, show_progress=False)
            wall = time.monotonic() - t0
            served = prov.stats()
            ok = sorted(s["t"] for s in served if s["status"] == 200)
            recs = list(latest_records(run_dir).values())
            span = ok[-1] - ok[0] if len(ok) > 1 else 0.0
            rows.append(
                {
                    "case": label,
                    "client_rpm": client,
                    "server_rpm": server,
                    "requests": len(ok),
                    "http_429": sum(s["status"] == 429 for s in served),
                    "observed_rpm": 60 * (len(ok) - 1) / span if span else None,
                    "max_in_60s": _max_in(ok, 60.0),
                    "max_in_10s_x6": 6 * _max_in(ok, 10.0),
                    "wall_s": wall,
                    "errors": sum(r.error is not None for r in recs),
                }
            )
            print(f"rate: {rows[-1]}", file=sys.stderr)
    return rows


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


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_scale":
        ap = argparse.ArgumentParser()
        for name in ("--url", "--run-out"):
            ap.add_argument(name)
        for name in ("--workers", "--episodes", "--steps"):
            ap.add_argument(name, type=int)
        scale_one(ap.parse_args(sys.argv[2:]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/lbi-hosted-bench"))
    ap.add_argument("--index", type=Path, help="a BabyAI index (default: built here)")
    ap.add_argument("--phases", default="scale,cost,rate")
    ap.add_argument(
        "--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32, 64]
    )
    ap.add_argument("--episodes-per-worker", type=int, default=2)
    ap.add_argument("--min-episodes", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--latency", type=float, default=0.3, help="provider base latency, s")
    ap.add_argument("--per-token", type=float, default=0.01, help="s per answer token")
    ap.add_argument("--cost-episodes", type=int, default=8)
    ap.add_argument("--cost-workers", type=int, default=8)
    ap.add_argument(
        "--cost-prompts",
        default="paper,stable-first,docs,docs+stable-first,long objective,"
        "long objective+stable-first",
        help="cost: the prompt variants (paper = the examples_first layout, stable-first, "
        "docs = BabyAI's documents in the system message, long objective = the same "
        "documents after each task's instruction; +stable-first: in that layout)",
    )
    ap.add_argument("--rpm", type=float, default=600)
    ap.add_argument("--rate-episodes", type=int, default=64)
    ap.add_argument("--rate-workers", type=int, default=64)
    ap.add_argument("--rate-steps", type=int, default=10)
    ap.add_argument("--train-tasks", type=int, default=8)
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    phases = set(args.phases.split(","))
    res: dict[str, Any] = {
        "argv": sys.argv,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    if "scale" in phases:
        res["scale"] = phase_scale(args, out)
    if "cost" in phases:
        res["cost"] = phase_cost(args, out, args.index or build_index(out, args.train_tasks))
    if "rate" in phases:
        res["rate"] = phase_rate(args, out)
    (out / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    print(render(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
