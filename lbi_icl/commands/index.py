"""`lbi index build|add|info|query`: build, extend, inspect and query example indexes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lbi_icl.cli import CLIError
from lbi_icl.commands.tables import print_table


def register(sub: Any) -> None:
    p = sub.add_parser("index", help="build, extend, inspect and query example indexes")
    isub = p.add_subparsers(dest="index_command", metavar="SUBCOMMAND", required=True)

    b = isub.add_parser(
        "build",
        help="build an index directory from trajectories (+ docs), or from a recipe",
        description="From data (--trajectories, --docs, --out) or from a recipe (--recipe "
        "indexes/recipes/ENV.toml: synthesis settings, embedder and the counts to expect; "
        "the data is synthesized into OUT.data/ and the counts checked).",
    )
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--trajectories", nargs="+", type=Path, metavar="FILE")
    src.add_argument("--recipe", type=Path, metavar="TOML", help="an index recipe")
    b.add_argument("--docs", nargs="+", type=Path, default=[], metavar="FILE")
    b.add_argument("--out", type=Path, help="index directory (default with --recipe: indexes/NAME)")
    b.add_argument(
        "--embedder",
        default=None,
        help="sentence-transformers name or local path, 'minilm-onnx[-int8]' or "
        "'minilm-openvino' (extra [fast]), or 'hash[:DIM]' "
        "(default: packaged all-MiniLM-L6-v2)",
    )
    b.add_argument("--bm25-engine", choices=["bm25s", "rank-bm25"], default="bm25s")
    b.add_argument("--chunk-words", type=int, default=200, help="doc chunk size in words")
    b.add_argument("--chunk-overlap", type=int, default=40, help="doc chunk overlap in words")
    b.add_argument(
        "--hnsw-min-rows",
        type=int,
        default=None,
        help="build a faiss HNSW graph for a dense field with at least this many examples "
        "(default 200000; docs/retrieval.md)",
    )
    b.add_argument("--json", action="store_true", help="print the manifest as JSON")
    b.add_argument("--overwrite", action="store_true", help="replace an existing index at --out")
    b.set_defaults(handler=_build)

    a = isub.add_parser("add", help="append trajectories to an index (atomic)")
    a.add_argument("dir", type=Path)
    a.add_argument("--trajectories", nargs="+", type=Path, required=True, metavar="FILE")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_add)

    i = isub.add_parser("info", help="what an index holds and how it was built")
    i.add_argument("dir", type=Path)
    i.add_argument("--json", action="store_true")
    i.set_defaults(handler=_info)

    v = isub.add_parser("verify", help="check every file's sha256 against the manifest")
    v.add_argument("dir", type=Path)
    v.add_argument("--json", action="store_true")
    v.set_defaults(handler=_verify)

    q = isub.add_parser("query", help="top-k rows of one field for a text")
    q.add_argument("dir", type=Path)
    q.add_argument(
        "--field", choices=["instruction", "observation", "description", "docs"], required=True
    )
    q.add_argument("--text", required=True)
    q.add_argument("-k", type=_positive_int, default=5, help="hits to show (>= 1)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=_query)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's input errors into CLIError (message, exit 1, no traceback)."""
    from lbi_icl.data.jsonl import DataError
    from lbi_icl.embed import EmbedderError
    from lbi_icl.index.errors import IndexBuildError, IndexFormatError

    try:
        yield
    except (IndexFormatError, IndexBuildError, EmbedderError, FileNotFoundError) as e:
        raise CLIError(str(e)) from e
    except DataError as e:
        raise CLIError(f"{e}\n(run `lbi data validate` to list every bad line)") from e


def _print_manifest(manifest: Any, as_json: bool, verb: str, out: Path) -> None:
    if as_json:
        print(json.dumps(manifest.model_dump(mode="json"), indent=2))
        return
    c = manifest.counts
    print(
        f"{verb} {out}: {c.examples} examples, {c.steps} steps, {c.documents} documents "
        f"({c.chunks} chunks); embedder {manifest.embedder.id}; {manifest.build_seconds:.2f} s"
    )


def _build(args: argparse.Namespace) -> int:
    from lbi_icl.embed import load_embedder
    from lbi_icl.index import BM25Params, IndexConfig, build_index
    from lbi_icl.index.ann import AnnConfig

    if args.recipe is not None:
        return _build_recipe(args)
    if args.out is None:
        raise CLIError("--out is required with --trajectories")

    with user_errors():
        try:
            ann = {} if args.hnsw_min_rows is None else {"hnsw_min_rows": args.hnsw_min_rows}
            config = IndexConfig(
                bm25=BM25Params(engine=args.bm25_engine),
                chunk_words=args.chunk_words,
                chunk_overlap=args.chunk_overlap,
                ann=AnnConfig(**ann),
            )
        except ValueError as e:
            raise CLIError(f"bad index option: {e}") from e
        if config.chunk_overlap >= config.chunk_words:
            raise CLIError("--chunk-overlap must be smaller than --chunk-words")
        if args.out.exists() and not args.overwrite:
            what = "an index" if (args.out / "manifest.json").exists() else "a file or folder"
            raise CLIError(f"{args.out}: {what} exists already; pass --overwrite to replace it")
        docs = list(args.docs) or _docs_beside(args.trajectories)
        manifest = build_index(
            args.trajectories,
            args.out,
            docs=docs,
            embedder=load_embedder(args.embedder),
            config=config,
        )
    _print_manifest(manifest, args.json, "built", args.out)
    return 0


