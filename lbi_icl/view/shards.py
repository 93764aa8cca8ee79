"""How the viewer's data reaches the browser: JavaScript shards that register JSON strings.

Why script shards and not `fetch()` of JSON files: the viewer must work opened straight from
disk (`file://`), and Chromium refuses `fetch`/XHR of `file://` URLs, while a `<script src>`
tag loads a local file fine. So each data file is a tiny script with exactly one statement,

    lbiData("episodes:3", "[[0,\\"BabyAI-GoToLocal-v0/seed-1\\",0,1,...]]");

whose second argument is a JSON document written as a JavaScript *string literal*
(`json.dumps` applied twice, ASCII only, so quotes, backslashes, `</script>`, control and
line-separator characters are all escaped). The page's `lbiData` hands the string to
`JSON.parse`: run data is parsed as data, never evaluated as code, and the same files work
unchanged when `lbi view --serve` serves them over http. Shards are loaded on demand by
adding a script tag, so a 10k-episode run never loads every step log at once.

The example lookup buckets use FNV-1a (32 bit) over the id's UTF-8 bytes, mirrored in
`viewer.js`, so a page can find the one small file holding an example without an id table.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from lbi_icl.data.jsonl import atomic_write_text

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193


def fnv1a(text: str) -> int:
    h = FNV_OFFSET
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * FNV_PRIME) & 0xFFFFFFFF
    return h


def bucket_of(example_id: str, buckets: int) -> int:
    return fnv1a(example_id) % max(1, buckets)


def _finite(value: Any) -> Any:
    """NaN and infinities (which step logs may hold) become null: JSON.parse rejects them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _dumps(payload: Any) -> str:
    try:
        return json.dumps(payload, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(_finite(payload), ensure_ascii=True, separators=(",", ":"))


def shard_text(name: str, payload: Any) -> str:
    """The one-statement script that registers `payload` under `name`."""
    data = _dumps(payload).replace("<", "\\u003c")  # no '</script>' even when inlined
    return f"lbiData({json.dumps(name)},{json.dumps(data, ensure_ascii=True)});\n"


def write_shard(path: Path, name: str, payload: Any) -> None:
    atomic_write_text(path, shard_text(name, payload))
