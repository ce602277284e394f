# cython: language_level=3
"""The stencil: place the points of a table row around x, combine f's values.

Design
------
``_stencils.STENCILS`` (standard library, read by both implementations) says
where f is evaluated and with which weights the values combine.  Here a row
becomes a C ``Scheme``, and three loops over its terms do all the work:

* ``stencil_place``: the points around x, in evaluation order, or the first
  coordinate whose realised span is 0 or not finite (nothing is evaluated);
* an evaluator (``_evaluators``) writes f at the points;
* ``stencil_combine``: g[i] = (sum_t w_t f_t) / realised span, summed in the
  row's order -- exactly the reference's operations, so the bits agree.

No message is built here: a bad coordinate is returned, and the API raises.
The three loops are inline functions in ``_stencil.pxd``, compiled into
every module that runs them.
"""
from cpython.mem cimport PyMem_RawFree, PyMem_RawMalloc
from cpython.object cimport PyCallable_Check, Py_TPFLAGS_HEAPTYPE, Py_TYPE
from libc.math cimport INFINITY
from libc.string cimport memcpy, strcmp, strrchr

cimport numpy as cnp

from ._evaluators cimport Evaluator
from .objectives cimport Objective

from ._evaluators import CompiledEvaluator, PythonEvaluator

cnp.import_array()


cdef int scheme_from_row(Scheme* sc, row, bint forced_center) except -1:
    """A table row in C form; forced_center: f(x) takes slot 0 even if no term
    uses it (the bounded layout, shared by every side)."""
    cdef Py_ssize_t t, slot = 0
    offsets, weights = row.offsets, row.float_weights
    if not 0 < len(offsets) <= MAX_TERMS:
        raise ValueError(f"a stencil row has 1 to {MAX_TERMS} terms, got {len(offsets)}")
    sc.terms = len(offsets)
    sc.center = 0 in offsets or forced_center
    first = 1 if sc.center else 0  # f(x) is the first value of all
    per_coordinate = len([o for o in offsets if o != 0])
    for t in range(sc.terms):
        sc.weight[t] = weights[t]
        if offsets[t] == 0:
            sc.base[t] = 0
            sc.stride[t] = 0
        else:
            sc.base[t] = first + slot
            sc.stride[t] = per_coordinate
            sc.point_offset[slot] = offsets[t]
            slot += 1
    sc.per_coordinate = slot
    sc.span_hi, sc.span_lo = row.span
    reach = max(abs(row.span[0]), abs(row.span[1]))
    sc.outer_points = any(abs(o) > reach for o in offsets)
    sc.max_offset, sc.min_offset = max(max(offsets), 0), min(min(offsets), 0)
    return 0


cdef class StencilRow:
    """A row of ``_stencils.STENCILS`` in C form; made once per row by the API.

    ``sides``: for bounds, the rows a coordinate may take (``_stencils.sides``).
    """

    def __cinit__(self, row, sides=None):
        cdef int k
        self.method, self.order = row.method, row.order
        scheme_from_row(&self.scheme, row, False)
        self.nsides = 0
        if sides is not None:
            if not 0 < len(sides) <= 3:
                raise ValueError(f"1 to 3 sides, got {len(sides)}")
            for k, side in enumerate(sides):
                scheme_from_row(&self.sides[k], side, True)
                if side.method == "forward":
                    self.forward = k
                elif side.method == "backward":
                    self.backward = k
            self.nsides = len(sides)

    def __repr__(self):
        return f"StencilRow({self.method!r}, order={self.order})"


cdef class Steps:
    """h: a float, a float64 vector of n, or (c, c_single) for h="auto"."""

    def __cinit__(self, h):
        self.relative = 0.0
        if isinstance(h, float):
            self.scalar = h
            self.data = &self.scalar
            self.stride = 0
        elif isinstance(h, tuple):
            self.relative, self.relative_single = h
            self.data = &self.scalar
            self.stride = 0
        else:
            self.array = h
            self.data = <const double*> cnp.PyArray_DATA(h)
            self.stride = 1


