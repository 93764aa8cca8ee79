"""The run viewer: `build_view(run_dir)` writes RUN_DIR/view/ (static HTML + data shards);
`serve_view(run_dir)` serves it on 127.0.0.1. See `build.py` for the layout."""

from lbi_icl.view.build import ViewResult, build_view
from lbi_icl.view.serve import make_server, serve_view

__all__ = ["ViewResult", "build_view", "make_server", "serve_view"]
