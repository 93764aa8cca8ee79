"""The ScienceWorld environment check against the real simulator: a recorded expert rollout
replays exactly (no window fails), and a recording with one observation changed fails every
window that shows it, counted in the synthesis report. One JVM for the module."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lbi_icl.synth.check_scienceworld import ScienceWorldWindowChecker, first_mismatch
from lbi_icl.synth.config import SynthConfig, SynthReport
from lbi_icl.synth.pipeline import _Run
from lbi_icl.synth.rollout import rollout_expert

pytestmark = [pytest.mark.scienceworld, pytest.mark.slow]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    from lbi_icl.envs.scienceworld import ScienceWorldEnv

    e = ScienceWorldEnv(gold_cache=tmp_path_factory.mktemp("gold"))
    yield e
    e.close()


def test_real_rollouts_replay_and_a_changed_observation_is_counted(env) -> None:  # type: ignore[no-untyped-def]
    task = next(t for t in env.tasks("train") if t.metadata["task_type"] == "find-plant")
    recorded = rollout_expert(env, task, task.id, max_steps=40).trajectory
    assert recorded is not None and len(recorded.steps) >= 4
    assert first_mismatch(env, recorded) is None  # the simulator is deterministic

    steps = list(recorded.steps)
    steps[3] = steps[3].model_copy(update={"observation": "A room that is not there."})
    changed = recorded.model_copy(update={"id": "changed", "steps": steps})
    assert first_mismatch(env, changed) == 3

    config = SynthConfig(env="scienceworld", windows_per_trajectory=100, dedup=False)
    for parent, fails in ((recorded, False), (changed, True)):
        report = SynthReport(config=config, output="x.jsonl")
        run = _Run(config, None, SimpleNamespace(name="scienceworld"), None, [], report)  # type: ignore[arg-type]
        run.checker = ScienceWorldWindowChecker(env_factory=lambda: env)
        kept = run.backward_and_filter(parent)
        c = report.counts
        assert c["dropped_env_check"] + len(kept) == c["examples_backward"] > 0
        assert (c["dropped_env_check"] > 0) == fails
        assert all(ex.source["span"][1] < 3 for ex in kept) or not fails
