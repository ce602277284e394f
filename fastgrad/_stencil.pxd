# The stencil as C reads it: one row of _stencils.STENCILS, placed around x.
#
# place / combine / gradient are inline here, so that the descent and batch
# loops compile them in (a call across modules per gradient costs as much as
# the arithmetic at small n); they are written once, in this file.
#
# Specialised at the call, not per coordinate: the loops take a `kind`, and
# each entry point (stencil_place, stencil_combine, stencil_stream, and
# stencil_direct: the compiled descent's objective called in place) calls them
# with a constant (`stencil_kind` tells which): the compiler builds each variant
# from the same source -- without the relative-step and bounds tests for fixed
# steps, and with the row's numbers as constants for the textbook central pair.
from libc.math cimport fabs, fmax, isfinite, nextafter

from ._evaluators cimport Evaluator, Points
from .objectives cimport Objective

cdef enum:
    MAX_TERMS = 9  # the longest row of the table (one-sided order 8: 8 points and f(x))

cdef enum:
    # What the loops know of a stencil at compile time (stencil_kind).
    KIND_GENERAL = 0  # relative steps (h="auto") or bounds: read per coordinate
    KIND_FIXED = 1    # fixed steps, no bounds: any row
    KIND_PAIR = 2     # ... and the row is Scheme.pair: its numbers are constants
    KIND_ANY = -1     # not known where the loop is compiled: an entry point asks stencil_kind


cdef struct Scheme:
    # One row of the table.  Terms in summation order: term t is weight[t]
    # times fval[base[t] + i * stride[t]] for coordinate i (f(x): stride 0).
    Py_ssize_t terms
    double weight[MAX_TERMS]
    Py_ssize_t base[MAX_TERMS]
    Py_ssize_t stride[MAX_TERMS]
    # The points of coordinate i, in evaluation order: x[i] + point_offset[p] * h[i].
    Py_ssize_t per_coordinate
    double point_offset[MAX_TERMS]
    bint center                # whether f(x) is evaluated (first of all points)
    double span_hi, span_lo    # g[i] = sum / (realised(span_hi) - realised(span_lo))
    bint outer_points          # some offset lies beyond the span: check those points too
    double max_offset, min_offset  # the farthest points (0 included): bounds checks
    # The central order-2 row: points x + h, x - h (no f(x)), weights 1, -1
    # (base 0, 1; stride 2), span (1, -1) -- what KIND_PAIR writes as constants.
    bint pair


cdef struct Stencil:
    # A scheme with its dimension and steps; read-only once made, shared by threads.
    Scheme scheme
    Py_ssize_t n
    Py_ssize_t k               # points per gradient: center + n * per_coordinate
    const double* h            # h[i * h_stride] (stride 0: one step for all)
    Py_ssize_t h_stride
    double relative            # > 0: h="auto", h_i = relative * max(1, |x_i|) instead
    # bounds: each coordinate takes the first of sides[0:nsides] that fits in
    # [lb[i], ub[i]], else the forward/backward side with a shrunk step.  Every
    # side then evaluates f(x) first (slot 0), so all have the same layout.
    bint bounded
    int nsides, forward, backward
    Scheme sides[3]
    const double* lb
    const double* ub


cdef struct Workspace:
    # What one thread writes while it takes gradients: the points and f at
    # them (room for `capacity` points), their base rows, and a working x;
    # all in one block of memory.
    void* block
    Py_ssize_t capacity
    Py_ssize_t* row
    Py_ssize_t* coord
    double* value
    double* fval
    double* scratch


cdef class StencilRow:
    # A row of the table converted once (the API keeps one per row), and for
    # bounds the sides a coordinate may take (nsides 0: none).
    cdef Scheme scheme
    cdef readonly str method
    cdef readonly int order
    cdef int nsides, forward, backward
    cdef Scheme sides[3]


cdef class Steps:
    # h as the loops read it: one step for every coordinate, one each, or
    # relative steps (h="auto": the constants for double and single precision).
    cdef double scalar
    cdef object array
    cdef const double* data
    cdef Py_ssize_t stride
    cdef double relative, relative_single


cdef int stencil_init(Stencil* s, StencilRow row, Py_ssize_t n, Steps h,
                      object bounds=*) except -1
cdef int probe_precision(Evaluator ev, Stencil* s, Steps h, const double* x,
                         Py_ssize_t* nfev) except -1
cdef int workspace_alloc(Workspace* w, Py_ssize_t points, Py_ssize_t scratch,
                        bint rows) except -1
cdef void workspace_free(Workspace* w) noexcept nogil
cdef object new_vector(Py_ssize_t n)


