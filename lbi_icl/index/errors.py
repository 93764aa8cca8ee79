"""The index's error types, below every other index module (so none imports another for
its exceptions)."""

from __future__ import annotations


class IndexFormatError(ValueError):
    """An index directory is missing a file, has a truncated file, or a wrong version."""


class IndexMismatchError(IndexFormatError):
    """The index was built with a different embedder than the one supplied."""


class IndexBuildError(ValueError):
    """The inputs cannot be indexed (duplicate ids, unwritable target, ...)."""
