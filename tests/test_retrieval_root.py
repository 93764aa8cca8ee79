"""Root-trajectory alignment (`history.root_alignment`): a window's first rows are aligned
with the actions its root trajectory took before the window starts."""

from __future__ import annotations

import numpy as np
import pytest

from lbi_icl.data import Step, Trajectory
from lbi_icl.data.jsonl import write_jsonl
from lbi_icl.embed import HashEmbedder
from lbi_icl.index import build_index, load_index
from lbi_icl.index.load import ExampleIndex
from lbi_icl.retrieval import RetrievalConfig, StepContext, make_retriever
from lbi_icl.retrieval.action_table import action_table
from lbi_icl.retrieval.evaluate import predicted_action
from lbi_icl.retrieval.root_table import root_table, window_start

HALL = "You are in the hallway. Doors lead to the kitchen and the garden."
ROOTS = {  # two roots: the same hallway state, a different next action after a different past
    "k": ["look around", "go to hallway", "open door to kitchen"],
    "g": ["look around", "pick up seed", "go to hallway", "open door to garden"],
}


def window(root: str, start: int, end: int, *, drop: bool = False) -> Trajectory:
    acts = ROOTS[root][start:end]
    steps = [Step(observation=HALL if a.startswith("open") else f"o {a}", action=a) for a in acts]
    if drop:  # a filter removed a step: positions no longer map to the root
        steps = steps[1:]
    return Trajectory(
        id=f"walk/{root}/expert/w{start}-{end}/abstract",
        env="toy",
        instruction=f"walk {root}",
        steps=steps,
        final_observation="Done.",
        outcome="success",
        source={"kind": "backward", "parent_id": f"walk/{root}/expert", "span": [start, end]},
        metadata={"task_id": f"walk/{root}"},
    )


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> ExampleIndex:
    tmp = tmp_path_factory.mktemp("root")
    data = tmp / "data.jsonl"
    trajs = [
        window("k", 0, 2),  # look around, go to hallway
        window("k", 2, 3),  # open door to kitchen: its window starts at the door
        window("g", 0, 3),  # look around, pick up seed, go to hallway
        window("g", 3, 4),  # open door to garden
        window("g", 0, 2, drop=True),  # only "pick up seed" left
    ]
    write_jsonl(data, trajs)
    build_index([data], tmp / "idx", embedder=HashEmbedder(64))
    return load_index(tmp / "idx")


def test_window_spans_and_root_positions(index: ExampleIndex) -> None:
    assert window_start("walk/k/expert/w2-3/abstract") == (2, 3)
    assert window_start("boil/0/expert") is None
    roots = root_table(index)
    rows = np.arange(index.n_steps)
    assert list(roots.pos[rows[roots.root >= 0]]) == [0, 1, 2, 0, 1, 2, 3]
    assert roots.root[-1] < 0  # the window a filter shortened is unmapped
    table = action_table(index)
    door_k = int(index.example_steps[1])  # 'open door to kitchen', first row of its window
    prev = roots.previous(np.array([door_k]), 1)
    assert table.texts[int(prev[0])] == "go to hallway"
    assert roots.previous(np.array([door_k]), 3)[0] == -1  # before the root's start
    after = roots.rows_after(table.code_of("go to hallway"))
    assert sorted(table.texts[int(table.codes[r])] for r in after) == [
        "open door to garden",
        "open door to kitchen",
    ]


def test_root_alignment_picks_the_same_point_of_the_right_root(index: ExampleIndex) -> None:
    history = [Step(observation="o", action=a) for a in ROOTS["g"][:3]]
    ctx = StepContext(
        instruction="walk", observation=HALL, history=history, step=3, task_id=None, env="toy"
    )

    def best(on: bool, w_position: float = 0.0) -> str | None:
        over = {"root_alignment": on, "w_instruction": 0.0, "w_position": w_position}
        cfg = RetrievalConfig(m1=1, history=over)
        return predicted_action(make_retriever("history", index, cfg).retrieve(ctx).items[0])

    # within windows, neither door row has an action before it: a tie, the first row wins
    assert best(False) == "open door to kitchen"
    # in their roots, only the garden door follows 'pick up seed', 'go to hallway'
    assert best(True) == "open door to garden"
    # the position prior reads root positions too: the garden door is step 3 of its root,
    # the agent's step; the kitchen door is step 2 of its own
    assert best(False, w_position=2.0) == "open door to garden"