cdef inline int stencil_kind(const Stencil* s) noexcept nogil:
    # Which variant of the loops s takes (KIND_*).
    if s.relative > 0.0 or s.bounded:
        return KIND_GENERAL
    return KIND_PAIR if s.scheme.pair else KIND_FIXED


cdef inline double step_at(const Stencil* s, const double* x, Py_ssize_t i,
                           int kind) noexcept nogil:
    # h_i: fixed, or relative to x_i (h="auto"; KIND_GENERAL only).
    if kind == KIND_GENERAL and s.relative > 0.0:
        return s.relative * fmax(1.0, fabs(x[i]))
    return s.h[i * s.h_stride]


cdef inline double realised_span(const Scheme* sc, double xi, double hi, int kind) noexcept nogil:
    # (x + hi h) - (x + lo h): with an offset of 0, x + 0 h is x (or +0.0 for
    # x = -0.0, which changes no span that is not 0 anyway).
    if kind == KIND_PAIR:
        return (xi + 1.0 * hi) - (xi + -1.0 * hi)
    return (xi + sc.span_hi * hi) - (xi + sc.span_lo * hi)


cdef inline double offset_of(const Scheme* sc, Py_ssize_t p, int kind) noexcept nogil:
    # Point p's offset, in multiples of h.
    if kind == KIND_PAIR:
        return 1.0 if p == 0 else -1.0
    return sc.point_offset[p]


cdef inline double term(const Scheme* sc, const double* fval, Py_ssize_t slot, Py_ssize_t t,
                        int kind) noexcept nogil:
    # Term t of the sum for the slot-th coordinate (see Scheme).
    if kind == KIND_PAIR:
        return (1.0 if t == 0 else -1.0) * fval[t + slot * 2]
    return sc.weight[t] * fval[sc.base[t] + slot * sc.stride[t]]


cdef inline const Scheme* bounded_side(const Stencil* s, double xi, Py_ssize_t i,
                                      double* h) noexcept nogil:
    """The side coordinate i takes within its bounds, h[0] shrunk if need be;
    NULL: no room.  _stencils.bounded_choice, the same operations."""
    cdef int k
    cdef const Scheme* sc
    cdef double lbi = s.lb[i], ubi = s.ub[i], step, reach
    for k in range(s.nsides):
        sc = &s.sides[k]
        if xi + sc.max_offset * h[0] <= ubi and xi + sc.min_offset * h[0] >= lbi:
            return sc
    if ubi - xi >= xi - lbi:
        sc = &s.sides[s.forward]
        reach = sc.max_offset
        step = (ubi - xi) / reach
        while step > 0.0 and xi + reach * step > ubi:
            step = nextafter(step, 0.0)
    else:
        sc = &s.sides[s.backward]
        reach = sc.min_offset  # negative
        step = (xi - lbi) / -reach
        while step > 0.0 and xi + reach * step < lbi:
            step = nextafter(step, 0.0)
    if not step > 0.0:
        return NULL
    h[0] = step
    return sc


cdef inline Py_ssize_t place_coordinate(const Stencil* s, const double* x, Py_ssize_t i,
                                        Py_ssize_t* coord, double* value,
                                        bint write, int kind) noexcept nogil:
    """Coordinate i's points, in evaluation order, to coord/value (write: else
    only checked).  Returns their number, or -1: the realised span is 0 or not
    finite (or, for rows reaching beyond their span, a point is not finite)."""
    cdef const Scheme* sc = &s.scheme
    cdef Py_ssize_t p, m
    cdef double h, span, xi = x[i]
    h = step_at(s, x, i, kind)
    if kind == KIND_GENERAL and s.bounded:
        sc = bounded_side(s, xi, i, &h)
        if sc == NULL:
            return -1
    span = realised_span(sc, xi, h, kind)
    if span == 0.0 or not isfinite(span):
        return -1
    m = 2 if kind == KIND_PAIR else sc.per_coordinate
    if kind != KIND_PAIR and sc.outer_points:
        for p in range(m):
            if not isfinite(xi + offset_of(sc, p, kind) * h):
                return -1
    if write:
        for p in range(m):
            coord[p] = i
            value[p] = xi + offset_of(sc, p, kind) * h  # offset +-1: exactly x + h, x - h
    return m


