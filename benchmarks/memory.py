"""Peak extra memory of one gradient at large n, per fastgrad tier.

Why tracemalloc: it sees every allocation made through Python's allocators,
fastgrad's stencil buffers (PyMem_RawMalloc) included, and numpy reports its
array buffers to it (since numpy 1.13).  numpy_is_traced() checks that on the
installed numpy rather than trusting it.

Each tier is measured with its cheapest f (it reads two entries of x), so the
peak is fastgrad's own memory: x's copy, the gradient, the stencil (point,
step and value per stencil point) and, for the vectorized tier, the matrix of
stencil points handed to f (about 512 KiB, at most 32 MiB).  A real f
adds its own temporaries on top (for a vectorized numpy f, a few times the
chunk).  O(n) shows as a constant number of bytes per n beyond the chunk.
"""
import gc
import time
import tracemalloc

import numpy as np

import fastgrad

from .competitors import H, STYLE_KWARGS, vectorized_rows_per_call


def numpy_is_traced():
    """Whether tracemalloc sees numpy's array buffers on this numpy."""
    tracemalloc.start()
    try:
        array = np.ones(2**20)
        seen = tracemalloc.get_traced_memory()[1] >= array.nbytes
    finally:
        tracemalloc.stop()
    return seen


def peak_extra_bytes(fn):
    """Peak bytes allocated while fn() runs, above what was allocated before."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - before


def chunk_bytes(n, chunked):
    """Bytes of the stencil matrix a chunked tier hands f at once: min(2n rows, the bound)."""
    if not chunked:
        return 0
    rows = min(2 * n, vectorized_rows_per_call(n))
    return rows * n * 8


def measure(tiers, sizes):
    """One record per (tier, n) and one per tier that could not be measured."""
    records, skipped = [], []
    for tier in tiers:
        if tier.memory_f is None:
            continue
        try:
            f = tier.memory_f()
        except ImportError as error:
            skipped.append({"tier": tier.name, "reason": f"not available: {error}"})
            continue
        kwargs = STYLE_KWARGS[tier.styles[0]]
        for n in sizes:
            records.append(_measure_one(tier, f, kwargs, n))
    return records, skipped


def _measure_one(tier, f, kwargs, n):
    x = np.linspace(-1.0, 1.0, n)
    start = time.perf_counter()
    peak = peak_extra_bytes(lambda: fastgrad.gradient(f, x, H, **kwargs))
    chunk = chunk_bytes(n, tier.chunked)
    return {
        "tier": tier.name, "n": n, "peak_bytes": peak, "bytes_per_n": peak / n,
        "stencil_chunk_bytes": chunk, "beyond_chunk_per_n": (peak - chunk) / n,
        "seconds": time.perf_counter() - start,
    }
