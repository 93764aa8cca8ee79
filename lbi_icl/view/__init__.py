"""The run viewer: `build_view(run_dir)` writes RUN_DIR/view/ (static HTML + data shards);
`build_runs_view(folder)` does so for every run below a folder and writes a listing page
that compares any two; `serve_view(run_dir)` serves it on 127.0.0.1. See `build.py` and
`multi.py` for the layouts."""

from lbi_icl.view.build import ViewResult, build_view, is_run_dir
from lbi_icl.view.multi import RunsViewResult, build_runs_view, find_runs
from lbi_icl.view.serve import make_server, serve_view

__all__ = [
    "RunsViewResult",
    "ViewResult",
    "build_runs_view",
    "build_view",
    "find_runs",
    "is_run_dir",
    "make_server",
    "serve_view",
]
