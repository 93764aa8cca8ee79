"""The CLI's flag rules (issue 23 item 1): no abbreviations, the subcommand's usage and the
closest flag for a typo, defaults in every --help, -v and --wide after any subcommand, one
spelling per concept across subcommands, and runs that say how many tasks they mean."""

from __future__ import annotations

import argparse

import pytest

from lbi_icl.cli import _leaf, _subparsers, build_parser, main


def _leaves() -> dict[str, argparse.ArgumentParser]:
    return {p.prog: p for p in _subparsers(build_parser()) if p.prog != "lbi" and _leaf(p)}


def _exit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code or 0), capsys.readouterr().err


def test_a_prefix_is_not_read_as_a_longer_flag(capsys: pytest.CaptureFixture[str]) -> None:
    # `--retrieval` exists on run; `--retrieval-llm` too: the prefix must never stand for it,
    # and `--worker` must not be read as `--workers`
    code, err = _exit(["ablate", "--env", "babyai", "--worker", "2"], capsys)
    assert code == 2
    assert "usage: lbi ablate" in err  # the subcommand's usage, not the top level's
    assert "--worker (did you mean --workers?)" in err


def test_a_typo_names_the_closest_flag_of_its_subcommand(capsys: pytest.CaptureFixture[str]):
    code, err = _exit(["synthesize", "--env", "babyai", "--out", "x.jsonl", "--taks", "3"], capsys)
    assert code == 2
    assert "usage: lbi synthesize" in err and "did you mean --tasks?" in err


def test_every_flag_with_a_default_shows_it_in_help() -> None:
    missing = []
    for prog, parser in _leaves().items():
        text = parser.format_help()
        for action in parser._actions:
            default = action.default
            if (
                action.option_strings
                and action.help not in (None, argparse.SUPPRESS)
                and default not in (None, False, [], "", argparse.SUPPRESS)
                and not isinstance(action, argparse._HelpAction)
                and "default" not in (action.help or "")
            ):
                many = isinstance(default, list | tuple)
                shown = ",".join(map(str, default)) if many else default
                if f"(default: {shown})" not in " ".join(text.split()):
                    missing.append(f"{prog} {action.option_strings[0]}")
    assert not missing, missing


def test_verbose_and_wide_after_any_subcommand() -> None:
    parser = build_parser()
    args = parser.parse_args(["envs", "-v", "--wide"])
    assert args.verbose == 1 and args.wide is True
    for prog, leaf in _leaves().items():
        assert "-v" in leaf._option_string_actions, prog
        assert "--wide" in leaf._option_string_actions, prog


@pytest.mark.parametrize("flag", ["--llm-cache-mode", "--llm-base-url", "--prompt", "--set"])
def test_one_spelling_per_concept_across_llm_commands(flag: str) -> None:
    leaves = _leaves()
    for prog in ("lbi run", "lbi ablate", "lbi synthesize"):
        if flag == "--set" and prog == "lbi synthesize":
            continue
        assert flag in leaves[prog]._option_string_actions, (prog, flag)
    for prog, leaf in leaves.items():  # the old spelling is gone everywhere
        assert "--cache-mode" not in leaf._option_string_actions, prog


def test_eval_retrieval_takes_dotted_set_keys_like_run(tmp_path, capsys) -> None:
    # the dotted key reaches the retrieval config (its value is checked before the index)
    code = main(
        [
            "eval-retrieval",
            "--index",
            str(tmp_path / "none"),
            "--heldout",
            str(tmp_path / "d.jsonl"),
            "--set",
            "retrieval.m1=-5",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: --set retrieval.m1:")


def test_run_names_the_dotted_form_of_a_bare_retrieval_key(tmp_path, capsys) -> None:
    code = main(
        [
            "run",
            "--env",
            "babyai",
            *_scripted(tmp_path),
            "--tasks",
            "1",
            "--out",
            str(tmp_path / "r"),
            "--set",
            "m1=3",
        ]
    )
    err = capsys.readouterr().err
    assert code != 0 and "retrieval.m1" in err
    assert not (tmp_path / "r").exists()


def _scripted(tmp_path) -> list[str]:
    script = tmp_path / "script.json"
    script.write_text('{"default": "Reason: look around.\\nAction: done"}')
    return ["--policy", "llm", "--llm", f"scripted:{script}", "--retrieval", "none"]


def test_run_without_tasks_asks_which_tasks(tmp_path, capsys) -> None:
    code = main(["run", "--env", "babyai", *_scripted(tmp_path), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 1
    assert "--tasks N" in err and "--tasks all" in err
    assert not (tmp_path / "r").exists()  # nothing started


def test_run_prints_its_size_before_the_first_episode(tmp_path, capsys) -> None:
    out = tmp_path / "r"
    code = main(
        [
            "run",
            "--env",
            "babyai",
            *_scripted(tmp_path),
            "--tasks",
            "2",
            "--seeds",
            "1",
            "--max-steps",
            "2",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    assert "2 task(s) x 1 seed(s) x 1 strategy(ies) = 2 episode(s)" in capsys.readouterr().err
