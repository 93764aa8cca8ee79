"""Starting the ScienceWorld JVM with fixed flags: the package offers no way to pass JVM
options but `JAVA_TOOL_OPTIONS`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

# The simulator keeps objects in identity-hashed sets, so with HotSpot's default identity
# hashes (a per-thread random sequence) listing order depends on everything the JVM did
# before. A constant identity hash makes iteration follow insertion order: the same
# task and actions give the same text in any JVM (measured: no slower on these worlds).
_DETERMINISTIC_JVM_OPTS = "-XX:+UnlockExperimentalVMOptions -XX:hashCode=2"


@contextlib.contextmanager
def _java_options(extra: str) -> Iterator[None]:
    """Add `extra` to JAVA_TOOL_OPTIONS while the package launches its JVM (it offers no
    other way to pass JVM flags), then restore the variable."""
    if not extra:
        yield
        return
    old = os.environ.get("JAVA_TOOL_OPTIONS")
    os.environ["JAVA_TOOL_OPTIONS"] = f"{old} {extra}" if old else extra
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("JAVA_TOOL_OPTIONS", None)
        else:
            os.environ["JAVA_TOOL_OPTIONS"] = old
