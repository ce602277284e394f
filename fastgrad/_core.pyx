# cython: language_level=3
"""The stencil and descent loops, written once for every evaluation tier.

Design
------
Three layers, as in scikit-learn's ``_loss``:

1. Evaluators (``Evaluator`` subclasses, see ``_evaluators.pyx``) say how f is
   evaluated at a batch of stencil points: one Python call per point, one
   vectorized call per chunk, or a compiled objective's C function without
   the GIL.
2. This module: the stencil (which points, in which order), the gradient
   formula, and the descent loop.  They are ``nogil`` C functions that touch
   Python only through the evaluator and the user's callback, so the compiled
   tier runs them with the GIL released.
3. ``_api.py`` validates arguments once and calls the ``def`` entry points here.

The arithmetic is exactly that of ``fastgrad.reference`` (see DESIGN.md): same
operations, same order, no contraction into FMA (setup.py passes
-ffp-contract=off), so the Python tier agrees with the reference bit for bit.
"""
cimport cython
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_RawCalloc, PyMem_RawMalloc, PyMem_RawRealloc, PyMem_RawFree
from cython.parallel cimport prange, threadid
from libc.math cimport fabs, fmax, isfinite, sqrt, NAN
from libc.string cimport memcpy

cimport numpy as cnp
import os
import sys

import numpy as np

from . import _contract as contract
from . import _optimizers
from . import _result


cnp.import_array()

#: Whether this build runs gradient_batch in parallel (setup.py found OpenMP).
OPENMP = FASTGRAD_OPENMP

# libgomp's threads do not survive fork(): a child that used them would hang.
# A forked child (multiprocessing's "fork" pool, say) computes batches serially.
cdef bint forked_child = False


def _mark_forked_child():
    global forked_child
    forked_child = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_mark_forked_child)


def max_threads():
    """The number of threads gradient_batch uses by default (1 without OpenMP)."""
    return fastgrad_max_threads()


cdef class Evaluator:
    cdef int evaluate(self, const double* x, Py_ssize_t n, const Py_ssize_t* coord,
                      const double* value, Py_ssize_t k, double* out) except -1 nogil:
        with gil:
            raise NotImplementedError("Evaluator.evaluate")

    cdef int evaluate_rows(self, const double* X, Py_ssize_t n, const Py_ssize_t* row,
                           const Py_ssize_t* coord, const double* value, Py_ssize_t k,
                           double* out) except -1 nogil:
        with gil:
            raise NotImplementedError("Evaluator.evaluate_rows")


# -- the stencil --------------------------------------------------------------

cdef struct Stencil:
    Method method
    Py_ssize_t n          # dimension
    Py_ssize_t k          # points per gradient: 2n (central) or n + 1
    const double* h       # the steps: h[i * h_stride] (stride 0: one step for all)
    Py_ssize_t h_stride
    Py_ssize_t* coord     # point j is x with x[coord[j]] = value[j]; -1: x itself
    double* value
    double* fval          # f at the points


cdef int stencil_alloc(Stencil* s, Py_ssize_t n, Method method, const double* h,
                       Py_ssize_t h_stride) except -1:
    s.method = method
    s.h = h
    s.h_stride = h_stride
    s.n = n
    s.k = 2 * n if method == CENTRAL else n + 1
    s.coord = <Py_ssize_t*> PyMem_RawMalloc(s.k * sizeof(Py_ssize_t))
    s.value = <double*> PyMem_RawMalloc(s.k * sizeof(double))
    s.fval = <double*> PyMem_RawMalloc(s.k * sizeof(double))
    if s.coord == NULL or s.value == NULL or s.fval == NULL:
        stencil_free(s)
        raise MemoryError()
    return 0


cdef void stencil_free(Stencil* s) noexcept nogil:
    PyMem_RawFree(s.coord)
    PyMem_RawFree(s.value)
    PyMem_RawFree(s.fval)
    s.coord = NULL
    s.value = NULL
    s.fval = NULL


