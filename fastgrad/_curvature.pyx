# cython: language_level=3
"""Second derivatives: the Hessian's loop over a row of ``_stencils.SECOND``.

Design
------
A row of ``_stencils.SECOND`` (standard library, read by both
implementations) becomes a ``SecondRow`` here; one loop does the rest:

* the steps h_i and realised steps r_i = ((x_i + h_i) - (x_i - h_i)) * 0.5,
  checked before f is called (a bad coordinate is returned, never a message);
* f(x) through ``evaluate_at``;
* per block of Hessian rows (``_stencils.hessian_blocks``: one row, or as
  many as a vectorized f takes in one call), the points: for row i and each
  offset a, a *base row* -- x with x_i moved by a h_i -- evaluated itself
  (the diagonal's point) and with each x_j, j > i, moved by b h_j (the mixed
  points).  Points with two moved coordinates are thus the evaluators' plain
  (base row, coordinate, value) points: every tier runs them unchanged, and
  the base rows take O(p n) memory per Hessian row;
* the sums of the table's terms, in its order, divided by r_i r_j; the mixed
  entry is written to (i, j) and (j, i): exactly symmetric.

The same operations as ``fastgrad.reference.hessian``, so the bits agree.
For a gil-free evaluator (a compiled objective) the loop runs without the GIL.
"""
from cpython.mem cimport PyMem_RawFree, PyMem_RawMalloc
from libc.math cimport fabs, fmax, isfinite
from libc.string cimport memcpy

cimport numpy as cnp

from ._evaluators cimport Evaluator, Points

cnp.import_array()

cdef enum:
    MAX_OFFSETS = 8                 # central order 8: +-1 .. +-4
    MAX_DIAGONAL = MAX_OFFSETS + 1  # and f(x)
    MAX_MIXED = MAX_OFFSETS * MAX_OFFSETS


cdef class SecondRow:
    """A row of ``_stencils.SECOND`` in C form; made once per order by the API."""
    cdef readonly int order
    cdef Py_ssize_t p
    cdef double offset[MAX_OFFSETS]
    cdef Py_ssize_t diagonal_terms
    cdef double diagonal_weight[MAX_DIAGONAL]
    cdef Py_ssize_t diagonal_slot[MAX_DIAGONAL]   # the offset's slot; -1: f(x)
    cdef double mixed_weight[MAX_MIXED]
    cdef Py_ssize_t mixed_a[MAX_MIXED]
    cdef Py_ssize_t mixed_b[MAX_MIXED]

    def __cinit__(self, row):
        cdef Py_ssize_t t
        if not 0 < len(row.offsets) <= MAX_OFFSETS:
            raise ValueError(f"a second-derivative row has 1 to {MAX_OFFSETS} offsets")
        self.order = row.order
        self.p = len(row.offsets)
        slot = {o: k for k, o in enumerate(row.offsets)}
        for t, o in enumerate(row.offsets):
            self.offset[t] = o
        self.diagonal_terms = len(row.diagonal)
        for t, (o, w) in enumerate(row.float_diagonal):
            self.diagonal_weight[t] = w
            self.diagonal_slot[t] = -1 if o == 0 else slot[o]
        for t, (a, b, w) in enumerate(row.float_mixed):
            self.mixed_weight[t] = w
            self.mixed_a[t] = slot[a]
            self.mixed_b[t] = slot[b]

    def __repr__(self):
        return f"SecondRow(order={self.order})"


cdef struct Plan:
    # One Hessian's work, read by the loop without the GIL.
    Py_ssize_t n, p
    const double* x
    double* step        # h_i
    double* r           # realised steps
    double* bases       # (rows, n): the base rows of a block
    Py_ssize_t* row
    Py_ssize_t* coord
    double* value
    double* fval
    double* scratch     # n doubles for the evaluator (the compiled tier's working x)


