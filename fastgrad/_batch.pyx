# cython: language_level=3
"""gradient_batch: the gradients at the rows of X, with two paths.

Design
------
* gil-free evaluators (the compiled tier): rows in parallel with OpenMP, one
  workspace per thread, in blocks of rows so that Ctrl-C is seen between them;
* every other evaluator: serially, in groups of rows whose stencils go to the
  evaluator in one call (the vectorized tier hands f many rows at once; the
  Python tier takes one row per group).
Either way every row's stencil is checked before f is evaluated anywhere.

libgomp's threads do not survive fork(): a forked child (multiprocessing's
"fork" pool, say) computes batches serially.
"""
cimport cython
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_RawCalloc, PyMem_RawFree
from cython.parallel cimport prange, threadid

import os

import numpy as np

from ._evaluators cimport Evaluator, Points
from ._stencil cimport (Stencil, StencilRow, Steps, Workspace, probe_precision,
                        stencil_combine, stencil_gradient, stencil_init, stencil_place,
                        workspace_alloc, workspace_free)


cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FASTGRAD_OPENMP 1
    #define fastgrad_max_threads() omp_get_max_threads()
    #else
    #define FASTGRAD_OPENMP 0
    #define fastgrad_max_threads() 1
    #endif
    """
    const bint FASTGRAD_OPENMP
    int fastgrad_max_threads() noexcept nogil


#: Whether this build runs gradient_batch in parallel (setup.py found OpenMP).
OPENMP = FASTGRAD_OPENMP

cdef bint forked_child = False


def _mark_forked_child():
    global forked_child
    forked_child = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_mark_forked_child)


def max_threads():
    """The number of threads gradient_batch uses by default (1 without OpenMP)."""
    return fastgrad_max_threads()


cdef enum:
    # Most points per grouped evaluate() call: the bookkeeping (40 bytes a
    # point) stays within about 2.5 MiB; the evaluator chunks what it hands f.
    GROUP_POINTS = 65536
    # Points per block of a parallel batch between checks for Ctrl-C.
    BLOCK_POINTS = 1048576


def gradient_batch(Evaluator ev, const double[:, ::1] X, h, StencilRow row, int num_threads,
                   bounds=None):
    """Gradients at the m rows of X, shape (m, n); or (row, coordinate) of the first
    stencil with no usable step (nothing evaluated then)."""
    cdef Py_ssize_t m = X.shape[0], n = X.shape[1], r, t, bad, probes = 0
    cdef Steps steps = Steps(h)
    cdef int threads = min(num_threads, m) if ev.gil_free and not forked_child else 1
    cdef Py_ssize_t first, block, per_group
    cdef Stencil s
    stencil_init(&s, row, n, steps, bounds)
    per_group = 1 if ev.gil_free else max(1, min(ev.points_per_call, GROUP_POINTS) // s.k)
    per_group = min(per_group, m)
    G = np.empty((m, n))
    cdef double[:, ::1] gv = G
    # One workspace per thread, allocated here so that failure raises cleanly.
    cdef Workspace* spaces = <Workspace*> PyMem_RawCalloc(threads, sizeof(Workspace))
    if spaces == NULL:
        raise MemoryError()
    try:
        for t in range(threads):
            workspace_alloc(&spaces[t], per_group * s.k, n if ev.gil_free else 0,
                            not ev.gil_free)
        for r in range(m):
            bad = stencil_place(&s, &X[r, 0], spaces[0].coord, spaces[0].value)
            if bad >= 0:
                return (r, bad)
        ev.ready(n)
        if steps.relative > 0.0:  # h="auto": the precision of f, once, at X[0]
            probe_precision(ev, &s, steps, &X[0, 0], &probes)
            for r in range(m):
                bad = stencil_place(&s, &X[r, 0], spaces[0].coord, spaces[0].value)
                if bad >= 0:
                    return (r, bad)
        if ev.gil_free:
            block = max(64 * threads, BLOCK_POINTS // s.k)
            for first in range(0, m, block):
                with nogil:
                    parallel_rows(ev, &s, spaces, X[first:first + block],
                                  gv[first:first + block], threads)
                PyErr_CheckSignals()
        else:
            grouped_rows(ev, &s, &spaces[0], X, gv, per_group)
    finally:
        for t in range(threads):
            workspace_free(&spaces[t])
        PyMem_RawFree(spaces)
    return G


@cython.boundscheck(False)  # rows 0 <= r < m
@cython.wraparound(False)
cdef int parallel_rows(Evaluator ev, const Stencil* s, Workspace* spaces,
                       const double[:, ::1] X, double[:, ::1] G, int threads) except -1 nogil:
    cdef Py_ssize_t r, m = X.shape[0]  # read outside the OpenMP region (debug builds check it)
    cdef Workspace* w
    for r in prange(m, schedule="dynamic", chunksize=max(1, m // (16 * threads)),
                    num_threads=threads):
        w = &spaces[threadid()]
        stencil_place(s, &X[r, 0], w.coord, w.value)
        stencil_gradient(ev, s, &X[r, 0], w, &G[r, 0])
    return 0


@cython.boundscheck(False)  # rows first <= r < last <= m
@cython.wraparound(False)
cdef int grouped_rows(Evaluator ev, const Stencil* s, Workspace* w, const double[:, ::1] X,
                      double[:, ::1] G, Py_ssize_t per_group) except -1:
    """The stencils of per_group rows at a time, evaluated in one call."""
    cdef Py_ssize_t m = X.shape[0], n = X.shape[1], k = s.k
    cdef Py_ssize_t first, last, r, j, offset
    cdef Points p
    p.base = &X[0, 0]
    p.n = n
    p.row = w.row
    p.coord = w.coord
    p.value = w.value
    for first in range(0, m, per_group):
        last = min(first + per_group, m)
        for r in range(first, last):
            offset = (r - first) * k  # row r's points sit at this offset of the group
            stencil_place(s, &X[r, 0], w.coord + offset, w.value + offset)
            for j in range(k):
                w.row[offset + j] = r
        p.k = (last - first) * k
        ev.evaluate(&p, w.scratch, w.fval)
        for r in range(first, last):
            stencil_combine(s, &X[r, 0], w.fval + (r - first) * k, &G[r, 0])
    return 0
