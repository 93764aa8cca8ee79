"""The `random` control strategy: seeded per (env, task, step), blind to the observation,
bound by every selection rule `observation` obeys, and shaped like its hits."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from lbi_icl.embed import HashEmbedder
from lbi_icl.index import build_index, load_index
from lbi_icl.index.load import ExampleIndex
from lbi_icl.retrieval import RetrievalConfig, StepContext, make_retriever
from lbi_icl.retrieval.random_windows import step_seed

FIX = Path(__file__).parent / "fixtures" / "retrieval"
TOY_EXAMPLES = {"ex-boil", "ex-boil-part", "ex-plant", "ex-door", "ex-door-green", "ex-key",
                "ex-lamp"}  # fmt: skip


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rnd") / "toy"
    build_index([FIX / "trajectories.jsonl"], out, embedder=HashEmbedder(64))
    return out


@pytest.fixture(scope="module")
def index(index_dir: Path) -> ExampleIndex:
    return load_index(index_dir)


def ctx(step: int, *, task: str | None = "x/1", observation: str = "anything") -> StepContext:
    return StepContext(
        instruction="do it", observation=observation, env="toy", task_id=task, step=step
    )


def ids(index: ExampleIndex, c: StepContext, cfg: RetrievalConfig | None = None) -> list[str]:
    return [it.id for it in make_retriever("random", index, cfg).retrieve(c).items]


def test_the_draw_is_seeded_by_task_and_step_not_by_the_observation(index: ExampleIndex) -> None:
    first = ids(index, ctx(3, observation="The red door is right in front of you."))
    assert first == ids(index, ctx(3, observation="You carry the empty pot."))
    assert step_seed(ctx(3)) != step_seed(ctx(4))
    assert step_seed(ctx(3)) != step_seed(ctx(3, task="x/2"))
    draws = {tuple(ids(index, ctx(s))) for s in range(20)}
    assert len(draws) > 5  # a new draw each step


def test_the_same_draw_in_another_process(index: ExampleIndex, index_dir: Path) -> None:
    code = (
        "import json, sys\n"
        "from lbi_icl.index import load_index\n"
        "from lbi_icl.retrieval import StepContext, make_retriever\n"
        "r = make_retriever('random', load_index(sys.argv[1]))\n"
        "c = StepContext(instruction='do it', observation='o', env='toy', task_id='x/1', step=7)\n"
        "print(json.dumps([it.id for it in r.retrieve(c).items]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(index_dir)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout) == ids(index, ctx(7, observation="o"))


def test_every_selection_rule_holds(index: ExampleIndex) -> None:
    seen: Counter[str] = Counter()
    for s in range(200):
        got = ids(index, ctx(s, task="door/1"))
        assert len(got) == RetrievalConfig().m1  # m1 windows, like observation
        assert "ex-other-env" not in got  # same_env
        assert "ex-door" not in got  # the leakage guard: the agent's own task
        assert not {"ex-boil", "ex-boil-part"} <= set(got)  # one hit per source trajectory
        seen.update(got)
    assert set(seen) == TOY_EXAMPLES - {"ex-door"}  # every admissible example is drawn
    wide = ids(index, ctx(0), RetrievalConfig(m1=20, one_per_source=False))
    assert sorted(wide) == sorted(TOY_EXAMPLES)  # all of them when m1 exceeds the index


def test_hits_are_shaped_like_observation_windows(index: ExampleIndex) -> None:
    cfg = RetrievalConfig(window_before=1, window_after=0)
    res = make_retriever("random", index, cfg).retrieve(ctx(5))
    assert res.strategy == "random" and res.items and res.queries == {}
    for it in res.items:
        assert it.strategy == "random" and it.matched_step is not None
        lo, hi = it.span
        assert lo <= it.matched_step < hi and hi - lo <= 2
        assert len(it.window) == hi - lo
