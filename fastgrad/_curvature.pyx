# cython: language_level=3
"""Second derivatives: the Hessian's loop over the rows of ``_stencils.SECOND_SIDES``.

Design
------
The rows of one order of ``_stencils.SECOND_SIDES`` (standard library, read
by both implementations) -- central, and the one-sided rows bounds turn a
coordinate to -- become a ``SecondRow`` here; one loop does the rest:

* the steps h_i, each coordinate's row (central without bounds; within them
  ``_stencils.plan``'s choice, made by the caller) and the realised steps r_i
  (central ((x_i + h_i) - (x_i - h_i)) * 0.5, forward (x_i + h_i) - x_i,
  backward x_i - (x_i - h_i)), checked before f is called (a bad coordinate
  is returned, never a message);
* f(x) through ``evaluate_at``;
* per block of Hessian rows (``_stencils.second_blocks``: one row, or as
  many as a vectorized f takes in one call), the points: for row i and each
  offset a of its row, a *base row* -- x with x_i moved by a h_i -- evaluated
  itself (the diagonal's point) and, for the first p offsets, with each x_j,
  j > i, moved by b h_j for the first p offsets b of j's row (the mixed
  points).  Points with two moved coordinates are thus the evaluators' plain
  (base row, coordinate, value) points: every tier runs them unchanged, and
  the base rows take O(p n) memory per Hessian row;
* the sums of the table's terms, in its order, divided by r_i r_j; the mixed
  entry is written to (i, j) and (j, i): exactly symmetric.  A one-sided
  row's terms with x_i unmoved come last in its first-derivative row: they
  are row j's diagonal points, added to H_ij once row j is evaluated (no
  point is evaluated twice).  h="adaptive" calls this once per step.

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
    MAX_OFFSETS = 9                 # one-sided order 8: 1 .. 9 (central: +-1 .. +-4)
    MAX_DIAGONAL = MAX_OFFSETS + 1  # and f(x)
    MAX_FIRST = 9                   # one-sided order 8: 1 .. 8 and the unmoved point
    MAX_MIXED = MAX_FIRST * MAX_FIRST
    CENTRAL = 0                     # sides: the row's index in SecondRow.side
    SIDES = 3


cdef struct Side:
    # One row of _stencils.SECOND_SIDES: central, forward or backward.
    bint central
    Py_ssize_t count                # its points (p central, p + 1 one-sided)
    double offset[MAX_OFFSETS]
    Py_ssize_t diagonal_terms
    double diagonal_weight[MAX_DIAGONAL]
    Py_ssize_t diagonal_slot[MAX_DIAGONAL]   # the offset's slot; -1: f(x)
    Py_ssize_t first_terms          # p central, p + 1 one-sided (the unmoved point last)


cdef class SecondRow:
    """The rows of one order of ``_stencils.SECOND_SIDES`` in C form (central,
    forward, backward) and the mixed weights of each pair of them
    (``_stencils.second_mixed``); made once per order by the API."""
    cdef readonly int order
    cdef Py_ssize_t p
    cdef Side side[SIDES]
    cdef double mixed[SIDES][SIDES][MAX_MIXED]

    def __cinit__(self, sides, mixed):
        cdef Py_ssize_t s, t, u
        cdef Side* S
        self.order = sides[0].order
        self.p = sides[0].order
        for s, row in enumerate(sides):
            if not 0 < len(row.offsets) <= MAX_OFFSETS or len(row.first_terms) > MAX_FIRST:
                raise ValueError(f"a second-derivative row has 1 to {MAX_OFFSETS} offsets")
            S = &self.side[s]
            S.central = row.method == "central"
            S.count = len(row.offsets)
            slot = {o: k for k, o in enumerate(row.offsets)}
            for t, o in enumerate(row.offsets):
                S.offset[t] = o
            S.diagonal_terms = len(row.diagonal)
            for t, (o, w) in enumerate(row.float_diagonal):
                S.diagonal_weight[t] = w
                S.diagonal_slot[t] = -1 if o == 0 else slot[o]
            S.first_terms = len(row.first_terms)
        for s in range(SIDES):
            for t in range(SIDES):
                for u, (_, _, w) in enumerate(mixed[s][t]):
                    self.mixed[s][t][u] = w

    def __repr__(self):
        return f"SecondRow(order={self.order})"


cdef struct Plan:
    # One Hessian's work, read by the loop without the GIL.
    Py_ssize_t n, p
    const double* x
    double* step        # h_i
    double* r           # realised steps
    Py_ssize_t* side    # the row of coordinate i (CENTRAL without bounds)
    double* bases       # (rows, n): the base rows of a block
    Py_ssize_t* row
    Py_ssize_t* coord
    double* value
    double* fval
    double* scratch     # n doubles for the evaluator (the compiled tier's working x)


cdef Py_ssize_t place_steps(SecondRow row, const double* x, Py_ssize_t n, const double* h,
                            Py_ssize_t h_stride, double c, const Py_ssize_t* sides,
                            double* step, double* r, Py_ssize_t* side) noexcept nogil:
    """h_i (c > 0: c * max(1, |x_i|)), the row of coordinate i (sides NULL:
    central; a negative side: no room within the bounds) and r_i
    (_stencils.realised_step); the first coordinate without a row, whose
    realised step is 0 or not finite, or with a point that is not finite, else -1."""
    cdef Py_ssize_t i, t, s
    cdef double hi, xi, ri
    cdef Side* S
    for i in range(n):
        xi = x[i]
        hi = c * fmax(1.0, fabs(xi)) if c > 0.0 else h[i * h_stride]
        s = CENTRAL if sides == NULL else sides[i]
        if s < 0:
            return i
        S = &row.side[s]
        if S.central:
            ri = ((xi + hi) - (xi - hi)) * 0.5
        elif S.offset[0] > 0.0:  # forward
            ri = (xi + hi) - xi
        else:
            ri = xi - (xi - hi)
        if ri == 0.0 or not isfinite(ri):
            return i
        for t in range(S.count):
            if not isfinite(xi + S.offset[t] * hi):
                return i
        step[i] = hi
        r[i] = ri
        side[i] = s
    return -1


cdef inline Py_ssize_t row_points(SecondRow sr, const Py_ssize_t* side, Py_ssize_t n,
                                  Py_ssize_t i) noexcept nogil:
    """_stencils.second_row_points."""
    return sr.side[side[i]].count + sr.p * sr.p * (n - 1 - i)


cdef inline Py_ssize_t block_end(SecondRow sr, const Py_ssize_t* side, Py_ssize_t n,
                                 Py_ssize_t i0, Py_ssize_t per_call) noexcept nogil:
    """_stencils.second_blocks: the end of the block that starts at row i0."""
    cdef Py_ssize_t total = row_points(sr, side, n, i0), i1 = i0 + 1
    while i1 < n and total + row_points(sr, side, n, i1) <= per_call:
        total += row_points(sr, side, n, i1)
        i1 += 1
    return i1


cdef int hessian_loop(Evaluator ev, SecondRow sr, Plan* w, double fx, Py_ssize_t per_call,
                      double* H) except -1 nogil:
    """H (n, n) at x from the steps and rows in w; f(x) = fx is known.  As
    fastgrad.reference._hessian_at: a one-sided row's mixed terms with x_i
    unmoved (the last of its first-derivative row) are row j's diagonal points,
    added to H_ij once row j is evaluated."""
    cdef Py_ssize_t n = w.n, p = w.p, i0 = 0, i1, i, j, a, b, t, k, start, stride, first
    cdef Py_ssize_t nrows, si, sj, q
    cdef double xa, total, value
    cdef double* base
    cdef const double* at
    cdef const double* weight
    cdef Side* S
    cdef Side* T
    cdef Points pts
    pts.base = w.bases
    pts.n = n
    pts.row = w.row
    pts.coord = w.coord
    pts.value = w.value
    while i0 < n:
        i1 = block_end(sr, w.side, n, i0, per_call)
        k = 0
        nrows = 0
        for i in range(i0, i1):
            S = &sr.side[w.side[i]]
            for a in range(S.count):
                base = w.bases + nrows * n
                memcpy(base, w.x, n * sizeof(double))
                xa = w.x[i] + S.offset[a] * w.step[i]
                base[i] = xa
                w.row[k] = nrows
                w.coord[k] = -1
                w.value[k] = xa
                k += 1
                if a < p:
                    for j in range(i + 1, n):
                        T = &sr.side[w.side[j]]
                        for b in range(p):
                            w.row[k] = nrows
                            w.coord[k] = j
                            w.value[k] = w.x[j] + T.offset[b] * w.step[j]
                            k += 1
                nrows += 1
        pts.k = k
        ev.evaluate(&pts, w.scratch, w.fval)
        start = 0
        for i in range(i0, i1):
            si = w.side[i]
            S = &sr.side[si]
            stride = 1 + p * (n - 1 - i)
            at = w.fval + start
            start += S.count + p * p * (n - 1 - i)
            # The first term starts each sum (0.0 + -0.0 would lose a sign).
            for t in range(S.diagonal_terms):
                value = fx if S.diagonal_slot[t] < 0 else at[S.diagonal_slot[t] * stride]
                if t == 0:
                    total = S.diagonal_weight[t] * value
                else:
                    total = total + S.diagonal_weight[t] * value
            H[i * n + i] = total / (w.r[i] * w.r[i])
            for j in range(i):  # one-sided rows j < i: their terms with x_j unmoved
                if sr.side[w.side[j]].central:
                    continue
                weight = sr.mixed[w.side[j]][si] + p * S.first_terms
                total = H[j * n + i]
                for b in range(S.first_terms):
                    value = fx if b == p else at[b * stride]
                    total = total + weight[b] * value
                total = total / (w.r[j] * w.r[i])
                H[j * n + i] = total
                H[i * n + j] = total
            for j in range(i + 1, n):
                sj = w.side[j]
                q = sr.side[sj].first_terms
                weight = sr.mixed[si][sj]
                first = 1 + (j - i - 1) * p
                for a in range(p):  # x_i moved; x_i unmoved (one-sided) waits for row j
                    for b in range(q):
                        value = at[a * stride] if b == p else at[a * stride + first + b]
                        if a == 0 and b == 0:
                            total = weight[0] * value
                        else:
                            total = total + weight[a * q + b] * value
                if S.central:
                    total = total / (w.r[i] * w.r[j])
                    H[i * n + j] = total
                    H[j * n + i] = total
                else:
                    H[i * n + j] = total
        i0 = i1
    return 0


cdef void plan_free(Plan* w) noexcept nogil:
    PyMem_RawFree(w.step)
    PyMem_RawFree(w.r)
    PyMem_RawFree(w.side)
    PyMem_RawFree(w.bases)
    PyMem_RawFree(w.row)
    PyMem_RawFree(w.coord)
    PyMem_RawFree(w.value)
    PyMem_RawFree(w.fval)
    PyMem_RawFree(w.scratch)
    w.step = w.r = w.bases = w.value = w.fval = w.scratch = NULL
    w.row = w.coord = w.side = NULL


def hessian(Evaluator ev, cnp.ndarray x, h, SecondRow row, cnp.ndarray fx_out=None,
            cnp.ndarray sides=None, tuple single=None):
    """The Hessian at x (a validated float64 vector) as a new (n, n) array, or
    the index of the first coordinate without a usable step (an int).

    h: a float, a float64 vector of n, or (c, c_single) for h="auto" (the
    constant for float32 values once f(x) shows them).  fx_out: a float64
    array of one, given f(x) (full_output's estimate needs it).  Within
    bounds: sides, an intp vector of n (coordinate i's row in row.side: 0
    central, 1 forward, 2 backward; -1 no room), with h the steps
    (_stencils.plan's); and for h="auto" single, (steps, sides) for float32
    values, used once f(x) shows them.
    """
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x), bad, i0, i1, i, most = 0, rows = 0
    cdef Py_ssize_t per_call = ev.points_per_call, points, total
    cdef const double* hp = NULL
    cdef const Py_ssize_t* sp = NULL
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
    if sides is not None:
        sp = <const Py_ssize_t*> cnp.PyArray_DATA(sides)
    w.n, w.p = n, row.p
    w.x = <const double*> cnp.PyArray_DATA(x)
    w.step = <double*> PyMem_RawMalloc(n * sizeof(double))
    w.r = <double*> PyMem_RawMalloc(n * sizeof(double))
    w.side = <Py_ssize_t*> PyMem_RawMalloc(n * sizeof(Py_ssize_t))
    w.bases = w.value = w.fval = w.scratch = NULL
    w.row = w.coord = NULL
    try:
        if w.step == NULL or w.r == NULL or w.side == NULL:
            raise MemoryError()
        bad = place_steps(row, w.x, n, hp, h_stride, c, sp, w.step, w.r, w.side)
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
        if ev.low_precision and (c > 0.0 or single is not None):  # f computes in float32
            if single is not None:  # within bounds: float32's steps and rows
                hp = <const double*> cnp.PyArray_DATA(single[0])
                sp = <const Py_ssize_t*> cnp.PyArray_DATA(single[1])
                c_single = 0.0
            bad = place_steps(row, w.x, n, hp, h_stride, c_single, sp, w.step, w.r, w.side)
            if bad >= 0:
                return bad
        # The largest block: its points and base rows (one per row and offset);
        # a one-sided row has one more point than a central one.
        i0 = 0
        while i0 < n:
            i1 = block_end(row, w.side, n, i0, per_call)
            points = 0
            total = 0
            for i in range(i0, i1):
                points += row_points(row, w.side, n, i)
                total += row.side[w.side[i]].count
            most = max(most, points)
            rows = max(rows, total)
            i0 = i1
        w.bases = <double*> PyMem_RawMalloc(rows * n * sizeof(double))
        w.row = <Py_ssize_t*> PyMem_RawMalloc(most * sizeof(Py_ssize_t))
        w.coord = <Py_ssize_t*> PyMem_RawMalloc(most * sizeof(Py_ssize_t))
        w.value = <double*> PyMem_RawMalloc(most * sizeof(double))
        w.fval = <double*> PyMem_RawMalloc(most * sizeof(double))
        w.scratch = <double*> PyMem_RawMalloc(n * sizeof(double))
        if w.bases == NULL or w.row == NULL or w.coord == NULL or w.value == NULL or \
                w.fval == NULL or w.scratch == NULL:
            raise MemoryError()
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