cdef int stencil_init(Stencil* s, StencilRow row, Py_ssize_t n, Steps h,
                      object bounds=None) except -1:
    """s for row, n and h; bounds: None, or (lb, ub) as float64 vectors of n
    that the caller keeps alive (then row must carry its sides)."""
    s.scheme = row.scheme
    s.n = n
    s.h = h.data
    s.h_stride = h.stride
    s.relative = h.relative
    s.bounded = bounds is not None
    if s.bounded:
        if row.nsides == 0:
            raise ValueError("internal: a bounded stencil needs a row with sides")
        s.nsides, s.forward, s.backward = row.nsides, row.forward, row.backward
        s.sides = row.sides
        s.lb = <const double*> cnp.PyArray_DATA(bounds[0])
        s.ub = <const double*> cnp.PyArray_DATA(bounds[1])
    s.k = (1 if s.scheme.center or s.bounded else 0) + n * s.scheme.per_coordinate
    return 0


cdef int probe_precision(Evaluator ev, Stencil* s, Steps h, const double* x,
                         Py_ssize_t* nfev) except -1:
    """h="auto": f at x once, to learn the precision f computes in; float32 (or
    lower) values switch the steps to single precision's constant; the caller
    places the stencil again (the double-precision one was checked before f
    was called).  No-op for fixed h."""
    cdef double unused
    if h.relative <= 0.0:
        return 0
    ev.evaluate_at(x, s.n, &unused)
    nfev[0] += 1
    if ev.low_precision:
        s.relative = h.relative_single
    return 0


cdef int workspace_alloc(Workspace* w, Py_ssize_t points, Py_ssize_t scratch,
                        bint rows) except -1:
    """Room for `points` points (and their base rows if `rows`), and `scratch`
    doubles for the evaluator (a working x of n on the compiled tier; 0 else),
    in one block."""
    cdef char* block
    cdef size_t index = sizeof(Py_ssize_t), real = sizeof(double)
    w.capacity = points
    block = <char*> PyMem_RawMalloc(max(1, points * (2 * index + 2 * real)
                                        + (points * index if rows else 0) + scratch * real))
    w.block = block
    if block == NULL:
        w.row = w.coord = NULL
        w.value = w.fval = w.scratch = NULL
        raise MemoryError()
    w.coord = <Py_ssize_t*> block
    w.value = <double*> (block + points * index)
    w.fval = w.value + points
    w.scratch = w.fval + points if scratch else NULL
    w.row = <Py_ssize_t*> (w.fval + points + scratch) if rows else NULL
    return 0


cdef void workspace_free(Workspace* w) noexcept nogil:
    PyMem_RawFree(w.block)
    w.block = NULL
    w.row = w.coord = NULL
    w.value = w.fval = w.scratch = NULL


cdef object new_vector(Py_ssize_t n):
    cdef cnp.npy_intp size = n
    return cnp.PyArray_EMPTY(1, &size, cnp.NPY_FLOAT64, 0)


# -- the entry points the API calls -------------------------------------------

def gradient(Evaluator ev, cnp.ndarray x, h, StencilRow row, bounds=None):
    """The gradient at x (a validated float64 vector, the caller's own copy) as a
    new array, or the index of the first coordinate whose stencil has no usable
    step (an int).  h: as Steps takes it, or a Steps (prepared_steps).

    A gil-free evaluator streams (stencil_stream): x is its working copy, moved
    one coordinate at a time and restored bit for bit, and memory beyond x and
    g is O(1).  The other tiers get all the points at once (the vectorized one
    hands f many per call)."""
    return gradient_at(ev, x, h if type(h) is Steps else Steps(h), row, bounds)


cdef object gradient_at(Evaluator ev, cnp.ndarray x, Steps steps, StencilRow row, bounds):
    """gradient(), with h as Steps."""
    cdef double* xp = <double*> cnp.PyArray_DATA(x)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x), bad, nfev = 0
    cdef Stencil s
    cdef Workspace w
    cdef double* gp
    cdef bint stream = ev.gil_free
    stencil_init(&s, row, n, steps, bounds)
    workspace_alloc(&w, 1 + s.scheme.per_coordinate if stream else s.k, 0, False)
    try:
        bad = stencil_place(&s, xp, NULL if stream else w.coord, w.value)
        if bad >= 0:
            return bad
        ev.ready(n)
        if steps.relative > 0.0:
            probe_precision(ev, &s, steps, xp, &nfev)
            bad = stencil_place(&s, xp, NULL if stream else w.coord, w.value)
            if bad >= 0:
                return bad
        g = new_vector(n)
        gp = <double*> cnp.PyArray_DATA(g)
        if stream:
            with nogil:
                stencil_stream(ev, &s, xp, &w, gp)
        else:
            stencil_gradient(ev, &s, xp, &w, gp)
    finally:
        workspace_free(&w)
    return g