cdef Py_ssize_t stencil_place(Stencil* s, const double* x) noexcept nogil:
    """Place the points around x, in evaluation order.

    Returns -1, or the first coordinate whose realised step is 0 or not finite
    (nothing is evaluated then); a non-finite x[i] makes its step nan, so it
    is caught there too.
    """
    cdef Py_ssize_t i, j = 0
    cdef double xp, xm, step, h
    if s.method != CENTRAL:
        s.coord[0] = -1
        s.value[0] = 0.0
        j = 1
    for i in range(s.n):
        h = s.h[i * s.h_stride]
        xp = x[i] + h
        xm = x[i] - h
        if s.method == CENTRAL:
            step = xp - xm
        elif s.method == FORWARD:
            step = xp - x[i]
        else:
            step = x[i] - xm
        if step == 0.0 or not isfinite(step):
            return i
        if s.method != BACKWARD:
            s.coord[j] = i
            s.value[j] = xp
            j += 1
        if s.method != FORWARD:
            s.coord[j] = i
            s.value[j] = xm
            j += 1
    return -1


cdef int stencil_gradient(Evaluator ev, Stencil* s, const double* x, double* g) except -1 nogil:
    """g = the gradient at x, from the points stencil_place() put around x."""
    ev.evaluate(x, s.n, s.coord, s.value, s.k, s.fval)
    stencil_combine(s, x, g)
    return 0


cdef void stencil_combine(const Stencil* s, const double* x, double* g) noexcept nogil:
    """g from the values of f at the stencil's points (s.fval)."""
    cdef Py_ssize_t i
    # Divide by the realised step, as fastgrad.reference does.
    if s.method == CENTRAL:
        for i in range(s.n):
            g[i] = (s.fval[2 * i] - s.fval[2 * i + 1]) / (s.value[2 * i] - s.value[2 * i + 1])
    elif s.method == FORWARD:
        for i in range(s.n):
            g[i] = (s.fval[1 + i] - s.fval[0]) / (s.value[1 + i] - x[i])
    else:
        for i in range(s.n):
            g[i] = (s.fval[0] - s.fval[1 + i]) / (x[i] - s.value[1 + i])


cdef inline void take_step(const double* x, const double* g, double learning_rate,
                           Py_ssize_t n, double* out) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = x[i] - learning_rate * g[i]


# -- the descent loop ---------------------------------------------------------

cdef struct Path:
    # Growable record of the iterates and f at them (record=True).
    Py_ssize_t n, length, capacity
    double* xs
    double* fs


cdef int path_append(Path* p, const double* x, double fx) except -1 nogil:
    cdef Py_ssize_t capacity
    cdef double* xs
    cdef double* fs
    if p.length == p.capacity:
        capacity = 2 * p.capacity + 16
        xs = <double*> PyMem_RawRealloc(p.xs, capacity * p.n * sizeof(double))
        if xs != NULL:
            p.xs = xs
        fs = <double*> PyMem_RawRealloc(p.fs, capacity * sizeof(double))
        if fs != NULL:
            p.fs = fs
        if xs == NULL or fs == NULL:
            with gil:
                raise MemoryError()
        p.capacity = capacity
    memcpy(p.xs + p.length * p.n, x, p.n * sizeof(double))
    p.fs[p.length] = fx
    p.length += 1
    return 0


# Why a descent stopped; the same numbers as the constants of _result
# (tests/test_contract.py checks that they agree).
cdef enum Stop:
    STOP_CONVERGED = 0
    STOP_MAX_ITER = 1
    STOP_GRADIENT_NOT_FINITE = 2
    STOP_STEP_NOT_FINITE = 3
    STOP_STEP_LOST = 4
    STOP_STENCIL_LOST = 5
    STOP_CALLBACK = 6
    STOP_FTOL = 7
    STOP_LINE_SEARCH_FAILED = 8
    STOP_F_NOT_FINITE = 9


cdef struct Outcome:
    Stop reason
    Py_ssize_t nit, nfev
    Py_ssize_t coordinate  # STOP_STENCIL_LOST: the coordinate whose step vanished
    double norm
    double fun             # f at the returned x


