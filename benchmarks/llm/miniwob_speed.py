"""`run.py --suite miniwob --stages speed`: what speeds CPU inference here, measured on the
suite's own MiniWoB prompts (OUT/speed/speed.md, speed.json).

1. **Record**: `lbi run --retrieval agentic` on the first `--speed-tasks` test tasks with the
   paper's layout (examples first, the query writer's own system message) over the expert
   index; every policy prompt is in the step logs.
2. **Layouts, replayed**: the same steps sent again, call by call, in the agent's order
   (query, then policy), with the response cache off: (a) the paper's layout on one server,
   (b) the shared-prefix layout (miniwob_suite.AGENT_USER / QUERY_USER, the agent's system
   message for both calls) on one server, (c) the paper's layout with the query writer on a
   second server (a "slot" of its own: llama-cpp-python's server has one KV cache and no
   `n_parallel`). Per call: prompt tokens sent, tokens the server evaluated (its log's
   `prompt eval ... / N tokens`), seconds.
3. **Engine settings**: one full policy prompt (no shared prefix) and a 64-token answer on
   fresh servers: 1 vs 2 threads, `--logits_all false` vs the server's default `true`.
4. **Output caps**: where the `Action:` line of each recorded policy answer ends, in tokens
   (the server's `/extras/tokenize`): the share of answers a cap of 48 / 64 / 80 / 96 keeps.
5. **Tree cut**: observation sizes (characters) of the recorded steps and of the ablations'
   steps, against `--max-tree-chars`.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
import urllib.request
from pathlib import Path
from string import Template
from typing import Any

from common import Server, lbi, load_average, utc_now
from miniwob_suite import AGENT_USER, TEST_NAMES, agent_sets, env_options, prompt_files

log = logging.getLogger("bench-llm")
PERF = re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens")
GEN = re.compile(r"\beval time =\s*([\d.]+) ms /\s*(\d+) runs")


def record(args: argparse.Namespace, srv: Server, folder: Path) -> Path:
    run = folder / "record-paper"
    if not (run / "episodes.jsonl").exists() or len(
        (run / "episodes.jsonl").read_text().splitlines()
    ) < int(args.speed_tasks):
        lbi("run", "--env", "miniwob", "--split", "test", "--tasks", str(args.speed_tasks),
            *env_options(TEST_NAMES, args), "--policy", "llm", "--llm", srv.spec,
            "--llm-base-url", srv.base_url, "--llm-cache", str(folder / "record-cache.sqlite"),
            "--index", str(args.out / "index-expert"), "--retrieval", "agentic",
            "--out", str(run), "--max-steps", str(args.policy_calls), "--no-progress",
            "--set", "agent.prompt_layout=examples_first",  # calls_for reads the paper's order
            *agent_sets(args), check=False)  # fmt: skip
    return run


def recorded_steps(run: Path) -> list[list[dict[str, Any]]]:
    """Per episode, the step logs (observation, action, executed, logged prompt)."""
    episodes = []
    for path in sorted((run / "steps").glob("*.jsonl")):
        steps = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        if steps and all(s.get("prompt") for s in steps):
            episodes.append(steps)
    return episodes


def _section(text: str, head: str, nxt: str | None) -> str:
    start = text.index(head) + len(head)
    end = text.index(nxt, start) if nxt else len(text)
    return text[start:end]


def calls_for(episode: list[dict[str, Any]], layout: str, prompts: Any) -> list[tuple]:
    """(kind, messages) in the agent's order for one recorded episode."""
    from lbi_icl.data import Step
    from lbi_icl.llm.base import Message
    from lbi_icl.retrieval.base import StepContext
    from lbi_icl.retrieval.model import query_messages

    out: list[tuple] = []
    executed: list[Step] = []
    for s in episode:
        system, user = s["prompt"][0]["content"], s["prompt"][1]["content"]
        ref = ""
        if "## Additional information for reference\n" in user:
            ref = _section(user, "## Additional information for reference\n", "\n\n## Objective")
        instruction = _section(user, "## Objective\n", "\n\n## Interaction history")
        history = _section(user, "## Interaction history\n", "\n\n## Current observation")
        observation = _section(user, "## Current observation\n", "\n\nAnswer with a reason")
        fmt = _section(user, "in exactly this format:\n", None)
        ctx = StepContext(instruction=instruction, observation=s["observation"], history=executed)
        q = query_messages(ctx, 1, None, prompts if layout == "shared-prefix" else None)
        out.append(("query", q))
        if layout == "shared-prefix":
            section = f"## Additional information for reference\n{ref}\n\n" if ref else ""
            user = Template(AGENT_USER).substitute(
                instruction=instruction, observation=observation, valid_actions_section="",
                history=history, reference_section=section, answer_format=fmt,
            )  # fmt: skip
        policy = [Message(role="system", content=system), Message(role="user", content=user)]
        out.append(("policy", policy))
        if s.get("executed"):
            executed = [*executed, Step(observation=s["observation"], action=s["action"])]
    return out