cdef class PreparedGradient:
    """The plan of a fastgrad.Gradient without bounds or an estimate
    (fastgrad._api.Gradient): its steps and row, converted once, and a pool of
    idle evaluators.  ``call(x)`` is G(x), with no Python frame in between:

    * point(x): x checked and copied (_arguments.point);
    * the idle evaluator if it is for n, else evaluator(n) makes one: taking it
      (read the slot, empty it) runs no Python code, so under the GIL no two
      calls on two threads ever hold the same one; a call that finds the slot
      empty (another thread holds it) makes its own;
    * the gradient; fail(x, g, evaluator) raises for a bad coordinate g (an
      int) and warns for low-precision values (that evaluator is not reused);
    * public(x) for a sequence h of another length than x (gradient() raises).
    """
    cdef Steps steps
    cdef StencilRow row
    cdef Py_ssize_t n, idle_n
    cdef object point, evaluator, fail, public
    cdef Evaluator idle

    def __cinit__(self, h, StencilRow row, Py_ssize_t n, point, evaluator, fail, public):
        self.steps = Steps(h)
        self.row = row
        self.n = n
        self.point, self.evaluator, self.fail, self.public = point, evaluator, fail, public
        self.idle = None
        self.idle_n = -1

    cpdef object call(self, x):
        cdef Py_ssize_t n
        cdef Evaluator ev
        x = self.point(x)
        n = cnp.PyArray_SIZE(x)
        if self.n >= 0 and self.n != n:
            return self.public(x)
        ev = self.idle  # taken: the slot is emptied before any Python code runs
        self.idle = None
        if ev is None or self.idle_n != n:
            ev = self.evaluator(n)
        g = gradient_at(ev, x, self.steps, self.row, None)
        if type(g) is int or ev.low_precision:
            return self.fail(x, g, ev)
        if self.idle is None:  # handed back for the next call
            self.idle_n = n
            self.idle = ev
        return g


def call_prepared(self, x):
    """G(x) for a fastgrad.Gradient: its compiled plan (self._core), else its
    Python path (self._call).  A compiled function: the call runs no Python frame."""
    core = self._core
    if core is None:
        return self._call(x)
    return (<PreparedGradient> core).call(x)


def jacobian(Evaluator ev, cnp.ndarray x, h, StencilRow row, bounds=None):
    """(f(x), J) for an evaluator of m values per point (``expect_vector``, or a
    scalar f: m = 1): f(x) first -- it tells m, and h="auto" the precision --
    then the stencil's other points; row r of J is what stencil_combine gives
    for output r's values.  Or the index of the first coordinate without a usable step
    (an int), before f is called (or after f(x) for h="auto")."""
    cdef const double* xp = <const double*> cnp.PyArray_DATA(x)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x), bad, m, first
    cdef Stencil s
    cdef Workspace w
    cdef Points p
    cdef Steps steps = Steps(h)
    cdef double* fval = NULL
    cdef double* jp
    cdef cnp.npy_intp shape[2]
    stencil_init(&s, row, n, steps, bounds)
    workspace_alloc(&w, s.k, n if ev.gil_free else 0, False)
    try:
        bad = stencil_place(&s, xp, w.coord, w.value)
        if bad >= 0:
            return bad
        ev.ready(n)
        f0 = ev.values_at(xp, n)
        if steps.relative > 0.0 and ev.low_precision:
            s.relative = steps.relative_single
            bad = stencil_place(&s, xp, w.coord, w.value)
            if bad >= 0:
                return bad
        m = ev.m
        fval = <double*> PyMem_RawMalloc(s.k * m * sizeof(double))
        if fval == NULL:
            raise MemoryError()
        # f(x), where the row (or bounds) has it, is point 0: not evaluated again.
        first = 1 if s.scheme.center or s.bounded else 0
        if first:
            memcpy(fval, cnp.PyArray_DATA(f0), m * sizeof(double))
        p.base = xp
        p.n = n
        p.row = NULL
        p.coord = w.coord + first
        p.value = w.value + first
        p.k = s.k - first
        if ev.gil_free:
            with nogil:
                ev.evaluate(&p, w.scratch, fval + first * m)
        else:
            ev.evaluate(&p, w.scratch, fval + first * m)
        shape[0] = m
        shape[1] = n
        J = cnp.PyArray_EMPTY(2, shape, cnp.NPY_FLOAT64, 0)
        jp = <double*> cnp.PyArray_DATA(J)
        if m == 1:
            stencil_combine(&s, xp, fval, jp)
        else:
            combine_outputs(&s, xp, fval, m, jp)
    finally:
        workspace_free(&w)
        PyMem_RawFree(fval)
    return f0, J


