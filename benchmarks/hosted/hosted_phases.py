"""The three measurements (scale, cost, rate): `lbi run` against provider.py in its own process."""

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
BENCH = HERE / "bench.py"  # the entry script: each scale point runs as `bench.py _scale`
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
            argv = [sys.executable, str(BENCH), "_scale", "--url", prov.url(ANTHROPIC)]
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