class Meter:
    """Sends one call and reads what the server evaluated from its log."""

    def __init__(self, srv: Server, log_file: Path) -> None:
        from lbi_icl.llm import make_llm

        self.llm = make_llm(srv.spec, base_url=srv.base_url, cache_mode="off")
        self.log_file = log_file
        self.pos = log_file.stat().st_size if log_file.exists() else 0

    def call(self, messages: list[Any], max_tokens: int) -> dict[str, Any]:
        from lbi_icl.llm.base import GenerationParams

        t0 = time.perf_counter()
        r = self.llm.complete(messages, GenerationParams(temperature=0.0, max_tokens=max_tokens))
        wall = time.perf_counter() - t0
        time.sleep(0.2)  # the server writes its timings after answering
        with self.log_file.open("rb") as fh:
            fh.seek(self.pos)
            new = fh.read().decode(errors="replace")
            self.pos = fh.tell()
        pe = PERF.findall(new)
        ge = GEN.findall(new)
        return {
            "s": round(wall, 2),
            "prompt_tokens": r.usage.input_tokens,
            "evaluated": int(pe[-1][1]) if pe else None,
            "prompt_eval_s": float(pe[-1][0]) / 1000 if pe else None,
            "out_tokens": r.usage.output_tokens,
            "gen_s": float(ge[-1][0]) / 1000 if ge else None,
            "text": r.text,
        }


def _server(args: argparse.Namespace, name: str, threads: int, extra: str) -> Server:
    return Server(
        model=args.model, alias=args.alias, name=name, ctx=args.ctx, threads=threads,
        log_file=args.out / "speed" / f"{name}.log", autogroup_nice=args.autogroup_nice,
        extra_args=extra.split(),
    )  # fmt: skip


def replay(args: argparse.Namespace, episodes: list, folder: Path) -> dict[str, Any]:
    from lbi_icl.llm.base import Message
    from lbi_icl.prompts import load_prompts

    files = prompt_files(args)  # ["--prompt", "name=path", ...]
    paths = dict(x.split("=", 1) for x in files[1::2])
    prompts = load_prompts({k: v for k, v in paths.items() if k.startswith("query")})
    cold = [Message(role="user", content="Count from one to three.")]
    results: dict[str, Any] = {}
    for variant, layout, two in (
        ("paper, one server", "paper", False),
        ("shared prefix, one server", "shared-prefix", False),
        ("paper, query writer on a second server", "paper", True),
    ):
        with _server(args, "speed-a", args.threads, args.server_args) as a:
            ma = Meter(a, a.log_file)
            ma.call(cold, 4)  # a cold KV cache for every variant
            mb = None
            if two:
                b = _server(args, "speed-b", args.threads, args.server_args).__enter__()
                mb = Meter(b, b.log_file)
                mb.call(cold, 4)
            rows = []
            try:
                for ep in episodes:
                    for kind, msgs in calls_for(ep, layout, prompts):
                        meter = mb if (kind == "query" and mb is not None) else ma
                        cap = 32 if kind == "query" else args.max_output_tokens
                        rows.append({"kind": kind, **meter.call(msgs, cap)})
            finally:
                if two:
                    b.__exit__(None, None, None)
        results[variant] = {"calls": rows, "load": load_average()}
        log.info("speed: %s done (%d calls)", variant, len(rows))
    return results


