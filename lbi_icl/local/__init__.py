"""Local models: the pinned fixture GGUF (`models.py`) and a local OpenAI-compatible
server for any GGUF file (`server.py`). Nothing here is imported by `import lbi_icl`."""

from __future__ import annotations

from lbi_icl.local.models import FIXTURES, FixtureModel, ModelError, model_cache_dir, prepare_model
from lbi_icl.local.server import LocalServer, ServerError, ServerState, free_port

__all__ = [
    "FIXTURES",
    "FixtureModel",
    "LocalServer",
    "ModelError",
    "ServerError",
    "ServerState",
    "free_port",
    "model_cache_dir",
    "prepare_model",
]
