# cython: language_level=3
"""gradient_batch: the gradients at the rows of X, with two paths.

Design
------
* gil-free evaluators (the compiled tier): rows in parallel with OpenMP, one
  workspace per thread.  The calling thread watches for Ctrl-C as it
  evaluates (see _evaluators), and once out of rows, as it waits for the
  others; when it is interrupted, the other threads stop within a few
  evaluations and it raises;
* every other evaluator: serially, in groups of rows whose stencils go to the
  evaluator in one call (the vectorized tier hands f many rows at once; the
  Python tier takes one row per group).
Either way every row's stencil is checked before f is evaluated anywhere.
With progress=True the rows run in chunks, as many rows as the progress
object asks for between its reports (whole groups, so nothing changes in
what f is handed), each chunk as above.

libgomp's threads do not survive fork(): a forked child (multiprocessing's
"fork" pool, say) computes batches serially.
"""
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_RawCalloc, PyMem_RawFree, PyMem_RawMalloc
from cython.parallel cimport parallel, prange, threadid
cimport numpy as cnp

import os

import numpy as np

cnp.import_array()

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
    # Chunks of rows per thread, for the balance of the work.
    CHUNKS_PER_THREAD = 16


cdef extern from *:
    """
    /* Waiting: a yield of the CPU for the first 1000 waits, then sleeps of 0.1 ms. */
    #if defined(_WIN32)
    #include <windows.h>
    static void fastgrad_pause(int waits) { if (waits < 1000) SwitchToThread(); else Sleep(0); }
    #else
    #include <sched.h>
    #include <time.h>
    static void fastgrad_pause(int waits) {
        struct timespec t = {0, 100000};
        if (waits < 1000) sched_yield(); else nanosleep(&t, NULL);
    }
    #endif
    #if defined(__GNUC__) || defined(__clang__)
    #define fastgrad_count(p) __atomic_add_fetch((p), 1, __ATOMIC_SEQ_CST)
    #define fastgrad_counted(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
    #define fastgrad_stopped(p) __atomic_load_n((p), __ATOMIC_RELAXED)
    #else
    #define fastgrad_count(p) InterlockedIncrement((volatile LONG *)(p))
    #define fastgrad_counted(p) (*(volatile int *)(p))
    #define fastgrad_stopped(p) (*(volatile int *)(p))
    #endif
    #ifdef _OPENMP
    #define fastgrad_team_size() omp_get_num_threads()
    #else
    #define fastgrad_team_size() 1
    #endif
    """
    void pause "fastgrad_pause" (int waits) noexcept nogil
    void count "fastgrad_count" (int* counter) noexcept nogil
    int counted "fastgrad_counted" (int* counter) noexcept nogil
    int stopped "fastgrad_stopped" (int* flag) noexcept nogil
    int team_size "fastgrad_team_size" () noexcept nogil


cdef struct Rows:
    # m points of n coordinates, row r at x + r * n, its gradient at g + r * n.
    # (Raw pointers, not memoryviews: Cython's memoryview support would double
    # this module's compiled size.)
    const double* x
    double* g
    Py_ssize_t m, n


cdef inline Rows rows_between(Rows rows, Py_ssize_t first, Py_ssize_t last) noexcept nogil:
    rows.x += first * rows.n
    rows.g += first * rows.n
    rows.m = last - first
    return rows