def engine(args: argparse.Namespace, episodes: list) -> dict[str, Any]:
    from lbi_icl.llm.base import Message

    first = episodes[0][0]["prompt"]
    msgs = [Message(role=m["role"], content=m["content"]) for m in first]
    long = [*msgs[:1], Message(role="user", content=msgs[1].content + "\nAlso explain in detail.")]
    out: dict[str, Any] = {}
    for label, threads, extra in (
        ("2 threads, logits_all false", 2, "--logits_all false"),
        ("1 thread, logits_all false", 1, "--logits_all false"),
        ("2 threads, logits_all true (server default)", 2, ""),
    ):
        with _server(args, "speed-e", threads, extra) as s:
            m = Meter(s, s.log_file)
            full = m.call(msgs, 4)
            gen = m.call(long, 64)
            out[label] = {"full_prompt": full, "generation": gen, "load": load_average()}
            pid = s.server.state.pid if s.server is not None else None
            out[label]["rss_mb"] = _rss_mb(pid)
        log.info("speed: engine %s done", label)
    return out


def _rss_mb(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def answer_caps(srv: Server, runs: list[Path]) -> dict[str, Any]:
    """Tokens up to the end of each policy answer's Action line (server tokenizer)."""
    ends: list[int] = []
    for run in runs:
        for path in sorted((run / "steps").glob("*.jsonl")) if (run / "steps").exists() else []:
            for line in path.read_text().splitlines():
                raw = json.loads(line).get("raw_output") or ""
                m = re.search(r"(?im)^\s*action\s*:.*$", raw)
                if m is None:
                    ends.append(10**6)  # no Action line at any cap
                    continue
                ends.append(_count_tokens(srv, raw[: m.end()]))
    caps = {str(c): sum(e <= c for e in ends) / len(ends) for c in (32, 48, 64, 80, 96)}
    return {"answers": len(ends), "kept_at_cap": caps, "ends": sorted(ends)}


def _count_tokens(srv: Server, text: str) -> int:
    req = urllib.request.Request(
        srv.base_url.removesuffix("/v1") + "/extras/tokenize/count",
        data=json.dumps({"input": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return int(json.loads(r.read())["count"])


def tree_sizes(runs: list[Path]) -> dict[str, Any]:
    sizes: list[int] = []
    for run in runs:
        for path in sorted((run / "steps").glob("*.jsonl")) if (run / "steps").exists() else []:
            for line in path.read_text().splitlines():
                info = json.loads(line).get("info") or {}
                if "tree_chars" in info:
                    sizes.append(int(info["tree_chars"]))
    sizes.sort()
    if not sizes:
        return {}
    return {
        "steps": len(sizes),
        "p50": sizes[len(sizes) // 2],
        "p90": sizes[int(0.9 * (len(sizes) - 1))],
        "max": sizes[-1],
    }


def stage_speed(args: argparse.Namespace, srv: Server) -> None:
    folder = args.out / "speed"
    folder.mkdir(parents=True, exist_ok=True)
    result_file = folder / "speed.json"
    res: dict[str, Any] = json.loads(result_file.read_text()) if result_file.exists() else {}
    if res.get("finished"):
        log.info(
            "speed: measured already (%s); delete %s to measure again", res["finished"], result_file
        )
        return
    res.setdefault("started", utc_now())
    run = record(args, srv, folder)
    episodes = recorded_steps(run)
    if not episodes:
        log.warning("speed: no recorded episode with logged prompts in %s", run)
        return
    runs = [run, args.out / "ablate-expert", args.out / "ablate-llm"]
    res["episodes"] = len(episodes)

    def save() -> None:
        result_file.write_text(json.dumps(res, indent=1) + "\n")

    if "caps" not in res:
        res["caps"] = answer_caps(srv, runs)
        res["trees"] = tree_sizes(runs)
        save()
    if "layouts" not in res:
        res["layouts"] = replay(args, episodes, folder)
        save()
    if "engine" not in res:
        res["engine"] = engine(args, episodes)
        save()
    res["finished"] = utc_now()
    save()
    from miniwob_speed_report import write_speed_md

    write_speed_md(res, folder / "speed.md")
