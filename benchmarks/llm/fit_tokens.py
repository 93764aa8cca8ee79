"""How well prompt fitting (lbi_icl/agent/fit.py) holds a context, counted by a real tokenizer.

Reads the step logs of runs made with `agent.context_tokens` and `agent.log_prompts` (the
default) and counts, per run and strategy: retrieved items per step and how many the prompt
showed, the fitter's estimate of the prompt, the prompt's real tokens (a GGUF model's own
tokenizer and chat template, by llama-cpp-python, vocabulary only: no weights are loaded),
and how many prompts were over the budget (context - reserved answer tokens) and over the
context itself. Offline; needs the `local-llm` extra and a GGUF (default: the fixture).

    python benchmarks/llm/fit_tokens.py --run before=runs/fit-before --run after=runs/fit-after

`--count-texts FILE` (re)writes the real token counts of a JSON file of texts (the
estimator's test fixture, tests/fixtures/token_counts.json: plain text, no chat template).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

Counter = Callable[[list[dict[str, str]]], int]


class Row(BaseModel):
    """One (run, strategy): per-step means and counts of over-long prompts."""

    run: str
    strategy: str
    steps: int
    items_retrieved: float  # per step, after the retrieval token budget
    items_shown: float  # per step, after fitting
    fit_dropped_steps: int  # steps where fitting dropped an item or history step
    est_tokens: float
    real_tokens: float
    real_max: int
    budget: int
    over_budget: int  # real prompt tokens > context - reserved answer tokens
    over_context: int  # real prompt tokens > context


def gguf_counter(model: Path) -> Counter:
    """Real prompt tokens: the messages through the GGUF's chat template, then its tokenizer."""
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llm = llama_cpp.Llama(str(model), vocab_only=True, verbose=False)
    meta = llm.metadata
    eos = llm._model.token_get_text(llm.token_eos())
    bos = llm._model.token_get_text(llm.token_bos()) if llm.token_bos() >= 0 else ""
    fmt = Jinja2ChatFormatter(meta["tokenizer.chat_template"], eos_token=eos, bos_token=bos)

    def count(messages: list[dict[str, str]]) -> int:
        prompt = fmt(messages=messages).prompt  # type: ignore[arg-type]
        return len(llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    return count


def text_counter(model: Path) -> Callable[[str], int]:
    """Real tokens of a plain text (no chat template, no BOS) by the GGUF's tokenizer."""
    import llama_cpp

    llm = llama_cpp.Llama(str(model), vocab_only=True, verbose=False)
    return lambda text: len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))


def count_texts(path: Path, model: Path) -> None:
    """Set each record's `tokens` in `path` ({"texts": [{"text": ..., ...}]}) to its real count."""
    data = json.loads(path.read_text(encoding="utf-8"))
    count = text_counter(model)
    for rec in data["texts"]:
        rec["tokens"] = count(rec["text"])
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _steps(run: Path) -> Iterable[dict[str, Any]]:
    for path in sorted((run / "steps").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)


def measure(name: str, run: Path, count: Counter) -> list[Row]:
    """The rows of one run directory (its manifest gives the context and answer cap)."""
    agent = json.loads((run / "manifest.json").read_text(encoding="utf-8"))["config"]["agent"]
    context = int(agent["context_tokens"])
    budget = context - int(agent.get("max_output_tokens") or 512)
    by: dict[str, list[dict[str, Any]]] = {}
    for rec in _steps(run):
        if rec.get("prompt"):
            by.setdefault(rec["strategy"], []).append(rec)
    rows = []
    for strategy, recs in sorted(by.items()):
        real = [count(r["prompt"]) for r in recs]
        n = len(recs)
        rows.append(
            Row(
                run=name,
                strategy=strategy,
                steps=n,
                items_retrieved=sum(len(r["retrieved"]) for r in recs) / n,
                items_shown=sum(len(r["retrieved"]) - r["fit_items_dropped"] for r in recs) / n,
                fit_dropped_steps=sum(
                    bool(r["fit_items_dropped"] or r["fit_history_dropped"]) for r in recs
                ),
                est_tokens=statistics.fmean(r["prompt_tokens_est"] for r in recs),
                real_tokens=statistics.fmean(real),
                real_max=max(real),
                budget=budget,
                over_budget=sum(t > budget for t in real),
                over_context=sum(t > context for t in real),
            )
        )
    return rows


def table(rows: list[Row]) -> str:
    head = (
        "| run | strategy | steps | items retrieved / step | items shown / step | steps fitted "
        "| est. prompt tokens | real prompt tokens (max) | budget | over budget | over context |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r.run} | {r.strategy} | {r.steps} | {r.items_retrieved:.2f} | "
            f"{r.items_shown:.2f} | {r.fit_dropped_steps} | {r.est_tokens:.0f} | "
            f"{r.real_tokens:.0f} ({r.real_max}) | {r.budget} | {r.over_budget} | "
            f"{r.over_context} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="append", default=[], help="NAME=RUN_DIR (repeatable)")
    ap.add_argument("--count-texts", type=Path, default=None, help="JSON of texts to count")
    ap.add_argument("--model", default=None, help="GGUF path or fixture name (default fixture)")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args(argv)
    from lbi_icl.local.models import DEFAULT_FIXTURE, resolve_model

    model = resolve_model(args.model or DEFAULT_FIXTURE)
    if args.count_texts:
        count_texts(args.count_texts, model)
    if not args.run:
        return 0
    count = gguf_counter(model)
    rows: list[Row] = []
    for spec in args.run:
        name, _, path = spec.partition("=")
        rows += measure(name, Path(path), count)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps([r.model_dump() for r in rows], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
