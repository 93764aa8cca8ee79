"""Synthesis defaults live in `SynthConfig` (the CLI only overrides): a config built by
`lbi synthesize` with no flags equals `SynthConfig(env=..., llm=...)` for every env."""

from __future__ import annotations

import pytest

from lbi_icl.cli import build_parser
from lbi_icl.commands.synth import build_config
from lbi_icl.envs.registry import list_envs
from lbi_icl.synth.config import ENV_SYNTH_DEFAULTS, SynthConfig


@pytest.mark.parametrize("llm", [None, "scripted:brain.jsonl"])
@pytest.mark.parametrize("env", sorted(e.name for e in list_envs()))
def test_cli_and_library_build_the_same_config(env: str, llm: str | None) -> None:
    argv = ["synthesize", "--env", env, "--out", "x.jsonl"] + (["--llm", llm] if llm else [])
    from_cli = build_config(build_parser().parse_args(argv))
    assert from_cli == SynthConfig(env=env, llm=llm)


def test_env_and_llm_defaults_and_explicit_values() -> None:
    web = SynthConfig(env="miniwob")
    assert web.explorers == ENV_SYNTH_DEFAULTS["miniwob"]["explorers"]
    assert web.max_steps == ENV_SYNTH_DEFAULTS["miniwob"]["max_steps"]
    plain = SynthConfig(env="babyai")
    assert (plain.explorers, plain.max_steps) == (["expert", "noisy_expert"], 40)
    assert (plain.task_source, plain.writer) == ("env", "offline")
    with_llm = SynthConfig(env="babyai", llm="openai:m")
    assert with_llm.explorers == ["llm"]
    assert (with_llm.task_source, with_llm.writer) == ("self_instruct", "llm")
    chosen = SynthConfig(
        env="miniwob",
        llm="openai:m",
        explorers=["coverage"],
        max_steps=3,
        task_source="env",
        writer="offline",
    )
    assert (chosen.explorers, chosen.max_steps) == (["coverage"], 3)
    assert (chosen.task_source, chosen.writer) == ("env", "offline")
    # a saved config reads back as it was written (defaults apply to left-out keys only)
    assert SynthConfig.model_validate_json(chosen.model_dump_json()) == chosen
