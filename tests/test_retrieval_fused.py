"""The fused re-ranking strategies (`task_aware`, `history`) on small indexes whose right
answers are known, and their score terms one by one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lbi_icl.data import Step, Trajectory
from lbi_icl.data.jsonl import write_jsonl
from lbi_icl.embed import HashEmbedder
from lbi_icl.index import build_index, load_index
from lbi_icl.index.bm25 import block_bound_rows
from lbi_icl.index.load import ExampleIndex
from lbi_icl.retrieval import STRATEGIES, RetrievalConfig, StepContext, make_retriever
from lbi_icl.retrieval.action_table import action_table
from lbi_icl.retrieval.evaluate import predicted_action
from lbi_icl.retrieval.history import alignment, alignment_rows
from lbi_icl.retrieval.task_aware import (
    context_words,
    grounding,
    object_words,
    top_rows,
)
from lbi_icl.runner.config import KNOWN_STRATEGIES

KITCHEN = "You are in the kitchen. You see a stove, a pot, a cupboard and a brush."


def traj(tid: str, family: str, instruction: str, steps: list[tuple[str, str]]) -> Trajectory:
    return Trajectory(
        id=tid,
        env="toy",
        instruction=instruction,
        steps=[Step(observation=o, action=a) for o, a in steps],
        final_observation="Done.",
        outcome="success",
        source={"kind": "expert"},
        metadata={"task_id": f"{family}/{tid}", "task": family},
    )


def build(tmp: Path, trajs: list[Trajectory]) -> ExampleIndex:
    data = tmp / "data.jsonl"
    write_jsonl(data, trajs)
    build_index([data], tmp / "idx", embedder=HashEmbedder(256))
    return load_index(tmp / "idx")


@pytest.fixture(scope="module")
def families(tmp_path_factory: pytest.TempPathFactory) -> ExampleIndex:
    """Two task families whose examples share the same kitchen observation; the next action
    differs by family. Paint examples come first so plain BM25 ties favour them."""
    trajs = []
    for i in range(3):
        trajs.append(
            traj(
                f"paint{i}",
                "paint",
                f"paint the chair number {i} red",
                [(KITCHEN, "open cupboard"), ("The cupboard is open.", "pick up brush")],
            )
        )
    for i in range(3):
        trajs.append(
            traj(
                f"boil{i}",
                "boil",
                f"boil water in the pot number {i}",
                [(KITCHEN, "pick up pot"), ("You hold the pot.", "move pot to stove")],
            )
        )
    return build(tmp_path_factory.mktemp("fam"), trajs)


def ctx(instruction: str, observation: str, history: list[Step] | None = None) -> StepContext:
    return StepContext(
        instruction=instruction,
        observation=observation,
        history=history or [],
        step=len(history or []),
        env="toy",
    )


def test_registered_and_selectable_everywhere() -> None:
    assert STRATEGIES[:6] == ("none", "rag", "instruction", "observation", "model", "agentic")
    for name in ("task_aware", "history"):
        assert name in STRATEGIES and name in KNOWN_STRATEGIES
    cfg = RetrievalConfig.model_validate({"task_aware": {"w_task": 2.5}, "history": {"decay": 1}})
    assert cfg.task_aware.w_task == 2.5 and cfg.history.decay == 1.0
    with pytest.raises(ValueError):
        RetrievalConfig.model_validate({"task_aware": {"w_nonsense": 1}})


def test_task_aware_puts_the_agents_own_task_family_first(families: ExampleIndex) -> None:
    c = ctx("boil the water in a pot", KITCHEN)
    plain = make_retriever("observation", families, RetrievalConfig(m1=3)).retrieve(c)
    assert predicted_action(plain.items[0]) == "open cupboard"  # BM25 tie: first rows win
    cfg = RetrievalConfig(m1=3, task_aware={"w_ground": 0.0, "observation_share": 0.0})
    res = make_retriever("task_aware", families, cfg).retrieve(c)
    assert [predicted_action(it) for it in res.items] == ["pick up pot"] * 3
    assert all(it.id.startswith("boil") and it.strategy == "task_aware" for it in res.items)
    # the other family for a painting instruction
    res = make_retriever("task_aware", families, cfg).retrieve(ctx("paint a red chair", KITCHEN))
    assert predicted_action(res.items[0]) == "open cupboard"


def test_task_aware_with_only_bm25_weight_ranks_like_observation(families: ExampleIndex) -> None:
    c = ctx("boil the water in a pot", "You hold the pot.")
    zero = {"w_instruction": 0.0, "w_task": 0.0, "w_ground": 0.0, "query_last_action": False}
    only = RetrievalConfig(m1=4, task_aware={**zero, "observation_share": 0.0})
    fused = make_retriever("task_aware", families, only)
    plain = make_retriever("observation", families, RetrievalConfig(m1=4))
    assert [it.id for it in fused.retrieve(c).items] == [it.id for it in plain.retrieve(c).items]
    # with the default share the same examples come, 3 fused and 1 plain, interleaved
    mixed = make_retriever("task_aware", families, RetrievalConfig(m1=4, task_aware=zero))
    got = mixed.retrieve(c).items
    want = [it.id for it in plain.retrieve(c).items]
    assert [it.id for it in got] == [want[0], want[3], want[1], want[2]]


def test_observation_share_fills_slots_with_the_papers_observation_hits(
    families: ExampleIndex,
) -> None:
    """2 of 5 slots (share 0.4, rounded down) hold plain BM25 hits (BM25 ties favour the
    paint family, which the fused ranking puts after boil); no example twice; 0 of 2 slots
    with m1 = 2."""
    c = ctx("boil the water in a pot", KITCHEN)
    fused_only = make_retriever(
        "task_aware", families, RetrievalConfig(m1=3, task_aware={"observation_share": 0.0})
    ).retrieve(c)
    assert all(it.id.startswith("boil") for it in fused_only.items)
    for name in ("task_aware", "history"):
        res = make_retriever(name, families, RetrievalConfig(m1=5)).retrieve(c)
        ids = [it.id for it in res.items]
        assert len(ids) == len(set(ids)) == 5
        kinds = [it.strategy for it in res.items]
        assert kinds == [name, "observation", name, "observation", name], kinds
        assert [it.id[:4] for it in res.items] == ["boil", "pain", "boil", "pain", "boil"]
        two = make_retriever(name, families, RetrievalConfig(m1=2)).retrieve(c)
        assert [it.strategy for it in two.items] == [name, name]


def test_grounding_prefers_actions_about_what_the_agent_sees(families: ExampleIndex) -> None:
    assert object_words("pick up thermometer") == {"thermometer"}
    assert object_words("go forward") == frozenset()
    words = context_words(ctx("heat the liquid", "You see a thermometer."))
    assert list(grounding(["pick up thermometer", "pick up lamp", "look around"], words)) == [
        1.0,
        0.0,
        1.0,
    ]
    # only grounding differs: the instruction names neither family
    only_ground = {"w_instruction": 0.0, "w_task": 0.0, "w_ground": 1.0}
    r = make_retriever("task_aware", families, RetrievalConfig(m1=1, task_aware=only_ground))
    res = r.retrieve(ctx("do the chore", "You are in the kitchen. You see a pot."))
    assert predicted_action(res.items[0]) == "pick up pot"


def test_alignment_scores_matching_previous_actions() -> None:
    agent = ["open door", "go north"]  # most recent first
    got = alignment(
        agent,
        [["open door", "go north"], ["open door", "go south"], ["open window"], []],
        decay=0.5,
        verb_credit=0.5,
    )
    total = 1.5
    assert got[0] == pytest.approx(1.0)
    assert got[1] == pytest.approx((1 + 0.5 * 0.5) / total)  # 'go south': verb only
    assert got[2] == pytest.approx(0.5 / total)  # 'open window': verb only
    assert got[3] == 0.0
    assert list(alignment([], [["x"]], decay=0.5, verb_credit=0.5)) == [0.0]


@pytest.fixture(scope="module")
def crossroads(tmp_path_factory: pytest.TempPathFactory) -> ExampleIndex:
    """Same instruction, same observation at the second step; what comes next depends on
    where the trajectory came from."""
    hall = "You are in the hall. There is a door and a window."
    trajs = [
        traj("north", "walk", "walk around", [("Start.", "go north"), (hall, "open door")]),
        traj("south", "walk", "walk around", [("Start.", "go south"), (hall, "open window")]),
    ]
    return build(tmp_path_factory.mktemp("cross"), trajs)


@pytest.mark.parametrize(("came", "want"), [("go north", "open door"), ("go south", "open window")])
def test_history_retrieves_the_same_point_of_a_matching_trajectory(
    crossroads: ExampleIndex, came: str, want: str
) -> None:
    hall = "You are in the hall. There is a door and a window."
    c = ctx("walk around", hall, [Step(observation="Start.", action=came)])
    cfg = RetrievalConfig(m1=2, history={"w_ground": 0.0, "query_last_action": False})
    res = make_retriever("history", crossroads, cfg).retrieve(c)
    assert predicted_action(res.items[0]) == want
    assert res.items[0].score > res.items[1].score
    # without the alignment term the two candidates tie and the row order decides
    off = RetrievalConfig(m1=2, history={"w_ground": 0.0, "w_history": 0.0})
    tied = make_retriever("history", crossroads, off).retrieve(c)
    assert tied.items[0].score == pytest.approx(tied.items[1].score)


def test_history_at_the_first_step_prefers_example_starts(crossroads: ExampleIndex) -> None:
    cfg = RetrievalConfig(m1=2, history={"w_ground": 0.0})
    r = make_retriever("history", crossroads, cfg)
    res = r.retrieve(ctx("walk around", "Start. The hall is north or south."))
    assert all(it.matched_step == 0 for it in res.items)


def test_fused_strategies_respect_the_leakage_guard(families: ExampleIndex) -> None:
    c = ctx("boil the water in a pot", KITCHEN).model_copy(update={"task_id": "boil/boil0"})
    for name in ("task_aware", "history"):
        got = [it.id for it in make_retriever(name, families).retrieve(c).items]
        assert "boil0" not in got and got


def test_task_prior_from_task_metadata_or_from_the_instruction_vote(
    families: ExampleIndex,
) -> None:
    # an instruction that names neither family; the task id says 'boil'
    c = ctx("do the chore", KITCHEN).model_copy(update={"task_id": "boil/new-variation"})
    only_task = {"w_instruction": 0.0, "w_ground": 0.0, "w_task": 1.0}
    for mode, want in (("auto", "pick up pot"), ("metadata", "pick up pot")):
        cfg = RetrievalConfig(m1=1, task_aware={**only_task, "task_prior": mode})
        got = make_retriever("task_aware", families, cfg).retrieve(c).items[0]
        assert predicted_action(got) == want, mode
    # vote: the painting instruction outvotes the task id, which it never reads
    painting = c.model_copy(update={"instruction": "paint the chair red"})
    cfg = RetrievalConfig(m1=1, task_aware={**only_task, "task_prior": "vote"})
    got = make_retriever("task_aware", families, cfg).retrieve(painting).items[0]
    assert predicted_action(got) == "open cupboard"
    # auto falls back to the vote for a family the index does not know
    unknown = painting.model_copy(update={"task_id": "juggle/1"})
    cfg = RetrievalConfig(m1=1, task_aware={**only_task, "task_prior": "auto"})
    got = make_retriever("task_aware", families, cfg).retrieve(unknown).items[0]
    assert predicted_action(got) == "open cupboard"


def test_action_cap_spreads_the_slots_over_different_next_actions(
    families: ExampleIndex,
) -> None:
    c = ctx("boil the water in a pot", KITCHEN)
    fused_only = {"w_ground": 0.0, "observation_share": 0.0}
    plain = RetrievalConfig(m1=3, task_aware=fused_only)
    same = [predicted_action(it) for it in make_retriever("task_aware", families, plain)
            .retrieve(c).items]  # fmt: skip
    assert same == ["pick up pot"] * 3
    capped = RetrievalConfig(m1=3, task_aware={**fused_only, "action_cap": 1})
    got = [predicted_action(it) for it in make_retriever("task_aware", families, capped)
           .retrieve(c).items]  # fmt: skip
    assert got[0] == "pick up pot" and len(set(got)) == len(got) == 3


def test_vectorized_alignment_equals_the_reference(crossroads: ExampleIndex) -> None:
    table = action_table(crossroads)
    assert table is action_table(crossroads)  # built once per index
    assert [table.texts[c] for c in table.codes] == [
        " ".join(crossroads.actions[r].lower().split()) for r in range(crossroads.n_steps)
    ]
    rows = np.arange(crossroads.n_steps)
    pos = np.asarray(crossroads.step_pos, dtype=np.int64)
    for agent in (["go north"], ["go south", "go north"], ["Go  North"], ["fly"]):
        previous = [
            [crossroads.actions[int(r) - j] for j in range(1, min(int(p), len(agent)) + 1)]
            for r, p in zip(rows, pos, strict=True)
        ]
        want = alignment(agent, previous, decay=0.5, verb_credit=0.5)
        got = alignment_rows(table, rows, pos, agent, decay=0.5, verb_credit=0.5)
        assert got == pytest.approx(want), agent


def test_rows_after_the_last_action_join_a_pool_bm25_ties(tmp_path: Path) -> None:
    opened = "The door is now open."
    rooms = ["kitchen", "hallway", "garden", "bedroom", "studio"]
    index = build(
        tmp_path,
        [
            traj(
                r, "walk", "walk around", [("Start.", f"open door to {r}"), (opened, f"go to {r}")]
            )
            for r in rooms
        ],
    )
    assert list(action_table(index).rows_after("open door to garden")) == [5]
    c = ctx("walk around", opened, [Step(observation="Start.", action="open door to garden")])
    # no task family (every row is of one family, which would be a candidate group too)
    no_family = {"pool": 1, "family_candidates": False}
    off = RetrievalConfig(m1=1, history={**no_family, "follow_last_action": False})
    on = RetrievalConfig(m1=1, history=no_family)
    assert predicted_action(make_retriever("history", index, off).retrieve(c).items[0]) == (
        "go to kitchen"  # BM25's single best row: a five-way tie broken by row id
    )
    assert predicted_action(make_retriever("history", index, on).retrieve(c).items[0]) == (
        "go to garden"
    )


def test_top_rows_breaks_ties_by_lower_index() -> None:
    from lbi_icl.retrieval.task_aware import top_rows

    scores = np.array([1.0, 3.0, 2.0, 2.0, 2.0, 0.5, 2.0])
    assert list(top_rows(scores, 3)) == [1, 2, 3]
    assert list(top_rows(scores, 1)) == [1]
    assert list(top_rows(scores, 10)) == [1, 2, 3, 4, 6, 0, 5]
    assert list(top_rows(np.zeros(0), 3)) == []


@pytest.mark.parametrize("n", [7, 3_000, 9_000, 70_000])
def test_top_rows_is_a_stable_sort_of_the_scores(n: int) -> None:
    """The block-maxima shortcut picks exactly what a full sort picks (highest first, lower
    row first among ties), with ties and runs of zeros as BM25 vectors have them."""
    rng = np.random.default_rng(n)
    for trial in range(40):
        scores = np.zeros(n, dtype=np.float32)
        hit = rng.choice(n, int(rng.integers(0, n + 1)), replace=False)
        values = rng.integers(1, 6, len(hit)) if trial % 2 else rng.random(len(hit))
        scores[hit] = values.astype(np.float32)
        k = int(rng.integers(1, min(n, 600) + 3))
        want = np.lexsort((np.arange(n), -scores))[:k]
        assert np.array_equal(top_rows(scores, k), want), (n, k, len(hit))
    # past 8 blocks, the candidates are a small superset of the top k
    if n >= 70_000:
        scores = rng.random(n).astype(np.float32)
        cand = block_bound_rows(scores, 50)
        assert 50 <= len(cand) < n // 10
        assert set(np.lexsort((np.arange(n), -scores))[:50]) <= set(cand)


@pytest.fixture(scope="module")
def polling(tmp_path_factory: pytest.TempPathFactory) -> ExampleIndex:
    """One observation met early in a short trajectory and late in a long one, with a
    different next action in each: only the step number tells the two points apart."""
    grows = "The plant grows."
    long = [(f"You wait, turn {i}.", "wait") for i in range(10)] + [(grows, "measure plant")]
    trajs = [
        traj("late", "grow", "grow a plant", long),
        traj("early", "grow", "grow a plant", [(long[0][0], "wait"), (grows, "water plant")]),
    ]
    return build(tmp_path_factory.mktemp("poll"), trajs)


@pytest.mark.parametrize(("step", "want"), [(1, "water plant"), (10, "measure plant")])
def test_position_prior_prefers_the_same_step_of_the_example(
    polling: ExampleIndex, step: int, want: str
) -> None:
    waited = [Step(observation=f"You wait, turn {i}.", action="wait") for i in range(step)]
    c = ctx("grow a plant", "The plant grows.", waited)
    only_position = {"w_ground": 0.0, "w_history": 0.0, "query_last_action": False}
    cfg = RetrievalConfig(m1=2, history={**only_position, "w_position": 2.0})
    res = make_retriever("history", polling, cfg).retrieve(c)
    assert predicted_action(res.items[0]) == want
    assert res.items[0].score > res.items[1].score
    off = RetrievalConfig(m1=2, history={**only_position, "w_position": 0.0})
    tied = make_retriever("history", polling, off).retrieve(c)
    assert tied.items[0].score == pytest.approx(tied.items[1].score)