cdef enum:
    OUTPUTS_PER_BLOCK = 32


cdef int combine_outputs(const Stencil* s, const double* x, const double* fval, Py_ssize_t m,
                         double* J) except -1:
    """Row r of J = stencil_combine of output r, for fval holding m values per
    point: the values of OUTPUTS_PER_BLOCK outputs at a time are gathered into
    one vector each (reading fval in order), so that the combine reads them in
    order too (output by output straight from fval would stride m doubles)."""
    cdef Py_ssize_t k = s.k, j, q, r0, b
    cdef double* block = <double*> PyMem_RawMalloc(OUTPUTS_PER_BLOCK * k * sizeof(double))
    if block == NULL:
        raise MemoryError()
    with nogil:
        r0 = 0
        while r0 < m:
            b = min(<Py_ssize_t> OUTPUTS_PER_BLOCK, m - r0)
            for j in range(k):
                for q in range(b):
                    block[q * k + j] = fval[j * m + r0 + q]
            for q in range(b):
                stencil_combine(s, x, block + q * k, J + (r0 + q) * s.n)
            r0 += b
    PyMem_RawFree(block)
    return 0


def value_at(Evaluator ev, cnp.ndarray x):
    """f at x (a validated float64 vector), through the evaluator."""
    cdef double value
    ev.evaluate_at(<const double*> cnp.PyArray_DATA(x), cnp.PyArray_SIZE(x), &value)
    return value


def descent_step(Evaluator ev, cnp.ndarray x, h, StencilRow row, double learning_rate,
                 bounds=None):
    """x - learning_rate * gradient(x) as a new array, or the bad coordinate (an int);
    with bounds (lb, ub), projected onto the box (a NaN stays NaN)."""
    g = gradient(ev, x, h, row, bounds)
    if type(g) is int:
        return g
    return step_from(g, x, learning_rate, bounds)


cdef object step_from(object g, cnp.ndarray x, double learning_rate, bounds):
    """g overwritten with x - learning_rate * g (projected onto bounds if given)."""
    cdef double* gp = <double*> cnp.PyArray_DATA(g)
    cdef const double* xp = <const double*> cnp.PyArray_DATA(x)
    cdef const double* lb = NULL
    cdef const double* ub = NULL
    cdef Py_ssize_t i
    cdef double v
    if bounds is not None:
        lb = <const double*> cnp.PyArray_DATA(bounds[0])
        ub = <const double*> cnp.PyArray_DATA(bounds[1])
    for i in range(cnp.PyArray_SIZE(x)):
        v = xp[i] - learning_rate * gp[i]
        if lb != NULL:
            if v < lb[i]:
                v = lb[i]
            elif v > ub[i]:
                v = ub[i]
        gp[i] = v
    return g


# -- the public call's common case, compiled ------------------------------------

cdef bint named_capsule(object f) noexcept:
    """type(f).__name__ == "PyCapsule" (_contract.is_c_callback), from the C name."""
    cdef const char* name = Py_TYPE(f).tp_name
    cdef const char* dot = strrchr(name, 46)  # '.': a static type's module prefix
    return strcmp(dot + 1 if dot != NULL else name, b"PyCapsule") == 0