cdef Py_ssize_t place_steps(SecondRow row, const double* x, Py_ssize_t n, const double* h,
                            Py_ssize_t h_stride, double c, double* step,
                            double* r) noexcept nogil:
    """h_i (c > 0: c * max(1, |x_i|)) and r_i; the first coordinate whose
    realised step is 0 or not finite (or a point of it not finite), else -1."""
    cdef Py_ssize_t i, t
    cdef double hi, xi, ri
    for i in range(n):
        xi = x[i]
        hi = c * fmax(1.0, fabs(xi)) if c > 0.0 else h[i * h_stride]
        ri = ((xi + hi) - (xi - hi)) * 0.5
        if ri == 0.0 or not isfinite(ri):
            return i
        for t in range(row.p):
            if not isfinite(xi + row.offset[t] * hi):
                return i
        step[i] = hi
        r[i] = ri
    return -1


cdef inline Py_ssize_t row_points(Py_ssize_t n, Py_ssize_t p, Py_ssize_t i) noexcept nogil:
    """_stencils.SecondStencil.points_of_row."""
    return p * (1 + p * (n - 1 - i))


cdef inline Py_ssize_t block_end(Py_ssize_t n, Py_ssize_t p, Py_ssize_t i0,
                                 Py_ssize_t per_call) noexcept nogil:
    """_stencils.hessian_blocks: the end of the block that starts at row i0."""
    cdef Py_ssize_t total = row_points(n, p, i0), i1 = i0 + 1
    while i1 < n and total + row_points(n, p, i1) <= per_call:
        total += row_points(n, p, i1)
        i1 += 1
    return i1


cdef int hessian_loop(Evaluator ev, SecondRow sr, Plan* w, double fx, Py_ssize_t per_call,
                      double* H) except -1 nogil:
    """H (n, n) at x from the steps in w; f(x) = fx is known."""
    cdef Py_ssize_t n = w.n, p = w.p, i0 = 0, i1, i, j, a, b, t, k, start, stride, first
    cdef Py_ssize_t nrows
    cdef double xa, total, value
    cdef double* base
    cdef const double* at
    cdef Points pts
    pts.base = w.bases
    pts.n = n
    pts.row = w.row
    pts.coord = w.coord
    pts.value = w.value
    while i0 < n:
        i1 = block_end(n, p, i0, per_call)
        k = 0
        nrows = 0
        for i in range(i0, i1):
            for a in range(p):
                base = w.bases + nrows * n
                memcpy(base, w.x, n * sizeof(double))
                xa = w.x[i] + sr.offset[a] * w.step[i]
                base[i] = xa
                w.row[k] = nrows
                w.coord[k] = -1
                w.value[k] = xa
                k += 1
                for j in range(i + 1, n):
                    for b in range(p):
                        w.row[k] = nrows
                        w.coord[k] = j
                        w.value[k] = w.x[j] + sr.offset[b] * w.step[j]
                        k += 1
                nrows += 1
        pts.k = k
        ev.evaluate(&pts, w.scratch, w.fval)
        start = 0
        for i in range(i0, i1):
            stride = 1 + p * (n - 1 - i)
            at = w.fval + start
            start += p * stride
            # The first term starts each sum (0.0 + -0.0 would lose a sign).
            for t in range(sr.diagonal_terms):
                value = fx if sr.diagonal_slot[t] < 0 else at[sr.diagonal_slot[t] * stride]
                if t == 0:
                    total = sr.diagonal_weight[t] * value
                else:
                    total = total + sr.diagonal_weight[t] * value
            H[i * n + i] = total / (w.r[i] * w.r[i])
            for j in range(i + 1, n):
                first = 1 + (j - i - 1) * p
                total = sr.mixed_weight[0] * at[sr.mixed_a[0] * stride + first + sr.mixed_b[0]]
                for t in range(1, p * p):
                    total = total + sr.mixed_weight[t] * \
                        at[sr.mixed_a[t] * stride + first + sr.mixed_b[t]]
                total = total / (w.r[i] * w.r[j])
                H[i * n + j] = total
                H[j * n + i] = total
        i0 = i1
    return 0


cdef void plan_free(Plan* w) noexcept nogil:
    PyMem_RawFree(w.step)
    PyMem_RawFree(w.r)
    PyMem_RawFree(w.bases)
    PyMem_RawFree(w.row)
    PyMem_RawFree(w.coord)
    PyMem_RawFree(w.value)
    PyMem_RawFree(w.fval)
    PyMem_RawFree(w.scratch)
    w.step = w.r = w.bases = w.value = w.fval = w.scratch = NULL
    w.row = w.coord = NULL