cdef inline bint all_finite(const double* v, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if not isfinite(v[i]):
            return False
    return True


cdef inline bint same_point(const double* a, const double* b, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if a[i] != b[i]:
            return False
    return True


cdef int interrupted() except -1 nogil:
    with gil:
        PyErr_CheckSignals()
    return 0


cdef int ask_callback(object callback, const double* x, Py_ssize_t n, bint* stop) except -1 nogil:
    with gil:
        stop[0] = bool(callback(copy_to_array(x, n)))
    return 0


# -- descent methods (formulas in _optimizers.py; fastgrad.reference mirrors them) --

cdef enum Rule:
    RULE_SGD
    RULE_MOMENTUM
    RULE_ADAM
    RULE_ARMIJO


cdef struct Optimizer:
    Rule rule
    double learning_rate
    double momentum, dampening   # Momentum
    bint nesterov
    double beta1, beta2, eps     # Adam
    double beta1_t, beta2_t      # beta^t, as running products
    double c, shrink             # Armijo
    Py_ssize_t max_backtracks
    Py_ssize_t updates           # made so far
    double* b                    # Momentum buffer, or Adam's m
    double* v                    # Adam's v


cdef void update(Optimizer* o, const double* x, const double* g, Py_ssize_t n,
                 double* x_new) noexcept nogil:
    """x_new = the next iterate by SGD, Momentum or Adam (Armijo searches in descend)."""
    cdef Py_ssize_t i
    cdef double m_hat, v_hat
    if o.rule == RULE_MOMENTUM:
        for i in range(n):
            if o.updates == 0:
                o.b[i] = g[i]  # torch.optim.SGD: the buffer starts as the first gradient
            else:
                o.b[i] = o.momentum * o.b[i] + (1.0 - o.dampening) * g[i]
            if o.nesterov:
                x_new[i] = x[i] - o.learning_rate * (g[i] + o.momentum * o.b[i])
            else:
                x_new[i] = x[i] - o.learning_rate * o.b[i]
    elif o.rule == RULE_ADAM:
        o.beta1_t *= o.beta1
        o.beta2_t *= o.beta2
        for i in range(n):
            o.b[i] = o.beta1 * o.b[i] + (1.0 - o.beta1) * g[i]
            o.v[i] = o.beta2 * o.v[i] + (1.0 - o.beta2) * g[i] * g[i]
            m_hat = o.b[i] / (1.0 - o.beta1_t)
            v_hat = o.v[i] / (1.0 - o.beta2_t)
            x_new[i] = x[i] - o.learning_rate * m_hat / (sqrt(v_hat) + o.eps)
    else:
        take_step(x, g, o.learning_rate, n, x_new)
    o.updates += 1


cdef int armijo(Evaluator ev, Optimizer* o, const double* x, const double* g, Py_ssize_t n,
                double fx, double g_squared, double* x_new, double* f_new,
                Py_ssize_t* trials) except -1 nogil:
    """Backtracking line search into x_new; returns 1 if a step was found, else 0."""
    cdef Py_ssize_t tries, itself = -1
    cdef double step = o.learning_rate, unused = 0.0
    for tries in range(o.max_backtracks + 1):
        take_step(x, g, step, n, x_new)
        if all_finite(x_new, n):
            ev.evaluate(x_new, n, &itself, &unused, 1, f_new)
            trials[0] += 1
            if f_new[0] <= fx - o.c * step * g_squared:
                return 1
        step *= o.shrink
    return 0


# -- the descent loop -----------------------------------------------------------

cdef int descend(Evaluator ev, Stencil* s, double* x, double* g, double* x_new,
                 Optimizer* opt, Py_ssize_t max_iter, double tol, double ftol, object callback,
                 Path* path, Outcome* out) except -1 nogil:
    """Gradient descent from x, whose stencil is already placed; x ends as the last iterate.

    ftol < 0: no test on the change of f.  Mirrors fastgrad.reference.gradient_descent
    step for step.
    """
    cdef Py_ssize_t n = s.n, i
    cdef Py_ssize_t itself = -1  # a one-point batch at x itself
    cdef double total, fx = NAN, f_new = NAN
    cdef bint stop_requested = False, small_change = False
    cdef double* given = x       # x and x_new trade places on each update
    cdef double unused = 0.0     # the value slot of a one-point batch at x itself
    cdef double* swap
    # f along the iterates is needed to record them, for ftol, and for Armijo.
    cdef bint tracking = path != NULL or ftol >= 0.0 or opt.rule == RULE_ARMIJO
    out.nit = 0
    out.nfev = 0
    out.coordinate = -1
    out.norm = NAN
    if tracking:
        ev.evaluate(x, n, &itself, &unused, 1, &fx)
        out.nfev += 1
        if path != NULL:
            path_append(path, x, fx)
    while True:
        if ev.gil_free and (out.nit & 1023) == 1023:  # every 1024 iterations, no division
            interrupted()  # with the GIL released, Ctrl-C must still stop a long run
        stencil_gradient(ev, s, x, g)
        out.nfev += s.k
        total = 0.0
        for i in range(n):
            total += g[i] * g[i]
        # A finite sum means a finite gradient; only an infinite one needs a look.
        if not isfinite(total) and not all_finite(g, n):
            out.reason = STOP_GRADIENT_NOT_FINITE
            out.norm = NAN
            break
        out.norm = sqrt(total)
        if out.norm <= tol:
            out.reason = STOP_CONVERGED
            break
        if stop_requested:
            out.reason = STOP_CALLBACK
            break
        if small_change:
            out.reason = STOP_FTOL
            break
        if out.nit == max_iter:
            out.reason = STOP_MAX_ITER
            break
        if opt.rule == RULE_ARMIJO:
            if not armijo(ev, opt, x, g, n, fx, total, x_new, &f_new, &out.nfev):
                out.reason = STOP_LINE_SEARCH_FAILED
                break
        else:
            update(opt, x, g, n, x_new)
            if not all_finite(x_new, n):
                out.reason = STOP_STEP_NOT_FINITE
                break
        if same_point(x_new, x, n):
            out.reason = STOP_STEP_LOST
            break
        out.coordinate = stencil_place(s, x_new)
        if out.coordinate >= 0:
            out.reason = STOP_STENCIL_LOST
            break
        if tracking:
            if opt.rule != RULE_ARMIJO:
                ev.evaluate(x_new, n, &itself, &unused, 1, &f_new)
                out.nfev += 1
            # f itself decides (ftol, Armijo): an inf or nan f would pass their tests.
            # Recording alone only looks on.
            if not isfinite(f_new) and (ftol >= 0.0 or opt.rule == RULE_ARMIJO):
                out.reason = STOP_F_NOT_FINITE
                break
        swap = x
        x = x_new
        x_new = swap
        out.nit += 1
        if tracking:
            if ftol >= 0.0:
                small_change = fabs(fx - f_new) <= ftol * fmax(fmax(fabs(fx), fabs(f_new)), 1.0)
            fx = f_new
            if path != NULL:
                path_append(path, x, fx)
        if callback is not None:
            ask_callback(callback, x, n, &stop_requested)
    if not tracking:
        ev.evaluate(x, n, &itself, &unused, 1, &fx)
        out.nfev += 1
    out.fun = fx
    if x != given:
        memcpy(given, x, n * sizeof(double))
    return 0


# -- the entry points the API calls -------------------------------------------

cdef object copy_to_array(const double* v, Py_ssize_t n):
    out = new_vector(n)
    memcpy(cnp.PyArray_DATA(out), v, n * sizeof(double))
    return out


cdef double* float64_data(object array) except NULL:
    """The buffer of a C-contiguous float64 ndarray, as _api hands them to the core.

    The numpy C API, not a memoryview: this is paid on every gradient() call.
    """
    if not (cnp.PyArray_Check(array) and cnp.PyArray_TYPE(array) == cnp.NPY_FLOAT64
            and cnp.PyArray_IS_C_CONTIGUOUS(array)):
        raise TypeError(f"internal: expected a C-contiguous float64 array, got {type(array)}")
    return <double*> cnp.PyArray_DATA(array)


cdef object new_vector(Py_ssize_t n):
    cdef cnp.npy_intp size = n
    return cnp.PyArray_EMPTY(1, &size, cnp.NPY_FLOAT64, 0)


INT_LIMIT = 2**1023  # ints below this in magnitude convert to finite floats


def as_point(x):
    """x as a new, finite float64 array, on the fast paths only.

    A list or tuple of Python floats and ints, or a 1-D real ndarray (copied,
    as a plain ndarray).  None means "check it in Python": everything else,
    and every error, goes through _contract's general check, so that the
    message is the reference's.
    """
    cdef Py_ssize_t i, n
    cdef double* data
    if cnp.PyArray_CheckExact(x):  # subclasses (masked arrays...) take the general path
        if not (cnp.PyArray_NDIM(x) == 1 and cnp.PyArray_SIZE(x) > 0 and
                cnp.PyArray_TYPE(x) in (cnp.NPY_DOUBLE, cnp.NPY_FLOAT, cnp.NPY_LONG, cnp.NPY_INT)):
            return None
        point = cnp.PyArray_FROMANY(x, cnp.NPY_DOUBLE, 1, 1, cnp.NPY_ARRAY_C_CONTIGUOUS
                                    | cnp.NPY_ARRAY_ENSURECOPY | cnp.NPY_ARRAY_ENSUREARRAY)
    elif type(x) is list or type(x) is tuple:
        n = len(x)
        if n == 0:
            return None
        point = new_vector(n)
        data = <double*> cnp.PyArray_DATA(point)
        for i in range(n):
            item = x[i]
            if type(item) is float:
                data[i] = <double> item
            elif type(item) is int and -INT_LIMIT < item < INT_LIMIT:  # no overflow
                data[i] = item  # as float(item) does: correctly rounded
            else:
                return None
    else:
        return None
    data = <double*> cnp.PyArray_DATA(point)
    for i in range(cnp.PyArray_SIZE(point)):
        if not isfinite(data[i]):
            return None
    return point


cdef class Steps:
    """h as the core reads it: one step for every coordinate, or one each."""
    cdef double scalar
    cdef object array
    cdef const double* data
    cdef Py_ssize_t stride

    def __cinit__(self, h):
        if isinstance(h, float):
            self.scalar = h
            self.data = &self.scalar
            self.stride = 0
        else:
            self.array = h
            self.data = float64_data(h)
            self.stride = 1

    cdef double at(self, Py_ssize_t i):
        return self.data[i * self.stride]


cdef int place_or_raise(Stencil* s, const double* x, Steps h, Py_ssize_t row=-1) except -1:
    """Place the stencil around x, or raise the ValueError of a bad x or h."""
    cdef Py_ssize_t bad = stencil_place(s, x)
    if bad < 0:
        return 0
    contract.check_point([x[i] for i in range(s.n)])  # a non-finite x is the error to name
    raise ValueError(contract.step_too_small(bad, x[bad], h.at(bad), None if row < 0 else row))


def gradient(Evaluator ev, x, h, int method):
    """The gradient at x (x: float64 array; h: float or float64 array; both validated)."""
    cdef const double* xp = float64_data(x)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x)
    cdef Stencil s
    cdef Steps steps = Steps(h)
    g = new_vector(n)
    cdef double* gp = <double*> cnp.PyArray_DATA(g)
    stencil_alloc(&s, n, <Method> method, steps.data, steps.stride)
    try:
        place_or_raise(&s, xp, steps)
        if ev.gil_free:
            with nogil:
                stencil_gradient(ev, &s, xp, gp)
        else:
            stencil_gradient(ev, &s, xp, gp)
    finally:
        stencil_free(&s)
    return g


def descent_step(Evaluator ev, x, h, int method, double learning_rate):
    """x - learning_rate * gradient(x), as a new array."""
    g = gradient(ev, x, h, method)
    cdef double* gp = <double*> cnp.PyArray_DATA(g)
    take_step(float64_data(x), gp, learning_rate, cnp.PyArray_SIZE(x), gp)
    return g


cdef int optimizer_init(Optimizer* o, rule, double learning_rate, Py_ssize_t n) except -1:
    """Fill o from a validated optimizer object of _optimizers; zeroed state."""
    o.learning_rate = learning_rate
    o.updates = 0
    o.b = o.v = NULL
    o.beta1_t = o.beta2_t = 1.0
    if isinstance(rule, _optimizers.Momentum):
        o.rule = RULE_MOMENTUM
        o.momentum, o.dampening, o.nesterov = rule.momentum, rule.dampening, rule.nesterov
    elif isinstance(rule, _optimizers.Adam):
        o.rule = RULE_ADAM
        o.beta1, o.beta2, o.eps = rule.beta1, rule.beta2, rule.eps
    elif isinstance(rule, _optimizers.Armijo):
        o.rule = RULE_ARMIJO
        # beyond any run's reach; the + 1 trial of the search must not overflow
        o.c, o.shrink, o.max_backtracks = rule.c, rule.shrink, min(rule.max_backtracks,
                                                                   sys.maxsize - 1)
    else:
        o.rule = RULE_SGD
    if o.rule == RULE_MOMENTUM or o.rule == RULE_ADAM:
        o.b = <double*> PyMem_RawCalloc(n, sizeof(double))
        o.v = <double*> PyMem_RawCalloc(n, sizeof(double))
        if o.b == NULL or o.v == NULL:
            raise MemoryError()
    return 0


def descent(Evaluator ev, x, h, int method, double learning_rate,
            Py_ssize_t max_iter, double tol, ftol, rule, callback, bint record):
    """Run gradient descent from x; returns the fields of a DescentResult as a dict.

    x is a new float64 array of _api's (never the caller's): it becomes result.x.
    """
    cdef double* xp = float64_data(x)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x)
    cdef Stencil s
    cdef Steps steps = Steps(h)
    cdef Optimizer opt
    cdef Path path
    cdef Outcome out
    cdef double f_tolerance = -1.0 if ftol is None else ftol
    g = new_vector(n)
    x_new = new_vector(n)
    cdef double* gp = <double*> cnp.PyArray_DATA(g)
    cdef double* x_new_p = <double*> cnp.PyArray_DATA(x_new)
    path.n = n
    path.length = path.capacity = 0
    path.xs = path.fs = NULL
    opt.b = opt.v = NULL
    stencil_alloc(&s, n, <Method> method, steps.data, steps.stride)
    try:
        optimizer_init(&opt, rule, learning_rate, n)
        place_or_raise(&s, xp, steps)
        if ev.gil_free:  # a callback takes the GIL for its own call only
            with nogil:
                descend(ev, &s, xp, gp, x_new_p, &opt, max_iter, tol, f_tolerance,
                        callback, &path if record else NULL, &out)
        else:
            descend(ev, &s, xp, gp, x_new_p, &opt, max_iter, tol, f_tolerance,
                    callback, &path if record else NULL, &out)
        if record:
            path_x = np.array(<double[:path.length, :n]> path.xs)
            path_fun = np.array(<double[:path.length]> path.fs)
        else:
            path_x = path_fun = None
    finally:
        stencil_free(&s)
        PyMem_RawFree(opt.b)
        PyMem_RawFree(opt.v)
        PyMem_RawFree(path.xs)
        PyMem_RawFree(path.fs)
    message = _result.stop_message(out.reason, out.nit, out.norm, tol, out.coordinate, ftol,
                                   getattr(rule, "max_backtracks", None))
    return dict(x=x, fun=out.fun, grad=g, nit=out.nit, nfev=out.nfev,
                converged=out.reason == STOP_CONVERGED or out.reason == STOP_FTOL,
                message=message, path=path_x, path_fun=path_fun)