cdef class PublicGradient:
    """gradient() and gradient_descent_step() for their common arguments, with no
    Python frame between the public function and the kernel (fastgrad._api).

    ``gradient(f, x, h, ...)`` takes the arguments as the public function got
    them and returns its result -- or None, having done nothing, if any
    argument but x is of another kind than these: f a callable (not a C
    callback) with args a tuple; h a positive finite float or "auto"; method
    a name with the default order; unpack a bool, vectorized False;
    no bounds, full_output False, no workers.  Those are all valid, so x's
    conversion (``point``) raises the first error there is, as in the public
    function; the tier is the one ``_api._evaluator`` picks (a Python
    subclass of a compiled objective: None, the general path).  Everything
    after x -- an f that raises, the hint for a forgotten unpack (``hint``),
    a step too small for x and the low-precision warning (``fail``) -- is
    the general path's, with the same exceptions in the same order.
    """
    cdef dict rows, auto
    cdef object point, fail, hint

    def __cinit__(self, dict rows, dict auto, point, fail, hint):
        self.rows, self.auto = rows, auto
        self.point, self.fail, self.hint = point, fail, hint

    cdef object plan(self, f, h, method, order, bounds, args, unpack, vectorized,
                     full_output, workers):
        """The row for these arguments, or None: not the common case."""
        if workers is not None or bounds is not None or full_output is not False \
                or order is not None or vectorized is not False or type(unpack) is not bool:
            return None
        if type(args) is not tuple or not PyCallable_Check(f) or isinstance(f, tuple) \
                or named_capsule(f) or type(method) is not str:
            return None
        if type(h) is float:
            if not 0.0 < <double> h < INFINITY:
                return None
        elif not (type(h) is str and h == "auto"):
            return None
        return self.rows.get(method)  # None: "complex", or a wrong name

    cdef Evaluator evaluator(self, f, tuple args, Py_ssize_t n, bint unpack):
        """_api._evaluator's tier (None: a Python subclass of a compiled objective)."""
        if isinstance(f, Objective):
            if Py_TYPE(f).tp_flags & Py_TPFLAGS_HEAPTYPE:
                return None  # its __call__ and outputs may be redefined: the general path
            # A compiled class: Objective's __call__ (none redefines it) and outputs.
            if not args and not unpack and not (<Objective> f).outputs:
                return CompiledEvaluator(f)
        return PythonEvaluator(f, args, n, unpack)

    cdef object run(self, f, x, h, StencilRow row, args, bint unpack, double learning_rate):
        """The gradient at x (learning_rate > 0: the descent step) or None."""
        cdef Evaluator ev
        x = self.point(x)  # (a bad x: its error, the first of all)
        n = cnp.PyArray_SIZE(x)
        ev = self.evaluator(f, args, n, unpack)
        if ev is None:
            return None
        kernel_h = h if type(h) is float else self.auto[row.method]
        try:
            g = gradient_at(ev, x, Steps(kernel_h), row, None)
        except TypeError as error:
            self.hint(error, f, n, args, unpack, False)
            raise
        if type(g) is int or ev.low_precision:
            g = self.fail(x, kernel_h, g, row, ev)
        if learning_rate > 0.0:
            return step_from(g, x, learning_rate, None)
        return g

    def gradient(self, f, x, h, method, order, bounds, args, unpack, vectorized, full_output,
                 workers):
        """gradient(f, x, ...) for the common case, or None (see the class)."""
        row = self.plan(f, h, method, order, bounds, args, unpack, vectorized, full_output,
                        workers)
        if row is None:
            return None
        return self.run(f, x, h, row, args, unpack, 0.0)

    def descent_step(self, f, x, learning_rate, h, method, order, bounds, args, unpack,
                     vectorized, workers):
        """gradient_descent_step(f, x, ...) for the common case (a positive finite
        float learning_rate), or None."""
        if type(learning_rate) is not float or not 0.0 < <double> learning_rate < INFINITY:
            return None
        row = self.plan(f, h, method, order, bounds, args, unpack, vectorized, False, workers)
        if row is None:
            return None
        return self.run(f, x, h, row, args, unpack, learning_rate)
