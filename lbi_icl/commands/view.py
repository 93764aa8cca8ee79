"""`lbi view RUN_DIR|DIR [--serve]`: the static run viewer (lbi_icl.view)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lbi_icl.cli import CLIError


def register(sub: Any) -> None:
    v = sub.add_parser(
        "view",
        help="see what the agent saw: write RUN/view/index.html (episodes, search, charts, "
        "steps), or a listing and comparison of every run in a folder",
        description="Write a static viewer into RUN_DIR/view/ (open index.html from disk), "
        "or serve it on 127.0.0.1 with --serve (it refreshes while the run writes). Given a "
        "folder that holds runs (e.g. runs/quickstart), builds each run's viewer and "
        "DIR/view/index.html listing them all, with a comparison of any two. Rerunning "
        "refreshes it incrementally.",
    )
    v.add_argument(
        "run_dir",
        type=Path,
        help="a run directory (`lbi run|ablate --out`) or a folder with runs below it",
    )
    v.add_argument("--serve", action="store_true", help="serve it on 127.0.0.1 until Ctrl-C")
    v.add_argument("--port", type=int, default=0, help="port for --serve (default: a free one)")
    v.add_argument(
        "--index", type=Path, help="index to read example texts from (default: the run's)"
    )
    v.add_argument("--shard-size", type=int, default=1000, help="episodes per index shard")
    v.add_argument("--open", action="store_true", help="open it in the default web browser")
    v.add_argument(
        "--no-live",
        action="store_true",
        help="with --serve: do not rebuild when the run's episodes.jsonl changes",
    )
    v.add_argument(
        "--interval", type=float, default=2.0, help="with --serve: seconds between checks"
    )
    v.add_argument("--no-progress", action="store_true")
    v.set_defaults(handler=_view)


def _build(args: argparse.Namespace, *, progress: bool) -> tuple[Any, bool]:
    """Build the viewer of a run, or of every run in a folder; (result, is_folder)."""
    from lbi_icl.data.jsonl import DataError
    from lbi_icl.index import IndexFormatError
    from lbi_icl.view import build_runs_view, build_view, is_run_dir

    folder = args.run_dir.is_dir() and not is_run_dir(args.run_dir)
    try:
        if folder:
            res = build_runs_view(
                args.run_dir, index=args.index, shard_size=args.shard_size, progress=progress
            )
        else:
            res = build_view(
                args.run_dir, index=args.index, shard_size=args.shard_size, progress=progress
            )
    except (DataError, FileNotFoundError, IndexFormatError, ValueError) as e:
        raise CLIError(str(e).splitlines()[0] if folder else str(e)) from e
    return res, folder


def _said(res: Any, folder: bool) -> str:
    if folder:
        bad = f", {len(res.failed)} not built" if res.failed else ""
        return (
            f"runs: {res.index_html} ({res.built} run(s){bad}, {res.episodes} episodes; "
            f"{res.seconds:.1f}s)"
        )
    return (
        f"viewer: {res.index_html} ({res.episodes} episodes, {res.shards} shard(s); "
        f"{res.step_files_written} step file(s) written, {res.step_files_kept} unchanged; "
        f"{res.examples} example text(s); {res.seconds:.1f}s)"
    )


def _view(args: argparse.Namespace) -> int:
    from lbi_icl.view import make_server
    from lbi_icl.view.serve import viewer_url

    if args.interval <= 0:
        raise CLIError(f"--interval must be > 0, got {args.interval}")
    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be 0 (a free port) to 65535, got {args.port}")
    res, folder = _build(args, progress=not args.no_progress)
    print(_said(res, folder))
    if folder:
        for rel, err in res.failed.items():
            print(f"note: {rel}: {err}")
    elif res.examples_note:
        print(f"note: {res.examples_note}")
    url = res.index_html.resolve().as_uri()
    if not args.serve:
        print(f"open {url}")
        if args.open:
            _open(url)
        return 0
    try:
        server = make_server(args.run_dir, args.port)
    except (OSError, OverflowError) as e:
        raise CLIError(f"cannot serve on 127.0.0.1:{args.port}: {e}") from e
    live = None
    if not args.no_live:
        live = _live(args, folder)
        live.start()
    url = viewer_url(server)
    print(f"serving {url} (Ctrl-C stops)" + ("" if live is None else "; live"), flush=True)
    if args.open:
        _open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        if live is not None:
            live.stop()
        server.server_close()
    return 0


def _live(args: argparse.Namespace, folder: bool) -> Any:
    from lbi_icl.view.live import LiveRebuilder
    from lbi_icl.view.multi import find_runs

    def runs() -> list[Path]:
        return find_runs(args.run_dir) if folder else [args.run_dir]

    def rebuild() -> str:
        try:
            res, _ = _build(args, progress=False)
        except CLIError as e:
            raise RuntimeError(str(e)) from e
        return _said(res, folder)

    return LiveRebuilder(runs, rebuild, interval=args.interval, report=_say)


def _say(line: str) -> None:
    print(line, flush=True)


def _open(url: str) -> None:
    import webbrowser

    webbrowser.open(url)