def gradient_batch(Evaluator ev, const double[:, ::1] X, h, int method, int num_threads):
    """Gradients at the m rows of X, shape (m, n); rows in parallel on the compiled tier."""
    cdef Py_ssize_t m = X.shape[0], n = X.shape[1], r, t
    cdef Steps steps = Steps(h)
    cdef int threads = min(num_threads, m) if ev.gil_free and not forked_child else 1
    cdef Py_ssize_t first, block
    G = np.empty((m, n))
    cdef double[:, ::1] gv = G
    # One stencil per thread, allocated here so that failure raises cleanly.
    cdef Stencil* stencils = <Stencil*> PyMem_RawMalloc(threads * sizeof(Stencil))
    if stencils == NULL:
        raise MemoryError()
    for t in range(threads):
        stencils[t].coord = NULL
        stencils[t].value = NULL
        stencils[t].fval = NULL
    try:
        for t in range(threads):
            stencil_alloc(&stencils[t], n, <Method> method, steps.data, steps.stride)
        # Every point's stencil is checked before f is evaluated anywhere.
        for r in range(m):
            place_or_raise(&stencils[0], &X[r, 0], steps, r)
        if ev.gil_free:
            # In blocks of rows (about 2^20 points each), so that Ctrl-C is seen
            # between blocks while the GIL is released.
            block = max(64 * threads, BLOCK_POINTS // stencils[0].k)
            for first in range(0, m, block):
                with nogil:
                    batch_rows(ev, stencils, X[first:first + block], gv[first:first + block],
                               threads)
                PyErr_CheckSignals()
        elif ev.rows_per_call > 0:
            batch_grouped(ev, &stencils[0], X, gv)
        else:
            batch_rows(ev, stencils, X, gv, 1)
    finally:
        for t in range(threads):
            stencil_free(&stencils[t])
        PyMem_RawFree(stencils)
    return G


cdef enum:
    # Most points per evaluate_rows() call: the bookkeeping (32 bytes a point)
    # stays within 2 MiB; the evaluator chunks what it hands f on its own.
    GROUP_POINTS = 65536
    # Points per block of a compiled gradient_batch between checks for Ctrl-C.
    BLOCK_POINTS = 1048576


@cython.boundscheck(False)  # rows first <= r < last <= m
@cython.wraparound(False)
cdef int batch_grouped(Evaluator ev, Stencil* s, const double[:, ::1] X,
                       double[:, ::1] G) except -1:
    """gradient_batch for an evaluator that wants many points per call: the
    stencils of as many rows as fit in one call, evaluated together."""
    cdef Py_ssize_t m = X.shape[0], n = X.shape[1], k = s.k
    cdef Py_ssize_t per_group = max(1, min(ev.rows_per_call, GROUP_POINTS) // k)
    cdef Py_ssize_t first, last, r, j, size = min(per_group, m) * k
    cdef Stencil part = s[0]
    cdef Py_ssize_t* row = <Py_ssize_t*> PyMem_RawMalloc(size * sizeof(Py_ssize_t))
    cdef Py_ssize_t* coord = <Py_ssize_t*> PyMem_RawMalloc(size * sizeof(Py_ssize_t))
    cdef double* value = <double*> PyMem_RawMalloc(size * sizeof(double))
    cdef double* fval = <double*> PyMem_RawMalloc(size * sizeof(double))
    try:
        if row == NULL or coord == NULL or value == NULL or fval == NULL:
            raise MemoryError()
        for first in range(0, m, per_group):
            last = min(first + per_group, m)
            # Row r's stencil is the slice of the group's arrays at (r - first) * k.
            for r in range(first, last):
                part.coord = coord + (r - first) * k
                part.value = value + (r - first) * k
                stencil_place(&part, &X[r, 0])
                for j in range(k):
                    row[(r - first) * k + j] = r
            ev.evaluate_rows(&X[0, 0], n, row, coord, value, (last - first) * k, fval)
            for r in range(first, last):
                part.value = value + (r - first) * k
                part.fval = fval + (r - first) * k
                stencil_combine(&part, &X[r, 0], &G[r, 0])
    finally:
        PyMem_RawFree(row)
        PyMem_RawFree(coord)
        PyMem_RawFree(value)
        PyMem_RawFree(fval)
    return 0


@cython.boundscheck(False)  # rows 0 <= r < m
@cython.wraparound(False)
cdef int batch_rows(Evaluator ev, Stencil* stencils, const double[:, ::1] X, double[:, ::1] G,
                    int threads) except -1 nogil:
    cdef Py_ssize_t r, m = X.shape[0]  # read outside the OpenMP region (debug builds check it)
    cdef Stencil* s
    for r in prange(m, schedule="dynamic", chunksize=max(1, m // (16 * threads)),
                    num_threads=threads):
        s = &stencils[threadid()]
        stencil_place(s, &X[r, 0])
        stencil_gradient(ev, s, &X[r, 0], &G[r, 0])
    return 0


STOP_CODES = dict(CONVERGED=STOP_CONVERGED, MAX_ITER=STOP_MAX_ITER,
                  GRADIENT_NOT_FINITE=STOP_GRADIENT_NOT_FINITE,
                  STEP_NOT_FINITE=STOP_STEP_NOT_FINITE, STEP_LOST=STOP_STEP_LOST,
                  STENCIL_LOST=STOP_STENCIL_LOST, CALLBACK=STOP_CALLBACK, FTOL=STOP_FTOL,
                  LINE_SEARCH_FAILED=STOP_LINE_SEARCH_FAILED, F_NOT_FINITE=STOP_F_NOT_FINITE)
