"""Dense matrix-vector scores without BLAS threads.

`mat @ vec` is a BLAS gemv: it wakes OpenBLAS' thread pool, whose threads spin and then wait
for a core on a busy 2-core machine or beside other episodes' threads. `np.einsum` runs on
the calling thread instead. A large matrix (at least `SPLIT_MIN_ELEMENTS` floats, e.g. 1M
pairs' 83k x 384 MiniLM descriptions) is cut in two row halves, one scored on a helper
thread (einsum releases the GIL): each row's sum is the same computation, so the result is
bit for bit the one-thread result, and when no second core is free the halves just run one
after the other. Measured at 83k x 384 (idle / three CPU-bound processes beside it):
14.1 → 8.3 ms and 27.5 → 22.8 ms p50; at 83k x 64 splitting did not pay, hence the bound.
"""

from __future__ import annotations

import numpy as np

from lbi_icl.util.thread_pools import shared_pool

SPLIT_MIN_ELEMENTS = 8 << 20  # 32 MiB of float32: below this one thread is as fast


def dense_dot(
    mat: np.ndarray, vec: np.ndarray, *, split_min_elements: int = SPLIT_MIN_ELEMENTS
) -> np.ndarray:
    """`mat @ vec` as float32, computed with einsum (two row halves in parallel when big)."""
    vec32 = np.ascontiguousarray(vec, dtype=np.float32)
    n = mat.shape[0]
    out = np.empty(n, dtype=np.float32)
    if n < 2 or mat.size < split_min_elements:
        np.einsum("ij,j->i", mat, vec32, out=out, optimize=False)
        return out
    half = n // 2
    pool = shared_pool("dense", 2)
    other = pool.submit(np.einsum, "ij,j->i", mat[half:], vec32, out=out[half:], optimize=False)
    np.einsum("ij,j->i", mat[:half], vec32, out=out[:half], optimize=False)
    other.result()
    return out
