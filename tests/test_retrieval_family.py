"""The agent's task family when its task id does not name one the index knows: a task id
written by another tool still finds its family in one of its parts, and without any, the
vote over the root trajectories' task instructions finds it (`retrieval.family_vote`)."""

from __future__ import annotations

import pytest

from lbi_icl.data import Step, Trajectory
from lbi_icl.data.jsonl import write_jsonl
from lbi_icl.embed import HashEmbedder
from lbi_icl.index import build_index, load_index
from lbi_icl.index.load import ExampleIndex
from lbi_icl.retrieval import RetrievalConfig, StepContext, make_retriever
from lbi_icl.retrieval.evaluate import predicted_action
from lbi_icl.retrieval.family_vote import family_table
from lbi_icl.retrieval.task_aware import family_code

SHED = "You are in the shed. You see a cupboard, a pot, a brush and a stove."
TASKS = {
    "paint": ("Your task is to paint the chair red with the brush.", "pick up brush"),
    "boil": ("Your task is to boil water in the pot on the stove.", "pick up pot"),
}


def window(family: str, n: int) -> Trajectory:
    """A synthetic window: its own instruction says nothing of the task (same words for
    both families); the raw trajectory's task instruction is in `parent_instruction`."""
    parent, action = TASKS[family]
    return Trajectory(
        id=f"{family}/{n}/expert/w0-1/summarize",
        env="toy",
        instruction="Replicate the following: you acted in the shed.",
        steps=[Step(observation=SHED, action=action)],
        final_observation="Done.",
        outcome="success",
        source={"kind": "backward", "parent_id": f"{family}/{n}/expert", "span": [0, 1]},
        metadata={"task_id": f"{family}/{n}", "parent_instruction": parent},
    )


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> ExampleIndex:
    tmp = tmp_path_factory.mktemp("vote")
    data = tmp / "data.jsonl"
    # paint first: a BM25 tie on the shared observation favours it
    write_jsonl(
        data, [window("paint", n) for n in range(3)] + [window("boil", n) for n in range(3)]
    )
    build_index([data], tmp / "idx", embedder=HashEmbedder(64))
    return load_index(tmp / "idx")


def ctx(task_id: str | None) -> StepContext:
    return StepContext(
        instruction="Your task is to boil water. Use the pot on the stove.",
        observation=SHED,
        history=[],
        step=0,
        task_id=task_id,
        env="toy",
    )


def test_family_code_finds_a_known_family_in_a_foreign_task_id(index: ExampleIndex) -> None:
    boil = index.meta_code("label", "boil")
    assert family_code(index, "boil/7") == boil  # the project's own ids
    assert family_code(index, "scienceworld/expert/boil/21") == boil
    assert family_code(index, "task-3/variation-21") is None
    assert family_code(index, None) is None


def test_roots_vote_finds_the_family_from_the_task_instruction(index: ExampleIndex) -> None:
    table = family_table(index)
    assert len(table.labels) == 6  # one text per root trajectory
    n = len(index.meta_values["label"])
    prior = table.prior(ctx(None).instruction, n, 3)
    assert prior.argmax() == index.meta_code("label", "boil") and prior.max() == 1.0

    def first_action(task_id: str | None, **settings: object) -> str | None:
        cfg = RetrievalConfig(m1=1, task_aware={"w_instruction": 0.0, **settings})
        return predicted_action(
            make_retriever("task_aware", index, cfg).retrieve(ctx(task_id)).items[0]
        )

    assert first_action("boil/9") == "pick up pot"  # the task id names the family
    assert first_action(None) == "pick up pot"  # the vote over task instructions does
    assert first_action("nothing-known/9") == "pick up pot"
    # the examples' own instructions are the same for both families: that vote cannot tell
    assert first_action(None, vote_by="examples") == "pick up brush"
    assert first_action(None, task_prior="metadata") == "pick up brush"  # no prior at all