def gradient_batch(Evaluator ev, cnp.ndarray X, h, StencilRow row, int num_threads,
                   bounds=None, progress=None):
    """Gradients at the m rows of X, a C-contiguous (m, n) float64 array, m >= 1;
    or (row, coordinate) of the first stencil with no usable step (nothing
    evaluated then).  progress: an object whose update(rows_done) returns the rows
    to make before its next call."""
    if not (cnp.PyArray_TYPE(X) == cnp.NPY_DOUBLE and cnp.PyArray_NDIM(X) == 2
            and cnp.PyArray_IS_C_CONTIGUOUS(X) and cnp.PyArray_DIM(X, 0) >= 1):
        raise TypeError("X must be a C-contiguous (m, n) float64 array with m >= 1")
    cdef Py_ssize_t m = cnp.PyArray_DIM(X, 0), n = cnp.PyArray_DIM(X, 1), r, t, bad, probes = 0
    cdef Py_ssize_t done, last, chunk
    cdef Steps steps = Steps(h)
    cdef int threads = min(num_threads, m) if ev.gil_free and not forked_child else 1
    cdef Py_ssize_t per_group
    cdef Stencil s
    stencil_init(&s, row, n, steps, bounds)
    per_group = 1 if ev.gil_free else max(1, min(ev.points_per_call, GROUP_POINTS) // s.k)
    per_group = min(per_group, m)
    G = np.empty((m, n))
    cdef Rows rows
    rows.x = <const double*> cnp.PyArray_DATA(X)
    rows.g = <double*> cnp.PyArray_DATA(G)
    rows.m, rows.n = m, n
    # One workspace per thread, allocated here so that failure raises cleanly.
    cdef Workspace* spaces = <Workspace*> PyMem_RawCalloc(threads, sizeof(Workspace))
    if spaces == NULL:
        raise MemoryError()
    try:
        for t in range(threads):
            workspace_alloc(&spaces[t], per_group * s.k, n if ev.gil_free else 0,
                            not ev.gil_free)
        r = first_bad_row(&s, &rows, threads)
        if r >= 0:
            return (r, stencil_place(&s, rows.x + r * n, NULL, NULL))
        ev.shared = ev.gil_free and threads > 1
        ev.owner_scratch = spaces[0].scratch  # thread 0 is this one
        ev.ready(n)
        if steps.relative > 0.0:  # h="auto": the precision of f, once, at X[0]
            probe_precision(ev, &s, steps, rows.x, &probes)
            r = first_bad_row(&s, &rows, threads)
            if r >= 0:
                return (r, stencil_place(&s, rows.x + r * n, NULL, NULL))
        if progress is None:
            all_rows(ev, &s, spaces, rows, threads, per_group)
        else:
            done, chunk = 0, per_group * threads
            while done < m:
                last = min(done + chunk, m)
                all_rows(ev, &s, spaces, rows_between(rows, done, last), threads, per_group)
                done = last
                if done < m:
                    chunk = progress.update(done)
                    chunk = max(threads, (chunk + per_group - 1) // per_group * per_group)
    finally:
        for t in range(threads):
            workspace_free(&spaces[t])
        PyMem_RawFree(spaces)
    return G


cdef Py_ssize_t first_bad_row(const Stencil* s, const Rows* rows, int threads) except -2:
    """The first row of X with a stencil that has no usable step, or -1.  On
    several threads, the rows in blocks: each block's first bad row, the least
    of them.  (Checked serially, this pass was an eighth of a batch's time at
    n = 10, which held two threads to 1.6-1.7x one.)  Only the stencil's
    arithmetic runs here, nothing of f.  Called with the GIL, which it releases
    itself (see parallel_rows)."""
    cdef Py_ssize_t b, m = rows.m
    cdef Py_ssize_t blocks, size, first = -1
    cdef Py_ssize_t* found
    if threads == 1:
        return block_bad_row(s, rows, 0, m)
    blocks = min(m, CHUNKS_PER_THREAD * threads)
    size = (m + blocks - 1) // blocks
    found = <Py_ssize_t*> PyMem_RawMalloc(blocks * sizeof(Py_ssize_t))
    if found == NULL:
        raise MemoryError()
    with nogil, parallel(num_threads=threads):
        for b in prange(blocks, schedule="dynamic", chunksize=1):
            found[b] = block_bad_row(s, rows, b * size, min(m, (b + 1) * size))
    for b in range(blocks):
        if found[b] >= 0:
            first = found[b]
            break
    PyMem_RawFree(found)
    return first


cdef Py_ssize_t block_bad_row(const Stencil* s, const Rows* rows, Py_ssize_t first,
                              Py_ssize_t last) noexcept nogil:
    """The first of rows first <= r < last (<= m) whose stencil has no usable step, or -1."""
    cdef Py_ssize_t r
    for r in range(first, last):
        if stencil_place(s, rows.x + r * rows.n, NULL, NULL) >= 0:
            return r
    return -1


cdef int all_rows(Evaluator ev, const Stencil* s, Workspace* spaces, Rows rows, int threads,
                  Py_ssize_t per_group) except -1:
    """The gradients at the rows, by one of the three paths."""
    if ev.gil_free and threads == 1:
        with nogil:
            serial_rows(ev, s, &spaces[0], &rows)
    elif ev.gil_free:
        parallel_rows(ev, s, spaces, &rows, threads)
        if ev.stop:  # Ctrl-C (left set on this thread), or f failed
            ev.raise_stop()
        PyErr_CheckSignals()
    else:
        grouped_rows(ev, s, &spaces[0], &rows, per_group)
    return 0


cdef int serial_rows(Evaluator ev, const Stencil* s, Workspace* w,
                     const Rows* rows) except -1 nogil:
    cdef Py_ssize_t r, n = rows.n
    for r in range(rows.m):
        stencil_place(s, rows.x + r * n, w.coord, w.value)
        stencil_gradient(ev, s, rows.x + r * n, w, rows.g + r * n)
    return 0


cdef void row_gradient(Evaluator ev, const Stencil* s, const double* x, Workspace* w,
                       double* g) noexcept nogil:
    # A gil-free evaluator on several threads never fails here (it sets ev.stop
    # instead, see _evaluators), so the OpenMP region has no exception to carry:
    # Cython then gives its threads no Python thread state (PyGILState_Ensure at
    # the region's start and end), which after a subinterpreter has run in this
    # thread aborts the process (CPython's PyGILState knows one interpreter).
    stencil_place(s, x, w.coord, w.value)
    stencil_gradient(ev, s, x, w, g)


cdef int parallel_rows(Evaluator ev, const Stencil* s, Workspace* spaces, const Rows* rows,
                       int threads) except -1:
    """The rows on `threads` threads.  The calling thread (thread 0) watches for
    Ctrl-C as it evaluates and, once out of rows, while it waits for the others
    (the end of the region would wait without looking); on Ctrl-C it sets
    ev.stop, the other threads finish within a few evaluations, and it returns
    with its exception set.

    Called with the GIL, which it releases itself: in a function without the
    GIL, Cython would ask PyGILState whether it holds it, which after a
    subinterpreter has run in this thread answers wrong and aborts the process."""
    cdef Py_ssize_t r, m = rows.m, n = rows.n
    cdef Py_ssize_t chunk = max(1, m // (CHUNKS_PER_THREAD * threads))
    cdef int finished = 0, waits
    with nogil, parallel(num_threads=threads):
        for r in prange(m, schedule="dynamic", chunksize=chunk):
            if not stopped(&ev.stop):
                row_gradient(ev, s, rows.x + r * n, &spaces[threadid()], rows.g + r * n)
        count(&finished)
        if threadid() == 0:
            waits = 0
            while counted(&finished) < team_size():
                ev.wait()
                pause(waits)
                waits = waits + 1
    return 0


cdef int grouped_rows(Evaluator ev, const Stencil* s, Workspace* w, const Rows* rows,
                      Py_ssize_t per_group) except -1:
    """The stencils of per_group rows at a time, evaluated in one call."""
    cdef Py_ssize_t m = rows.m, n = rows.n, k = s.k
    cdef Py_ssize_t first, last, r, j, offset
    cdef Points p
    p.base = rows.x
    p.n = n
    p.row = w.row
    p.coord = w.coord
    p.value = w.value
    for first in range(0, m, per_group):
        last = min(first + per_group, m)
        for r in range(first, last):
            offset = (r - first) * k  # row r's points sit at this offset of the group
            stencil_place(s, rows.x + r * n, w.coord + offset, w.value + offset)
            for j in range(k):
                w.row[offset + j] = r
        p.k = (last - first) * k
        ev.evaluate(&p, w.scratch, w.fval)
        for r in range(first, last):
            stencil_combine(s, rows.x + r * n, w.fval + (r - first) * k, rows.g + r * n)
    return 0
