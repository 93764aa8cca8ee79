"""Example indexes: build / load / add / query (see `layout` for the on-disk format).

Names resolve lazily so `import lbi_icl.index` stays cheap (no numpy-heavy or bm25s import
until a function is used).
"""

from __future__ import annotations

from lbi_icl.util.lazy import lazy_getattr

_EXPORTS = {
    "build_index": "lbi_icl.index.build",
    "build_index_from": "lbi_icl.index.build",
    "add_to_index": "lbi_icl.index.build",
    "description_text": "lbi_icl.index.build",
    "IndexBuildError": "lbi_icl.index.errors",
    "load_index": "lbi_icl.index.load",
    "read_manifest": "lbi_icl.index.load",
    "ExampleIndex": "lbi_icl.index.load",
    "IndexMismatchError": "lbi_icl.index.errors",
    "IndexFormatError": "lbi_icl.index.errors",
    "IndexConfig": "lbi_icl.index.manifest",
    "IndexManifest": "lbi_icl.index.manifest",
    "BM25Params": "lbi_icl.index.bm25",
    "tokenize": "lbi_icl.util.tokenizer",
    "query_index": "lbi_icl.index.query",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(globals(), _EXPORTS)


def __dir__() -> list[str]:
    return __all__