def _build_recipe(args: argparse.Namespace) -> int:
    from lbi_icl.envs.registry import EnvNotInstalledError, UnknownEnvError
    from lbi_icl.index.recipe import RecipeError, build_from_recipe
    from lbi_icl.llm.errors import LLMConfigError
    from lbi_icl.synth.pipeline import SynthConflictError
    from lbi_icl.synth.relabelers import NoRelabelerError

    with user_errors():
        try:
            out, manifest, problems = build_from_recipe(
                args.recipe, args.out, overwrite=args.overwrite, progress=sys.stderr.isatty()
            )
        except (
            RecipeError,
            SynthConflictError,
            UnknownEnvError,
            EnvNotInstalledError,
            NoRelabelerError,
            LLMConfigError,
        ) as e:
            raise CLIError(str(e)) from e
    _print_manifest(manifest, args.json, "built", out)
    if problems:
        raise CLIError(f"{args.recipe}: the index differs from the recipe: {'; '.join(problems)}")
    return 0


def _add(args: argparse.Namespace) -> int:
    from lbi_icl.index import add_to_index

    with user_errors():
        manifest = add_to_index(args.dir, args.trajectories)
    _print_manifest(manifest, args.json, "updated", args.dir)
    return 0


def _docs_beside(trajectories: list[Path]) -> list[Path]:
    """The environment documents `lbi synthesize` wrote beside its output (NAME.docs.jsonl),
    used when --docs is not given, so the index can serve the RAG baseline."""
    from lbi_icl.synth.pipeline import paths_for

    found = []
    for t in trajectories:
        docs = paths_for(t)["docs"]
        if docs.is_file() and docs not in found:
            found.append(docs)
    if found:
        print(f"documents: {', '.join(str(d) for d in found)} (written by lbi synthesize)")
    return found


def _verify(args: argparse.Namespace) -> int:
    from lbi_icl.index.load import read_manifest
    from lbi_icl.index.verify import verify_files, write_stamp

    with user_errors():
        manifest = read_manifest(args.dir)
        rows = verify_files(args.dir, manifest)
    bad = [r for r in rows if not r.ok]
    unhashed = not manifest.sha256
    if not bad and not unhashed:
        write_stamp(args.dir, list(manifest.files))
    if args.json:
        print(json.dumps([r.model_dump() for r in rows], indent=2))
    else:
        from rich.table import Table

        t = Table(title=f"verify {args.dir}")
        for c in ("file", "bytes", "sha256", "status"):
            t.add_column(c)
        for r in rows:
            sha = (r.actual_sha256 or "")[:16]
            t.add_row(r.file, str(r.size), sha, "ok" if r.ok else f"BAD: {r.problem}")
        print_table(t)
    if unhashed:
        print(
            f"{args.dir}: the manifest records no hashes (built by an older lbi_icl); "
            "sizes only were checked — rebuild the index to record them",
            file=sys.stderr,
        )
        return 1
    if bad:
        print(
            f"error: {len(bad)} of {len(rows)} file(s) damaged in {args.dir}; rebuild the index",
            file=sys.stderr,
        )
        return 1
    print(f"ok: {len(rows)} file(s) match their recorded sha256")
    return 0


def _info(args: argparse.Namespace) -> int:
    from lbi_icl.index import load_index

    with user_errors():
        index = load_index(args.dir)
        summary = index.summary
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    from rich.table import Table

    t = Table(title=f"index {args.dir}", show_header=False)
    t.add_column("key")
    t.add_column("value")
    for key, value in summary.items():
        t.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    print_table(t)
    return 0


def _query(args: argparse.Namespace) -> int:
    from lbi_icl.index import load_index
    from lbi_icl.index.query import query_index

    with user_errors():
        index = load_index(args.dir)
        rows = query_index(index, args.field, args.text, args.k)
    if args.json:
        print(
            json.dumps(
                {"field": args.field, "text": args.text, "k": args.k, "hits": rows}, indent=2
            )
        )
        return 0
    from rich.table import Table

    t = Table(title=f"{args.field} ~ {args.text!r}")
    cols = [c for c in rows[0] if c != "rank"] if rows else ["id", "score"]
    t.add_column("#", justify="right")
    for c in cols:
        t.add_column(c, overflow="fold")
    fmt: Callable[[Any], str] = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
    for r in rows:
        t.add_row(str(r["rank"]), *[fmt(r[c]) for c in cols])
    print_table(t)
    return 0
