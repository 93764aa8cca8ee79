"""A run's budget (`--max-cost USD`, `--max-tokens N`): no new episode starts once the
run has spent it; episodes in flight finish and are recorded; the session ends with status
"budget", the report and the exit code say why, and the same command with a higher budget
resumes where the run stopped.

What counts is every record in the run directory, earlier sessions included, and earlier
attempts of a retried episode too (that money was spent): cost is the records' `cost_usd`,
tokens their input + output tokens (policy and query writer). Episodes cut off by Ctrl-C
are not recorded and so not counted. A cost budget needs every model of the run priced.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from lbi_icl.agent.base import EpisodeResult
from lbi_icl.runner.runlog import read_records

if TYPE_CHECKING:
    from lbi_icl.runner.config import RunConfig

J = TypeVar("J")


class BudgetStop(BaseModel):
    """Why a run stopped at its budget, for the summary, the manifest and the report."""

    reason: str  # e.g. "spent $2.0130 of --max-cost $2.00"
    not_started: int  # planned episodes this session did not start

    def message(self) -> str:
        return (
            f"stopped at the budget: {self.reason}; {self.not_started} episode(s) not run "
            "(rerun with a higher --max-cost / --max-tokens to resume)"
        )


class Budget:
    """The spending of one run directory against its limits (None: no limit)."""

    def __init__(
        self,
        max_cost_usd: float | None,
        max_tokens: int | None,
        records: Iterable[EpisodeResult] = (),
    ) -> None:
        self.max_cost_usd = max_cost_usd
        self.max_tokens = max_tokens
        self.cost_usd = 0.0
        self.tokens = 0
        self.unpriced = 0  # records with tokens but no known cost
        self.not_started: int | None = None  # set when the gate held jobs back
        for rec in records:
            self.add(rec)

    @classmethod
    def for_run(cls, config: RunConfig, run_dir: Path) -> Budget:
        limits = (config.max_cost_usd, config.max_tokens)
        records = read_records(run_dir) if any(x is not None for x in limits) else []
        return cls(*limits, records)

    @property
    def active(self) -> bool:
        return self.max_cost_usd is not None or self.max_tokens is not None

    def add(self, result: EpisodeResult) -> None:
        tokens = result.input_tokens + result.output_tokens
        self.tokens += tokens
        if result.cost_usd is not None:
            self.cost_usd += result.cost_usd
        elif tokens:
            self.unpriced += 1

    def exhausted(self) -> str | None:
        """Why no new episode may start, or None."""
        if self.max_cost_usd is not None and self.cost_usd >= self.max_cost_usd:
            return f"spent ${self.cost_usd:.4f} of --max-cost ${self.max_cost_usd:.2f}"
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            return f"used {self.tokens} tokens of --max-tokens {self.max_tokens}"
        return None

    def gate(self, jobs: list[J]) -> Iterator[J]:
        """`jobs` one at a time while the budget lasts (the pools pull the next job only
        when a worker is free, after recording the results so far)."""
        for i, job in enumerate(jobs):
            if self.active and self.exhausted() is not None:
                self.not_started = len(jobs) - i
                return
            yield job

    @property
    def stop(self) -> BudgetStop | None:
        """Why the gate held jobs back, with what the run has spent by now."""
        reason = self.exhausted()
        if self.not_started is None or reason is None:
            return None
        return BudgetStop(reason=reason, not_started=self.not_started)

    def describe(self) -> dict[str, object]:
        """The manifest's view of the budget at the end of a session."""
        return {
            "max_cost_usd": self.max_cost_usd,
            "max_tokens": self.max_tokens,
            "spent_usd": round(self.cost_usd, 6),
            "tokens": self.tokens,
            "unpriced_episodes": self.unpriced,
        }
