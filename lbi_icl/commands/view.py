"""`lbi view RUN_DIR [--serve]`: the static run viewer (lbi_icl.view)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lbi_icl.cli import CLIError


def register(sub: Any) -> None:
    v = sub.add_parser(
        "view",
        help="see what the agent saw: write RUN/view/index.html (episodes, paired view, steps)",
        description="Write a static viewer into RUN_DIR/view/ (open index.html from disk), "
        "or serve it on 127.0.0.1 with --serve. Rerunning refreshes it incrementally.",
    )
    v.add_argument("run_dir", type=Path, help="a run directory (`lbi run|ablate --out`)")
    v.add_argument("--serve", action="store_true", help="serve it on 127.0.0.1 until Ctrl-C")
    v.add_argument("--port", type=int, default=0, help="port for --serve (default: a free one)")
    v.add_argument(
        "--index", type=Path, help="index to read example texts from (default: the run's)"
    )
    v.add_argument("--shard-size", type=int, default=1000, help="episodes per index shard")
    v.add_argument("--open", action="store_true", help="open it in the default web browser")
    v.add_argument("--no-progress", action="store_true")
    v.set_defaults(handler=_view)


def _view(args: argparse.Namespace) -> int:
    from lbi_icl.index import IndexFormatError
    from lbi_icl.jsonl import DataError
    from lbi_icl.view import build_view, make_server
    from lbi_icl.view.serve import viewer_url

    try:
        res = build_view(
            args.run_dir,
            index=args.index,
            shard_size=args.shard_size,
            progress=not args.no_progress,
        )
    except (DataError, FileNotFoundError, IndexFormatError, ValueError) as e:
        raise CLIError(str(e)) from e
    print(
        f"viewer: {res.index_html} ({res.episodes} episodes, {res.shards} shard(s); "
        f"{res.step_files_written} step file(s) written, {res.step_files_kept} unchanged; "
        f"{res.examples} example text(s); {res.seconds:.1f}s)"
    )
    if res.examples_note:
        print(f"note: {res.examples_note}")
    url = res.index_html.resolve().as_uri()
    if args.serve:
        try:
            server = make_server(args.run_dir, args.port)
        except OSError as e:
            raise CLIError(f"cannot serve on 127.0.0.1:{args.port}: {e}") from e
        url = viewer_url(server)
        print(f"serving {url} (Ctrl-C stops)", flush=True)
        if args.open:
            _open(url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped")
        finally:
            server.server_close()
        return 0
    print(f"open {url}")
    if args.open:
        _open(url)
    return 0


def _open(url: str) -> None:
    import webbrowser

    webbrowser.open(url)
