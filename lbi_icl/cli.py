"""The `lbi` command: a thin argparse front over library functions.

Each area registers its subcommands from `lbi_icl.commands.<area>`; heavy imports happen
inside the handlers so `lbi --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from lbi_icl import __version__

# Modules under lbi_icl.commands that expose `register(subparsers)`; one that fails to
# import is an error (a broken command must not silently vanish from `lbi`).
COMMAND_MODULES = (
    "data",
    "index",
    "eval_retrieval",
    "envs",
    "synth",
    "run",
    "rescore",
    "view",
    "heldout",
    "swe",
    "local",
    "desktop",
)


def os_error_text(e: OSError) -> str:
    """`PATH: what happened (ERRNO)` for an OSError (the path and errno name when known)."""
    import errno

    name = errno.errorcode.get(e.errno, "") if e.errno is not None else ""
    what = e.strerror or str(e)
    where = f"{e.filename} -> {e.filename2}" if e.filename2 else e.filename
    text = f"{where}: {what}" if where is not None else what
    return f"{text} ({name})" if name else text


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# `--wide` (a flag of every subcommand): read by commands/tables.py, which imports this
# module like every command does (the flag lives here so cli never imports commands/).
_TABLES = {"wide": False}


def set_wide_tables(on: bool) -> None:
    """`--wide`: terminal tables at full width, unwrapped, even on a terminal."""
    _TABLES["wide"] = bool(on)


def wide_tables() -> bool:
    return _TABLES["wide"]


class CLIError(Exception):
    """A user-facing error: printed without a traceback, exit code 1 (or `code`)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def parse_key_values(items: list[str], flag: str) -> dict[str, Any]:
    """Turn repeated `--flag KEY=VALUE` options into a dict; VALUE is JSON when it parses
    as JSON (numbers, booleans, lists), else the raw string."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CLIError(f"{flag} {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def parse_names(values: Sequence[str] | str, flag: str) -> list[str]:
    """Names given comma- or space-separated (`a,b c` -> [a, b, c]); none is an error."""
    items = [values] if isinstance(values, str) else list(values)
    names = [n.strip() for v in items for n in v.split(",") if n.strip()]
    if not names:
        raise CLIError(f"{flag}: no names given (expected e.g. none,rag,observation)")
    return names


class _HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default (when it has one worth showing and the help text does
    not already say it)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            text
            and "default" not in text
            and default not in (None, False, [], "", argparse.SUPPRESS)
            and action.option_strings
            and not isinstance(action, argparse._HelpAction | argparse._VersionAction)
        ):
            shown = ",".join(map(str, default)) if isinstance(default, list | tuple) else default
            text += f" (default: {shown})"
        return text


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """`parser` and every parser below it."""
    out = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                out += _subparsers(child)
    return out


def _leaf(parser: argparse.ArgumentParser) -> bool:
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lbi",
        description="Learn-by-interact: synthesize agent data, build indexes, run and "
        "ablate retrieval-augmented agents.",
    )
    parser.add_argument("--version", action="version", version=f"lbi_icl {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"lbi_icl.commands.{name}")
        module.register(sub)
    # every parser alike: no abbreviated flags (`--retrieval` is never read as
    # `--retrieval-llm`), defaults in --help, -v after the subcommand too
    for p in _subparsers(parser):
        p.allow_abbrev = False
        p.formatter_class = _HelpFormatter
        if p is not parser and _leaf(p) and "-v" not in p._option_string_actions:
            p.add_argument(
                "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more logging"
            )
        if p is not parser and _leaf(p) and "--wide" not in p._option_string_actions:
            p.add_argument(
                "--wide", action="store_true", help="tables at full width, unwrapped (as in a pipe)"
            )
    return parser


def _chosen(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.ArgumentParser:
    """The (sub)parser the command line selected, for its usage in an error."""
    current = parser
    for word in argv:
        actions = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if actions and word in actions[0].choices:
            current = actions[0].choices[word]
    return current


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """`parse_args`, but an unknown flag is answered by the subcommand's own usage and the
    closest flag it has."""
    import difflib

    words = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(words)
    if extra:
        target = _chosen(parser, words)
        flags = list(target._option_string_actions)
        hints = []
        for word in extra:
            close = difflib.get_close_matches(word.split("=", 1)[0], flags, n=1)
            hints.append(f"{word} (did you mean {close[0]}?)" if close else word)
        target.error(f"unrecognized arguments: {' '.join(hints)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    from lbi_icl.util.scrub import install_log_filter, scrub_text

    install_log_filter()  # URLs in log lines (httpx logs each request) lose their secrets
    set_wide_tables(getattr(args, "wide", False))
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    from lbi_icl.util.locks import LockHeldError

    try:
        return int(handler(args) or 0)
    except CLIError as e:
        cause = e.__cause__
        text = str(e)
        if isinstance(cause, OSError) and text == str(cause):  # a bare OSError passed on
            text = os_error_text(cause)
        print(f"error: {scrub_text(text)}", file=sys.stderr)
        return e.code
    except LockHeldError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lbi ... | head`: the reader left; nothing to report
        _silence_stdout()
        return 141
    except OSError as e:  # a read or write path that failed: one line naming it
        print(f"error: {scrub_text(os_error_text(e))}", file=sys.stderr)
        return 1


def entry() -> None:
    """The `lbi` command: `main`, then exit without the interpreter's final garbage
    collection. That collection walks every object the run left (torch, transformers,
    the env's modules) and took 7 s on a loaded 2-core box after a Ctrl-C — longer than
    the run's own stop; files are written and closed by then, and atexit handlers still run."""
    import gc

    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    # `python -m lbi_icl.cli`: run the imported module's entry, so the CLIError the command
    # modules raise (lbi_icl.cli.CLIError) is the class main() catches, not __main__'s copy
    from lbi_icl.cli import entry as _entry

    _entry()