cdef inline Py_ssize_t stencil_place(const Stencil* s, const double* x, Py_ssize_t* coord,
                                     double* value) noexcept nogil:
    """Write the points around x, in evaluation order, to coord/value (NULL:
    only check them).

    Returns -1, or the first coordinate whose realised span is 0 or not finite
    (or, for rows reaching beyond their span, a point that is not finite).
    """
    cdef int kind = stencil_kind(s)
    if kind == KIND_PAIR:
        return place_points(s, x, coord, value, KIND_PAIR)
    if kind == KIND_FIXED:
        return place_points(s, x, coord, value, KIND_FIXED)
    return place_points(s, x, coord, value, KIND_GENERAL)


cdef inline Py_ssize_t place_points(const Stencil* s, const double* x, Py_ssize_t* coord,
                                    double* value, int kind) noexcept nogil:
    cdef Py_ssize_t i, m, j = 0
    cdef bint write = coord != NULL
    if write and (s.scheme.center or s.bounded):
        coord[0] = -1
        value[0] = 0.0
        j = 1
    for i in range(s.n):
        m = place_coordinate(s, x, i, coord + j if write else NULL,
                             value + j if write else NULL, write, kind)
        if m < 0:
            return i
        j += m if write else 0
    return -1


cdef inline double combine_coordinate(const Stencil* s, const double* x, const double* fval,
                                      Py_ssize_t i, Py_ssize_t slot, int kind) noexcept nogil:
    """g[i] = (sum_t w_t f_t) / realised span, summed in the row's order; f's
    values of coordinate i's points are those of the slot-th coordinate in fval
    (slot i: every point's value is there; 0: only coordinate i's, streaming)."""
    cdef const Scheme* sc = &s.scheme
    cdef double h
    h = step_at(s, x, i, kind)
    if kind == KIND_GENERAL and s.bounded:
        sc = bounded_side(s, x[i], i, &h)  # as placed: never NULL here
    return combine_at(sc, x[i], h, fval, slot, kind)


cdef inline double combine_at(const Scheme* sc, double xi, double h, const double* fval,
                              Py_ssize_t slot, int kind) noexcept nogil:
    """combine_coordinate, for a caller that knows coordinate i's side and step."""
    cdef Py_ssize_t t
    cdef double total
    # The first term starts the sum (0.0 + -0.0 would lose a sign).
    total = term(sc, fval, slot, 0, kind)
    for t in range(1, 2 if kind == KIND_PAIR else sc.terms):
        total = total + term(sc, fval, slot, t, kind)
    return total / realised_span(sc, xi, h, kind)


cdef inline void stencil_combine(const Stencil* s, const double* x, const double* fval,
                                 double* g) noexcept nogil:
    """g[i] = (sum_t w_t f_t) / realised span for every i, summed in the row's order."""
    cdef int kind = stencil_kind(s)
    if kind == KIND_PAIR:
        combine_points(s, x, fval, g, KIND_PAIR)
    elif kind == KIND_FIXED:
        combine_points(s, x, fval, g, KIND_FIXED)
    else:
        combine_points(s, x, fval, g, KIND_GENERAL)


cdef inline void combine_points(const Stencil* s, const double* x, const double* fval,
                                double* g, int kind) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(s.n):
        g[i] = combine_coordinate(s, x, fval, i, i, kind)


cdef inline int stencil_gradient(Evaluator ev, const Stencil* s, const double* x, Workspace* w,
                                 double* g) except -1 nogil:
    """g = the gradient at x, from the points stencil_place() wrote to w."""
    return gradient_with(ev, s, x, w, w.scratch, g)


cdef inline int gradient_with(Evaluator ev, const Stencil* s, const double* x, Workspace* w,
                              double* scratch, double* g) except -1 nogil:
    """stencil_gradient, with the evaluator's working x in scratch: w.scratch,
    or x itself for a gil-free evaluator when the caller owns x (it moves one
    coordinate at a time and restores its bits; no copy of x per gradient)."""
    cdef Points p
    p.base = x
    p.n = s.n
    p.row = NULL
    p.coord = w.coord
    p.value = w.value
    p.k = s.k
    ev.evaluate(&p, scratch, w.fval)
    stencil_combine(s, x, w.fval, g)
    return 0


cdef inline int stencil_stream(Evaluator ev, const Stencil* s, double* x, Workspace* w,
                               double* g) except -1 nogil:
    """g = the gradient at x one coordinate at a time, in the same order of
    evaluation and summation as stencil_gradient: f(x) first if the stencil
    uses it, then coordinate i's points evaluated and combined, and on to i + 1.
    x is the working copy itself (a gil-free evaluator moves one coordinate of
    it and restores its bits), so memory is O(1) beyond x and g: w holds the
    points of one coordinate (and f(x)).  The stencil must be checked first."""
    cdef int kind = stencil_kind(s)
    if kind == KIND_PAIR:
        return stream_points(ev, s, x, w, g, KIND_PAIR)
    if kind == KIND_FIXED:
        return stream_points(ev, s, x, w, g, KIND_FIXED)
    return stream_points(ev, s, x, w, g, KIND_GENERAL)


