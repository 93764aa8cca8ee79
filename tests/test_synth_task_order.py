"""Which env tasks synthesis rolls out (`synth/task_order.py`): `spread` walks each task
family's variations in a low-discrepancy order, so a small `--tasks` covers many objects."""

from __future__ import annotations

import itertools

import pytest

from lbi_icl.data import Task
from lbi_icl.synth.config import SynthConfig
from lbi_icl.synth.task_order import spread_positions, spread_tasks, van_der_corput


def test_van_der_corput_points() -> None:
    assert [van_der_corput(i) for i in range(6)] == [0.0, 0.5, 0.25, 0.75, 0.125, 0.625]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 14, 64, 218])
def test_spread_positions_is_a_permutation(n: int) -> None:
    assert sorted(spread_positions(n)) == list(range(n))


def test_every_prefix_is_spread() -> None:
    order = spread_positions(14)
    assert order[:4] == [0, 7, 3, 10]
    # any first k positions leave no gap wider than twice an even spacing (the first k
    # variations would leave one of 14 - k + 1)
    for k in (2, 3, 4, 7):
        chosen = [*sorted(order[:k]), 14]
        gaps = [b - a for a, b in itertools.pairwise(chosen)]
        assert max(gaps) <= 2 * -(-14 // k), (k, chosen)


def _task(family: str, var: int) -> Task:
    return Task(id=f"{family}/{var}", env="t", instruction=f"{family} {var}")


def test_spread_tasks_interleaves_families_and_spreads_variations() -> None:
    tasks = [_task("a", v) for v in range(8)] + [_task("b", v) for v in range(2)]
    ids = [t.id for t in spread_tasks(tasks)]
    assert ids[:4] == ["a/0", "b/0", "a/4", "b/1"]
    assert sorted(ids) == sorted(t.id for t in tasks)
    assert [t.id for t in spread_tasks(tasks, 5)] == ["a/0", "b/0", "a/4", "b/1", "a/2"]


def test_family_comes_from_task_type_metadata_first() -> None:
    tasks = [
        Task(id=f"x{v}", env="t", instruction="i", metadata={"task_type": "one"}) for v in range(4)
    ] + [Task(id="y0", env="t", instruction="i", metadata={"task_type": "two"})]
    assert [t.id for t in spread_tasks(tasks, 3)] == ["x0", "y0", "x2"]


def test_defaults_and_fingerprint() -> None:
    sw = SynthConfig(env="scienceworld")
    assert (sw.task_order, sw.max_steps) == ("spread", 250)
    first = SynthConfig(env="babyai")
    assert first.task_order == "first"
    # "first" leaves the fingerprint as it was before the setting existed (resumable data)
    data = first.model_dump(mode="json", exclude={"prompts", "step_timeout_s", "task_order"})
    import hashlib
    import json

    old = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    assert first.fingerprint() == old
    assert SynthConfig(env="babyai", task_order="spread").fingerprint() != old
