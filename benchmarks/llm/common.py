"""Shared pieces of the real-LLM benchmark suites (`run.py --suite babyai|miniwob`): running
`lbi`, the local llama.cpp server, statistics and the label every number carries."""

from __future__ import annotations

import json
import logging
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("bench-llm")
FIXTURE = "qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_NAME = "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (the pinned fixture)"
ENGINE = "llama-cpp-python 0.3.36 server (llama.cpp, CPU build)"


def lbi_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "lbi_icl.cli", *args]


def lbi(*args: str, check: bool = True, log_file: Path | None = None) -> int:
    """Run `lbi ARGS`; its output goes to our stdout (the suite's log) or `log_file`."""
    log.info("$ lbi %s", " ".join(args))
    if log_file is None:
        return subprocess.run(lbi_cmd(*args), check=check).returncode
    with log_file.open("ab") as fh:
        return subprocess.run(lbi_cmd(*args), check=check, stdout=fh, stderr=fh).returncode


def lbi_json(out: Path, *args: str) -> dict[str, Any]:
    log.info("$ lbi %s --json > %s", " ".join(args), out)
    proc = subprocess.run(lbi_cmd(*args, "--json"), check=True, capture_output=True, text=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(proc.stdout)
    os.replace(tmp, out)
    return json.loads(proc.stdout)


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.1f}/{five:.1f}/{fifteen:.1f}"


def utc_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def machine() -> str:
    return f"{platform.node()} ({os.cpu_count()} CPUs, shared)"


# -- the server ---------------------------------------------------------------------------
class Server:
    """A llama.cpp server for the suite (started here, stopped at exit), or a running one
    (`base_url`, or a healthy server already registered under `name`)."""

    def __init__(
        self,
        *,
        model: str,
        alias: str,
        name: str,
        ctx: int,
        threads: int,
        log_file: Path,
        autogroup_nice: int | None,
        base_url: str | None = None,
        keep: bool = False,
        extra_args: list[str] | None = None,
    ) -> None:
        self.model, self.alias, self.name = model, alias, name
        self.ctx, self.threads, self.log_file = ctx, threads, log_file
        self.autogroup_nice = autogroup_nice
        self.base_url = base_url or ""
        self.keep = keep
        self.extra_args = extra_args or []
        self.server: Any = None

    @classmethod
    def from_args(cls, args: Any, default_name: str) -> Server:
        """The server the suites' shared flags describe (`--model`, `--threads`, ...)."""
        return cls(
            model=args.model,
            alias=args.alias,
            name=args.server_name or default_name,
            ctx=args.ctx,
            threads=args.threads,
            log_file=args.out / "server.log",
            autogroup_nice=args.autogroup_nice,
            base_url=args.base_url,
            keep=args.keep_server,
            extra_args=args.server_args.split(),
        )

    def __enter__(self) -> Server:
        if self.base_url:
            return self
        from lbi_icl.local.models import resolve_model
        from lbi_icl.local.server import LocalServer, server_status

        st = server_status(self.name)
        if st.get("running") and st.get("healthy"):
            self.base_url = st["base_url"]
            log.info("reusing server %s at %s", self.name, self.base_url)
            return self
        self.server = LocalServer(
            resolve_model(self.model),
            name=self.name,
            alias=self.alias,
            n_ctx=self.ctx,
            threads=self.threads,
            log_file=self.log_file,
            autogroup_nice=self.autogroup_nice,
            nice=0,  # the client may run niced; the server at normal priority
            die_with_parent=not self.keep,  # a killed benchmark leaves no server behind
            extra_args=self.extra_args,
        )
        self.base_url = self.server.start(wait_s=900).base_url
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.server is not None and not self.keep:
            self.server.stop()

    @property
    def spec(self) -> str:
        return f"openai:{self.alias}"


# -- statistics ----------------------------------------------------------------------------
def fmt_ci(v: Any, scale: float = 100, digits: int = 1) -> str:
    if not v or v[0] is None:
        return "–"
    return f"{scale * v[0]:.{digits}f}–{scale * v[1]:.{digits}f}"


def mcnemar(a: list[bool], b: list[bool]) -> tuple[int, int, float]:
    """(a-only, b-only, exact McNemar p) of paired outcomes."""
    from lbi_icl.runner.significance import mcnemar_exact

    a_only = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    b_only = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    return a_only, b_only, mcnemar_exact(a_only, b_only)


def paired_diff_ci(
    a: list[bool], b: list[bool], *, resamples: int = 10000, seed: int = 0
) -> tuple[float, float, float] | None:
    """Mean of a - b over pairs and its 95 % percentile bootstrap interval (pairs resampled,
    seeded: the same outcomes give the same interval)."""
    n = len(a)
    if n == 0:
        return None
    d = [int(x) - int(y) for x, y in zip(a, b, strict=True)]
    rng = random.Random(seed)
    means = sorted(sum(d[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    lo = means[int(0.025 * resamples)]
    hi = means[min(resamples - 1, int(0.975 * resamples))]
    return sum(d) / n, lo, hi


def wilson(successes: int, n: int) -> tuple[float, float] | None:
    from lbi_icl.runner.significance import wilson_interval

    return wilson_interval(successes, n) if n else None


# -- the MiniWoB suite's layout (miniwob_suite.py writes it, miniwob_report.py reads it) ----
def llm_names(out: Path) -> list[str]:
    """The LLM-synthesized datasets under OUT/data: `llm` first, then variants by name."""
    found = {
        p.name.removesuffix(".jsonl.state.json") for p in (out / "data").glob("*.jsonl.state.json")
    }
    found.discard("expert")
    return sorted(found, key=lambda n: (n != "llm", n))


def ablation_dir(out: Path, which: str, note: bool = False) -> Path:
    """OUT/ablate-WHICH, or OUT/ablate-WHICH-note for the bid-note rerun."""
    return out / (f"ablate-{which}-note" if note else f"ablate-{which}")


def step_log(run: Path, rec: Any) -> list[dict[str, Any]]:
    """An episode's step-log lines, read by the run log's own reader (older format versions
    upgraded, a torn line reported rather than parsed); ValueError when the record's path
    leads outside the run."""
    from lbi_icl.runner.runlog import read_steps, run_file

    return read_steps(run_file(run, rec.steps_log))[0]