cdef inline int stream_points(Evaluator ev, const Stencil* s, double* x, Workspace* w,
                              double* g, int kind) except -1 nogil:
    cdef Points p
    cdef Py_ssize_t i, first = 0
    p.base = x
    p.n = s.n
    p.row = NULL
    if s.scheme.center or s.bounded:
        w.coord[0] = -1
        w.value[0] = 0.0
        p.coord = w.coord
        p.value = w.value
        p.k = 1
        ev.evaluate(&p, x, w.fval)
        first = 1
    p.coord = w.coord + first
    p.value = w.value + first
    for i in range(s.n):
        p.k = place_coordinate(s, x, i, w.coord + first, w.value + first, True, kind)
        ev.evaluate(&p, x, w.fval + first)
        g[i] = combine_coordinate(s, x, w.fval, i, 0, kind)
    return 0


cdef inline bint direct_ready(Evaluator ev, Py_ssize_t k) noexcept nogil:
    """Whether a loop may evaluate the next k points itself (stencil_direct):
    ev has a direct objective, runs on one thread, and no look at the clock
    is due within them -- then the k points are taken from the countdown, as
    evaluate() takes them (else evaluate() must run: it looks)."""
    if ev.direct == NULL or ev.shared:
        return False
    return take_points(ev.countdown, k)


cdef inline bint take_points(Py_ssize_t* countdown, Py_ssize_t k) noexcept nogil:
    """direct_ready for a loop that knows ev has a direct objective on one
    thread: k points taken from the countdown, unless a look is due within them."""
    if countdown[0] <= k:
        return False
    countdown[0] -= k
    return True


cdef inline int stencil_direct(Evaluator ev, const Stencil* s, double* x, double* fval,
                               double* g, double* squares, int kind) except -1 nogil:
    """stencil_gradient with ev's objective called here: the same points, in
    the same order, the same values and sums -- x_i moved in place to each of
    coordinate i's points and its bits restored, then g[i] combined as
    stencil_stream combines it (fval: room for f(x) and one coordinate's
    points).  squares: sum of g[i]**2 in order of i.  The stencil at x must
    be checked, and direct_ready(ev, s.k) true.  kind: s's, if the caller
    was compiled for one (a constant: only that variant is compiled in),
    else KIND_ANY."""
    cdef int known
    if kind == KIND_ANY:
        known = stencil_kind(s)
        if known == KIND_PAIR:
            return direct_gradient(ev, s, x, fval, g, squares, KIND_PAIR)
        if known == KIND_FIXED:
            return direct_gradient(ev, s, x, fval, g, squares, KIND_FIXED)
        return direct_gradient(ev, s, x, fval, g, squares, KIND_GENERAL)
    return direct_gradient(ev, s, x, fval, g, squares, kind)


cdef inline int direct_gradient(Evaluator ev, const Stencil* s, double* x, double* fval,
                                double* g, double* squares, int kind) except -1 nogil:
    # stencil_direct for one kind: a function of its own, so that a loop compiled
    # for one kind inlines only this one (GCC inlines none of stencil_direct once
    # its three variants are in it).
    squares[0] = direct_points(<Objective> ev.direct, s, x, fval, g, kind)
    if ev.direct_failed[0]:
        return ev.fail()
    return 0


cdef inline double direct_points(Objective f, const Stencil* s, double* x, double* fval,
                                 double* g, int kind) noexcept nogil:
    cdef const Scheme* sc
    cdef Py_ssize_t i, p, m, first = 0, n = s.n
    cdef double xi, h, gi, squares = 0.0
    if kind != KIND_PAIR and (s.scheme.center or s.bounded):  # (the pair has no f(x))
        fval[0] = f.value(x, n)
        first = 1
    for i in range(n):
        sc = &s.scheme
        xi = x[i]
        h = step_at(s, x, i, kind)
        if kind == KIND_GENERAL and s.bounded:
            sc = bounded_side(s, xi, i, &h)  # as placed: never NULL here
        m = 2 if kind == KIND_PAIR else sc.per_coordinate
        for p in range(m):
            x[i] = xi + offset_of(sc, p, kind) * h  # place_coordinate's value
            fval[first + p] = f.value(x, n)
        x[i] = xi
        gi = combine_at(sc, xi, h, fval, 0, kind)
        g[i] = gi
        squares += gi * gi
    return squares