def hessian(Evaluator ev, cnp.ndarray x, h, SecondRow row, cnp.ndarray fx_out=None):
    """The Hessian at x (a validated float64 vector) as a new (n, n) array, or
    the index of the first coordinate without a usable step (an int).

    h: a float, a float64 vector of n, or (c, c_single) for h="auto" (the
    constant for float32 values once f(x) shows them).  fx_out: a float64
    array of one, given f(x) (full_output's estimate needs it).
    """
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x), p = row.p, bad, i0, i1, i, most = 0, rows = 0
    cdef Py_ssize_t per_call = ev.points_per_call, points
    cdef const double* hp = NULL
    cdef Py_ssize_t h_stride = 0
    cdef double scalar = 0.0, c = 0.0, c_single = 0.0, fx
    cdef cnp.npy_intp shape[2]
    cdef double* Hp
    cdef Plan w
    if isinstance(h, tuple):
        c, c_single = h
    elif isinstance(h, float):
        scalar = h
        hp = &scalar
    else:
        hp = <const double*> cnp.PyArray_DATA(h)
        h_stride = 1
    # The largest block: its points and base rows (one per row and offset).
    i0 = 0
    while i0 < n:
        i1 = block_end(n, p, i0, per_call)
        points = 0
        for i in range(i0, i1):
            points += row_points(n, p, i)
        most = max(most, points)
        rows = max(rows, p * (i1 - i0))
        i0 = i1
    w.n, w.p = n, p
    w.x = <const double*> cnp.PyArray_DATA(x)
    w.step = <double*> PyMem_RawMalloc(n * sizeof(double))
    w.r = <double*> PyMem_RawMalloc(n * sizeof(double))
    w.bases = <double*> PyMem_RawMalloc(rows * n * sizeof(double))
    w.row = <Py_ssize_t*> PyMem_RawMalloc(most * sizeof(Py_ssize_t))
    w.coord = <Py_ssize_t*> PyMem_RawMalloc(most * sizeof(Py_ssize_t))
    w.value = <double*> PyMem_RawMalloc(most * sizeof(double))
    w.fval = <double*> PyMem_RawMalloc(most * sizeof(double))
    w.scratch = <double*> PyMem_RawMalloc(n * sizeof(double))
    try:
        if w.step == NULL or w.r == NULL or w.bases == NULL or w.row == NULL or \
                w.coord == NULL or w.value == NULL or w.fval == NULL or w.scratch == NULL:
            raise MemoryError()
        bad = place_steps(row, w.x, n, hp, h_stride, c, w.step, w.r)
        if bad >= 0:
            return bad
        ev.ready(n)
        if ev.gil_free:
            with nogil:
                ev.evaluate_at(w.x, n, &fx)
        else:
            ev.evaluate_at(w.x, n, &fx)
        if fx_out is not None:
            (<double*> cnp.PyArray_DATA(fx_out))[0] = fx
        if c > 0.0 and ev.low_precision:  # f computes in float32: its constant
            bad = place_steps(row, w.x, n, hp, h_stride, c_single, w.step, w.r)
            if bad >= 0:
                return bad
        shape[0] = shape[1] = n
        H = cnp.PyArray_EMPTY(2, shape, cnp.NPY_FLOAT64, 0)
        Hp = <double*> cnp.PyArray_DATA(H)
        if ev.gil_free:
            with nogil:
                hessian_loop(ev, row, &w, fx, per_call, Hp)
        else:
            hessian_loop(ev, row, &w, fx, per_call, Hp)
    finally:
        plan_free(&w)
    return H



def value_at(Evaluator ev, cnp.ndarray x):
    """f at x (a validated float64 vector): hessian_vector's look at f's precision."""
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x)
    cdef const double* xp = <const double*> cnp.PyArray_DATA(x)
    cdef double value
    ev.ready(n)
    if ev.gil_free:
        with nogil:
            ev.evaluate_at(xp, n, &value)
    else:
        ev.evaluate_at(xp, n, &value)
    return value
