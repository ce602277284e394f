# cython: language_level=3
"""The descent loop, written once; optimizers are Rule classes behind one interface.

Design
------
``descend`` mirrors ``fastgrad.reference.gradient_descent`` step for step:
gradient at x -> stop tests -> the rule proposes x_new -> checks on x_new ->
move.  What an optimizer does is a ``Rule``: ``propose`` writes x_new from x
and g (a line search evaluates f itself and reports f at x_new).  Adding an
optimizer adds a Rule subclass and a row in the API's table; the loop does
not change.  The loop ends with an outcome (stop reason, counts, the last
iterate); ``_result.descent_result`` turns it into the DescentResult and its
message, for both implementations.

Rules take their parameters from the validated optimizer objects of
``_optimizers`` by attribute, and never import Python helpers.

Resuming (``DescentResult.state``): a rule's buffers and counters go out as a
dict by ``save()`` and come back by ``load()``, after ``start(n)`` has sized
them; a rule with nothing to carry (SGD, Armijo) inherits both.  The checks
(the optimizer's class, the dimension) are _contract.check_state's.

A callback and progress=True share one hook, called with the GIL after the
gradient at each new iterate is known (so an ``intermediate_result`` gets it
free): the loop counts down to the next call, every update for a callback,
as many as the progress object asks for otherwise, and never without either
-- the same one test per update that ``callback is not None`` was.  Ctrl-C is
watched for by the evaluators (every iteration evaluates f), by elapsed time.
"""
from cpython.pyport cimport PY_SSIZE_T_MAX
from cpython.mem cimport PyMem_RawCalloc, PyMem_RawFree, PyMem_RawMalloc, PyMem_RawRealloc
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_New
from libc.math cimport copysign, fabs, fmax, isfinite, sqrt, INFINITY, NAN
from libc.string cimport memcpy

cimport numpy as cnp
import numpy as np

from ._result import call_back

from ._evaluators cimport Evaluator
from ._stencil cimport (KIND_ANY, KIND_FIXED, KIND_GENERAL, KIND_PAIR, Stencil, StencilRow,
                        Steps, Workspace, direct_ready, gradient_with, new_vector,
                        place_coordinate, stencil_direct, stencil_kind, take_points,
                        probe_precision, stencil_gradient, stencil_init, stencil_place,
                        workspace_alloc, workspace_free)

cnp.import_array()


cpdef enum Stop:
    # Why a descent stopped: the source of the stop codes; _result.Stop (for the
    # standard-library reference) and _descent.pyi copy it, and
    # tests/test_contract.py holds both to these names and numbers.
    CONVERGED = 0
    MAX_ITER = 1
    GRADIENT_NOT_FINITE = 2
    STEP_NOT_FINITE = 3
    STEP_LOST = 4
    STENCIL_LOST = 5
    CALLBACK = 6
    FTOL = 7
    LINE_SEARCH_FAILED = 8
    F_NOT_FINITE = 9
    START_NOT_FINITE = 10
    DIVERGED = 11
    WOLFE_FAILED = 12


# _result.diverged(), for the C loop: the same rule and numbers (RISES, GROWTH;
# tests/test_reliability.py holds them together).
cdef enum:
    RISES = 3
cdef double GROWTH = 1000.0
DIVERGENCE = (RISES, GROWTH)


cdef struct Iterate:
    # What a rule sees and writes for one update.
    Py_ssize_t n
    const double* x
    const double* g
    double g_squared        # sum g_i^2 in index order
    double fx               # f at x (NaN unless the run tracks f)
    double* x_new
    double f_new            # written by rules that search (evaluate f themselves)
    Py_ssize_t nfev         # evaluations the rule made
    const Stencil* s        # for rules that take gradients at trial points
    Workspace* w
    double* g_new           # the gradient at x_new, if the rule computed it ...
    bint g_known            # ... which it says here (the loop then uses it)
    const double* lb        # bounds=(lb, ub): the box x_new is projected onto (NULL: none)
    const double* ub


# -- bounds: iterates are projected onto the box (fastgrad.reference mirrors these) --

cdef inline double clip(double v, double lb, double ub) noexcept nogil:
    """v projected onto [lb, ub] (a NaN stays NaN, as in the reference)."""
    if v < lb:
        return lb
    if v > ub:
        return ub
    return v


cdef inline void project(double* v, const double* lb, const double* ub,
                         Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        v[i] = clip(v[i], lb[i], ub[i])


cdef inline double projected_norm(const double* x, const double* g, const double* lb,
                                  const double* ub, Py_ssize_t n) noexcept nogil:
    """|g| without the entries that push x out through a bound it is on (the
    projected gradient's norm, L-BFGS-B's pgtol test), summed in index order."""
    cdef double total = 0.0
    cdef Py_ssize_t i
    for i in range(n):
        if (x[i] <= lb[i] and g[i] > 0.0) or (x[i] >= ub[i] and g[i] < 0.0):
            continue
        total += g[i] * g[i]
    return sqrt(total)


# -- rules (formulas in _optimizers.py; fastgrad.reference mirrors them) --------

cdef object copy_out(const double* v, Py_ssize_t n):
    """A float64 array holding a copy of v[:n]."""
    array = new_vector(n)
    memcpy(cnp.PyArray_DATA(array), v, n * sizeof(double))
    return array


cdef int copy_in(double* v, Py_ssize_t n, value) except -1:
    """v[:n] = value, a sequence of n numbers (numpy refuses another size)."""
    cdef cnp.ndarray array = np.ascontiguousarray(value, dtype=np.float64).reshape(n)
    memcpy(v, cnp.PyArray_DATA(array), n * sizeof(double))
    return 0


cdef class Rule:
    """How an update is made.  ``searches``: the rule evaluates f (a line search),
    so the run tracks f, and f must stay finite; ``failure``: the stop reason
    when propose() finds no step."""
    cdef double learning_rate
    cdef readonly bint searches
    cdef readonly bint projects  # works with projected iterates (bounds=)
    cdef Stop failure
    cdef Py_ssize_t n         # the dimension of the run (set by start)

    def __cinit__(self, params, double learning_rate, *args):
        self.learning_rate = learning_rate
        self.projects = True

    cdef int start(self, Py_ssize_t n) except -1:
        """Allocate the state for a run in n dimensions (with the GIL); a rule
        that overrides it sets self.n too."""
        self.n = n
        return 0

    def save(self):
        """The rule's buffers and counters (DescentState.buffers), as Python
        values: {} for a rule that starts every update afresh."""
        return {}

    def load(self, dict buffers):
        """Take up what save() gave, after start(n) (check_state checked the
        optimizer and the dimension)."""

    cdef int propose(self, Evaluator ev, Iterate* it) except -1 nogil:
        """Write x_new; return 1, or 0 if no step was found (stop with `failure`)."""
        plain_step(it.x_new, it.x, it.g, it.n, self.learning_rate)
        return 1


cdef inline void plain_step(double* x_new, const double* x, const double* g, Py_ssize_t n,
                            double learning_rate) noexcept nogil:
    """x_new = x - learning_rate g: the base Rule's update (SGD), which the loop
    also makes itself, without the virtual call, for an SGDRule."""
    cdef Py_ssize_t i
    for i in range(n):
        x_new[i] = plain_coordinate(x[i], g[i], learning_rate)


cdef inline double plain_coordinate(double xi, double gi, double learning_rate) noexcept nogil:
    """A coordinate of the plain step (the lean descent loop makes it in its pass of checks)."""
    return xi - learning_rate * gi


cdef class SGDRule(Rule):
    pass


cdef class MomentumRule(Rule):
    cdef double momentum, dampening
    cdef bint nesterov, first
    cdef double* b

    def __cinit__(self, params, double learning_rate, *args):
        self.momentum, self.dampening = params.momentum, params.dampening
        self.nesterov = params.nesterov
        self.first = True

    def __dealloc__(self):
        PyMem_RawFree(self.b)

    cdef int start(self, Py_ssize_t n) except -1:
        PyMem_RawFree(self.b)  # a fresh state for every run
        self.n = n
        self.first = True
        self.b = <double*> PyMem_RawCalloc(n, sizeof(double))
        if self.b == NULL:
            raise MemoryError()
        return 0

    def save(self):
        return {} if self.first else {"velocity": copy_out(self.b, self.n)}

    def load(self, dict buffers):
        if "velocity" in buffers:
            copy_in(self.b, self.n, buffers["velocity"])
            self.first = False

    cdef int propose(self, Evaluator ev, Iterate* it) except -1 nogil:
        cdef Py_ssize_t i
        for i in range(it.n):
            if self.first:
                self.b[i] = it.g[i]  # torch.optim.SGD: the buffer starts as the first gradient
            else:
                self.b[i] = self.momentum * self.b[i] + (1.0 - self.dampening) * it.g[i]
            if self.nesterov:
                it.x_new[i] = it.x[i] - self.learning_rate * (it.g[i] + self.momentum * self.b[i])
            else:
                it.x_new[i] = it.x[i] - self.learning_rate * self.b[i]
        self.first = False
        return 1


cdef class AdamRule(Rule):
    cdef double beta1, beta2, eps
    cdef double beta1_t, beta2_t  # beta^t, as running products
    cdef double* m
    cdef double* v

    def __cinit__(self, params, double learning_rate, *args):
        self.beta1, self.beta2, self.eps = params.beta1, params.beta2, params.eps
        self.beta1_t = self.beta2_t = 1.0

    def __dealloc__(self):
        PyMem_RawFree(self.m)
        PyMem_RawFree(self.v)

    cdef int start(self, Py_ssize_t n) except -1:
        PyMem_RawFree(self.m)  # a fresh state for every run
        PyMem_RawFree(self.v)
        self.n = n
        self.beta1_t = self.beta2_t = 1.0
        self.m = <double*> PyMem_RawCalloc(n, sizeof(double))
        self.v = <double*> PyMem_RawCalloc(n, sizeof(double))
        if self.m == NULL or self.v == NULL:
            raise MemoryError()
        return 0

    def save(self):
        return {"m": copy_out(self.m, self.n), "v": copy_out(self.v, self.n),
                "beta1_t": self.beta1_t, "beta2_t": self.beta2_t}

    def load(self, dict buffers):
        copy_in(self.m, self.n, buffers["m"])
        copy_in(self.v, self.n, buffers["v"])
        self.beta1_t, self.beta2_t = buffers["beta1_t"], buffers["beta2_t"]

    cdef int propose(self, Evaluator ev, Iterate* it) except -1 nogil:
        cdef Py_ssize_t i
        cdef double m_hat, v_hat, g
        self.beta1_t *= self.beta1
        self.beta2_t *= self.beta2
        for i in range(it.n):
            g = it.g[i]
            self.m[i] = self.beta1 * self.m[i] + (1.0 - self.beta1) * g
            self.v[i] = self.beta2 * self.v[i] + (1.0 - self.beta2) * g * g
            m_hat = self.m[i] / (1.0 - self.beta1_t)
            v_hat = self.v[i] / (1.0 - self.beta2_t)
            it.x_new[i] = it.x[i] - self.learning_rate * m_hat / (sqrt(v_hat) + self.eps)
        return 1


cdef class ArmijoRule(Rule):
    cdef double c, shrink
    cdef Py_ssize_t max_backtracks

    def __cinit__(self, params, double learning_rate, *args):
        self.c, self.shrink = params.c, params.shrink
        # beyond any run's reach: capped so that the + 1 trial of the search fits
        self.max_backtracks = min(params.max_backtracks, PY_SSIZE_T_MAX - 1)
        self.searches = True
        self.failure = LINE_SEARCH_FAILED

    cdef int propose(self, Evaluator ev, Iterate* it) except -1 nogil:
        """Backtracking: s = lr, shrink * s, ... until f(x - s g) <= f(x) - c s |g|^2.
        With bounds, the trial is projected, P(x - s g), and the test is
        Bertsekas': f(P(x - s g)) <= f(x) + c g.(P(x - s g) - x)."""
        cdef Py_ssize_t tries, i
        cdef double step = self.learning_rate, slope
        cdef bint finite, accept
        for tries in range(self.max_backtracks + 1):
            finite = True
            for i in range(it.n):
                it.x_new[i] = it.x[i] - step * it.g[i]
                if it.lb != NULL:
                    it.x_new[i] = clip(it.x_new[i], it.lb[i], it.ub[i])
                finite = finite and isfinite(it.x_new[i])
            if finite:
                ev.evaluate_at(it.x_new, it.n, &it.f_new)
                it.nfev += 1
                if it.lb == NULL:
                    accept = it.f_new <= it.fx - self.c * step * it.g_squared
                else:
                    slope = 0.0
                    for i in range(it.n):
                        slope += it.g[i] * (it.x_new[i] - it.x[i])
                    accept = it.f_new <= it.fx + self.c * slope
                if accept:
                    return 1
            step *= self.shrink
        return 0


cdef inline double dot(const double* a, const double* b, Py_ssize_t n) noexcept nogil:
    """sum a_i b_i in index order."""
    cdef double total = 0.0
    cdef Py_ssize_t i
    for i in range(n):
        total += a[i] * b[i]
    return total


cdef double fraction(double lo, double f_lo, double slope_lo, double hi, double f_hi,
                     double slope_hi, bint slope_hi_known) noexcept nogil:
    """Where to try next in [lo, hi], as a fraction t of the way from lo to hi: the
    minimum of the cubic through f and the slope at both ends (Nocedal and Wright,
    eq. 3.59), or, without the slope at hi (or a minimum), of the quadratic through
    f at both and the slope at lo; kept within [0.1, 0.9]."""
    cdef double width = hi - lo, t = 0.0, d1, disc, d2, a
    cdef bint found = False
    if slope_hi_known:
        d1 = slope_lo + slope_hi - 3.0 * (f_lo - f_hi) / (lo - hi)
        disc = d1 * d1 - slope_lo * slope_hi
        if disc >= 0.0:
            d2 = copysign(sqrt(disc), width)
            a = hi - width * (slope_hi + d2 - d1) / (slope_hi - slope_lo + 2.0 * d2)
            t = (a - lo) / width
            found = True
    if not found:
        t = -slope_lo * width / (2.0 * (f_hi - f_lo - slope_lo * width))
    if not t >= 0.1:  # nan too
        return 0.1
    return 0.9 if t > 0.9 else t


cdef class LBFGSRule(Rule):
    """L-BFGS with a strong-Wolfe line search; the pairs (s, y) live in a ring of
    up to `memory` rows, grown as they come."""
    cdef Py_ssize_t memory, max_linesearch
    cdef double c1, c2
    cdef Py_ssize_t capacity, count, first  # pairs held; the oldest's row
    cdef double gamma                            # s.y / y.y of the newest pair
    cdef double* S
    cdef double* Y
    cdef double* rho
    cdef double* alpha
    cdef double* d
    cdef double* xt
    cdef double* gt

    def __cinit__(self, params, double learning_rate, *args):
        self.memory = min(params.memory, PY_SSIZE_T_MAX // 2)  # beyond any run's reach
        self.max_linesearch = min(params.max_linesearch, PY_SSIZE_T_MAX)
        self.c1, self.c2 = params.c1, params.c2
        self.searches = True
        self.projects = False  # its pairs and Wolfe tests assume unprojected steps
        self.failure = WOLFE_FAILED

    def __dealloc__(self):
        self.release()

    cdef void release(self) noexcept:
        PyMem_RawFree(self.S)
        PyMem_RawFree(self.Y)
        PyMem_RawFree(self.rho)
        PyMem_RawFree(self.alpha)
        PyMem_RawFree(self.d)
        PyMem_RawFree(self.xt)
        PyMem_RawFree(self.gt)
        self.S = self.Y = self.rho = self.alpha = self.d = self.xt = self.gt = NULL

    cdef int start(self, Py_ssize_t n) except -1:
        self.release()  # a fresh state for every run
        self.n, self.capacity, self.count, self.first, self.gamma = n, 0, 0, 0, 1.0
        self.d = <double*> PyMem_RawMalloc(n * sizeof(double))
        self.xt = <double*> PyMem_RawMalloc(n * sizeof(double))
        self.gt = <double*> PyMem_RawMalloc(n * sizeof(double))
        if self.d == NULL or self.xt == NULL or self.gt == NULL:
            raise MemoryError()
        return 0

    def save(self):
        """The pairs oldest first, (count, n) arrays, and gamma ({}: none held)."""
        cdef Py_ssize_t j, k, n = self.n
        if self.count == 0:
            return {}
        S, Y, rho = np.empty((self.count, n)), np.empty((self.count, n)), np.empty(self.count)
        for j in range(self.count):
            k = (self.first + j) % self.memory
            S[j] = copy_out(self.S + k * n, n)
            Y[j] = copy_out(self.Y + k * n, n)
            rho[j] = self.rho[k]
        return {"s": S, "y": Y, "rho": rho, "gamma": self.gamma}

    def load(self, dict buffers):
        cdef Py_ssize_t j, n = self.n, held, keep
        if "rho" not in buffers:
            return
        held = len(buffers["rho"])
        keep = min(held, self.memory)  # the newest pairs this run's memory holds
        self.reserve(keep)
        for j in range(keep):
            copy_in(self.S + j * n, n, buffers["s"][held - keep + j])
            copy_in(self.Y + j * n, n, buffers["y"][held - keep + j])
            self.rho[j] = buffers["rho"][held - keep + j]
        self.count, self.first, self.gamma = keep, 0, buffers["gamma"]

    cdef int grow(self) except -1 nogil:
        """Room for more pairs (before the ring is full, rows 0..count-1 are in order)."""
        return self.reserve(min(self.memory, 2 * self.capacity + 4))

    cdef int reserve(self, Py_ssize_t capacity) except -1 nogil:
        """Room for `capacity` pairs, rows 0..count-1 kept."""
        cdef double* S
        cdef double* Y
        cdef double* rho
        cdef double* alpha
        if capacity > PY_SSIZE_T_MAX // sizeof(double) // self.n:
            with gil:
                raise MemoryError()
        S = <double*> PyMem_RawRealloc(self.S, capacity * self.n * sizeof(double))
        if S != NULL:
            self.S = S
        Y = <double*> PyMem_RawRealloc(self.Y, capacity * self.n * sizeof(double))
        if Y != NULL:
            self.Y = Y
        rho = <double*> PyMem_RawRealloc(self.rho, capacity * sizeof(double))
        if rho != NULL:
            self.rho = rho
        alpha = <double*> PyMem_RawRealloc(self.alpha, capacity * sizeof(double))
        if alpha != NULL:
            self.alpha = alpha
        if S == NULL or Y == NULL or rho == NULL or alpha == NULL:
            with gil:
                raise MemoryError()
        self.capacity = capacity
        return 0

    cdef void direction(self, const double* g) noexcept nogil:
        """d = -H g by the two-loop recursion."""
        cdef Py_ssize_t n = self.n, i, j, k
        cdef double beta
        cdef double* s
        cdef double* y
        memcpy(self.d, g, n * sizeof(double))
        for j in range(self.count - 1, -1, -1):
            k = (self.first + j) % self.memory
            s, y = self.S + k * n, self.Y + k * n
            self.alpha[j] = self.rho[k] * dot(s, self.d, n)
            for i in range(n):
                self.d[i] = self.d[i] - self.alpha[j] * y[i]
        for i in range(n):
            self.d[i] = self.gamma * self.d[i]
        for j in range(self.count):
            k = (self.first + j) % self.memory
            s, y = self.S + k * n, self.Y + k * n
            beta = self.rho[k] * dot(y, self.d, n)
            for i in range(n):
                self.d[i] = self.d[i] + (self.alpha[j] - beta) * s[i]
        for i in range(n):
            self.d[i] = -self.d[i]

    cdef int trial_gradient(self, Evaluator ev, Iterate* it) except -1 nogil:
        """gt = the gradient at xt; 0 if xt's stencil has no usable step."""
        if stencil_place(it.s, self.xt, it.w.coord, it.w.value) >= 0:
            return 0
        stencil_gradient(ev, it.s, self.xt, it.w, self.gt)
        it.nfev += it.s.k
        return 1

    cdef int search(self, Evaluator ev, Iterate* it, double slope, double step) except -1 nogil:
        """A step along d satisfying the strong Wolfe conditions: 1 (x_new, f_new and
        g_new written), or 0.  Nocedal and Wright's algorithms 3.5 and 3.6 in one
        loop: [lo, hi] brackets a step once hi is known (lo: the best step with
        sufficient decrease so far); until then the step doubles."""
        cdef Py_ssize_t n = self.n, i, trials
        cdef double lo = 0.0, f_lo = it.fx, slope_lo = slope, hi = 0.0, f_hi = 0.0
        cdef double slope_hi = 0.0, f_trial, slope_trial, width
        cdef bint bracketed = False, finite, have_g, slope_hi_known = False
        for trials in range(self.max_linesearch):
            finite = True
            for i in range(n):
                self.xt[i] = it.x[i] + step * self.d[i]
                finite = finite and isfinite(self.xt[i])
            f_trial = INFINITY
            have_g = False
            if finite:
                if it.s.scheme.center or it.s.bounded:  # f comes with the gradient
                    have_g = self.trial_gradient(ev, it)
                    if have_g:
                        f_trial = it.w.fval[0]
                else:
                    ev.evaluate_at(self.xt, n, &f_trial)
                    it.nfev += 1
            if not isfinite(f_trial):
                f_trial = INFINITY
            if f_trial > it.fx + self.c1 * step * slope or f_trial >= f_lo:
                hi, f_hi, bracketed, slope_hi_known = step, f_trial, True, False
                if have_g and isfinite(f_trial) and all_finite(self.gt, n):
                    slope_hi = dot(self.gt, self.d, n)  # known for free (method="forward")
                    slope_hi_known = True
            else:
                if not have_g:
                    have_g = self.trial_gradient(ev, it)
                if not have_g or not all_finite(self.gt, n):
                    hi, f_hi, bracketed, slope_hi_known = step, INFINITY, True, False
                else:
                    slope_trial = dot(self.gt, self.d, n)
                    if fabs(slope_trial) <= -self.c2 * slope:
                        memcpy(it.x_new, self.xt, n * sizeof(double))
                        memcpy(it.g_new, self.gt, n * sizeof(double))
                        it.f_new = f_trial
                        return 1
                    if not bracketed:
                        if slope_trial >= 0.0:
                            hi, f_hi, bracketed = lo, f_lo, True
                            slope_hi, slope_hi_known = slope_lo, True
                    elif slope_trial * (hi - lo) >= 0.0:
                        hi, f_hi, slope_hi, slope_hi_known = lo, f_lo, slope_lo, True
                    lo, f_lo, slope_lo = step, f_trial, slope_trial
            if not bracketed:
                step = 2.0 * step
            else:
                width = hi - lo
                step = lo + fraction(lo, f_lo, slope_lo, hi, f_hi, slope_hi,
                                     slope_hi_known) * width
                if step == lo or step == hi:
                    break
        return 0

    cdef int propose(self, Evaluator ev, Iterate* it) except -1 nogil:
        cdef Py_ssize_t n = self.n, i, k
        cdef double slope, sy, yy
        cdef int found
        cdef double* s
        cdef double* y
        while True:
            if self.count > 0:
                self.direction(it.g)
                slope = dot(it.g, self.d, n)
                if not slope < 0.0:  # not a descent direction (nan included): start again
                    self.count = self.first = 0
                    continue
                found = self.search(ev, it, slope, 1.0)
            else:
                for i in range(n):
                    self.d[i] = -it.g[i]
                found = self.search(ev, it, -it.g_squared, self.learning_rate / sqrt(it.g_squared))
            if found or self.count == 0:
                break
            self.count = self.first = 0  # no step along the L-BFGS direction: try -g
        if not found:
            return 0
        # The pair of this update (in xt, gt, free now), kept in the ring's next row
        # (the oldest's, once full).
        s, y = self.xt, self.gt
        for i in range(n):
            s[i] = it.x_new[i] - it.x[i]
            y[i] = it.g_new[i] - it.g[i]
        sy, yy = dot(s, y, n), dot(y, y, n)
        if sy > 2.220446049250313e-16 * yy:  # curvature that keeps H positive definite
            if self.count < self.memory and self.count == self.capacity:
                self.grow()
            k = (self.first + self.count) % self.memory
            memcpy(self.S + k * n, s, n * sizeof(double))
            memcpy(self.Y + k * n, y, n * sizeof(double))
            self.rho[k] = 1.0 / sy
            self.gamma = sy / yy
            if self.count < self.memory:
                self.count += 1
            else:
                self.first = (self.first + 1) % self.memory
        it.g_known = True
        return 1


# -- the record of the path ------------------------------------------------------

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
        # Growth by half: the buffers are at most 1.5 times the path, and
        # path_arrays() hands them to numpy trimmed, without a copy.
        capacity = p.capacity + p.capacity // 2 + 16
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


cdef void free_buffer(object capsule) noexcept:
    PyMem_RawFree(PyCapsule_GetPointer(capsule, NULL))


cdef object owned_array(double* data, int ndim, cnp.npy_intp* shape):
    """An ndarray over data, which it frees (data must come from PyMem_Raw*)."""
    try:
        owner = PyCapsule_New(data, NULL, free_buffer)  # frees data if what follows fails
    except BaseException:
        PyMem_RawFree(data)
        raise
    array = cnp.PyArray_SimpleNewFromData(ndim, shape, cnp.NPY_FLOAT64, data)
    cnp.set_array_base(array, owner)
    return array


cdef tuple path_arrays(Path* p):
    """The path as (path, path_fun) arrays that take over the buffers: trimmed
    to the path's length, never copied (the record's memory peaks at the
    buffers' size, not at twice the path)."""
    cdef cnp.npy_intp shape[2]
    cdef double* xs = <double*> PyMem_RawRealloc(p.xs, p.length * p.n * sizeof(double))
    cdef double* fs = <double*> PyMem_RawRealloc(p.fs, p.length * sizeof(double))
    if xs != NULL:  # a failed trim leaves the buffer as it was
        p.xs = xs
    if fs != NULL:
        p.fs = fs
    shape[0], shape[1] = p.length, p.n
    xs, p.xs = p.xs, NULL  # the arrays own them now (or, on an error, their capsules)
    path_x = owned_array(xs, 2, shape)
    fs, p.fs = p.fs, NULL
    return path_x, owned_array(fs, 1, shape)


# -- the loop ----------------------------------------------------------------------

cdef struct Outcome:
    Stop reason
    Py_ssize_t n
    Py_ssize_t nit, nfev
    Py_ssize_t coordinate  # STENCIL_LOST: the coordinate whose step vanished
    double norm
    double fun             # f at the returned x


cdef struct Settings:
    Py_ssize_t max_iter
    double tol
    double ftol            # < 0: no test on the change of f
    bint tracking          # f is evaluated along the iterates
    bint plain             # the rule is an SGDRule: the loop makes plain_step itself
    Py_ssize_t nfev0       # evaluations made before the loop (h="auto"'s probe)


cdef inline bint all_finite(const double* v, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if not isfinite(v[i]):
            return False
    return True


cdef int hook(object callback, object report, object progress, const double* x,
              const double* g, double fx, const Outcome* out, bint* stop,
              Py_ssize_t* next_call) except -1 nogil:
    """The callback (with x, or with report(x, fun, grad, nit, nfev) for an
    intermediate_result) and the progress; sets the updates to the next call."""
    cdef Py_ssize_t n = out.n
    with gil:
        if callback is not None:
            value = copy_out(x, n)
            if report is not None:
                value = report(value, fx, copy_out(g, n), out.nit, out.nfev)
            stop[0] = call_back(callback, value)  # true or StopIteration: stop
            next_call[0] = 1
        if progress is not None:
            every = progress.step(out.nit, out.nfev, out.norm, fx)
            if callback is None:
                next_call[0] = max(1, every)
    return 0


cdef inline double largest(const double* v, Py_ssize_t n) noexcept nogil:
    """max |v_i| (v finite)."""
    cdef double top = 0.0
    cdef Py_ssize_t i
    for i in range(n):
        top = fmax(top, fabs(v[i]))
    return top


cdef inline int new_iterate(const Stencil* s, const double* x, double* x_new, const double* g,
                            double learning_rate, Py_ssize_t* bad, bint step,
                            int kind) noexcept nogil:
    """The checks of a new iterate in one pass, in their order of precedence:
    STEP_NOT_FINITE (a coordinate is not finite), STEP_LOST (x_new == x),
    STENCIL_LOST (bad: the first coordinate whose stencil has no usable step,
    as stencil_place tells it), or -1: x_new will do.  step: the pass makes
    x_new too, the plain step x - learning_rate g (else the rule made it).
    kind: the stencil's, if the caller was compiled for one, else KIND_ANY."""
    if kind == KIND_ANY:
        kind = stencil_kind(s)
    if kind == KIND_PAIR:
        return iterate_checks(s, x, x_new, g, learning_rate, bad, step, KIND_PAIR)
    if kind == KIND_FIXED:
        return iterate_checks(s, x, x_new, g, learning_rate, bad, step, KIND_FIXED)
    return iterate_checks(s, x, x_new, g, learning_rate, bad, step, KIND_GENERAL)


cdef inline int iterate_checks(const Stencil* s, const double* x, double* x_new,
                               const double* g, double learning_rate, Py_ssize_t* bad,
                               bint step, int kind) noexcept nogil:
    cdef Py_ssize_t i, first_bad = -1
    cdef bint finite = True, same = True
    cdef double v
    for i in range(s.n):
        if step:
            v = plain_coordinate(x[i], g[i], learning_rate)
            x_new[i] = v
        else:
            v = x_new[i]
        finite &= isfinite(v) != 0
        same &= v == x[i]
        if first_bad < 0 and place_coordinate(s, x_new, i, NULL, NULL, False, kind) < 0:
            first_bad = i
    bad[0] = first_bad
    if not finite:
        return STEP_NOT_FINITE
    if same:
        return STEP_LOST
    if first_bad >= 0:
        return STENCIL_LOST
    return -1


cdef inline double squares(const double* g, Py_ssize_t n) noexcept nogil:
    """sum of g_i**2, in order of i (stencil_direct's sum)."""
    cdef double total = 0.0
    cdef Py_ssize_t i
    for i in range(n):
        total += g[i] * g[i]
    return total


cdef int descend(Evaluator ev, Rule rule, const Stencil* s, Workspace* w, double* x,
                 double* g, double* x_new, double* g_old, const Settings* run, object callback,
                 object report, object progress, Path* path, Outcome* out) except -1 nogil:
    """Gradient descent from x, whose stencil is already placed; x ends as the returned
    iterate and g as its gradient (g_old: room for a second gradient).

    The loop is descend_loop, compiled from its one source for two cases: `lean`,
    plain SGD on a compiled objective with the central pair at fixed steps and
    nothing to watch but the iterates (no f along them, no bounds, callback or
    progress), where what the other options cost per step -- tests included --
    compiles away and the step is made in the new iterate's pass of checks; and
    any other run."""
    if (run.plain and not run.tracking and callback is None and progress is None
            and ev.direct != NULL and not ev.shared and stencil_kind(s) == KIND_PAIR):
        return descend_lean(ev, rule, s, w, x, g, x_new, g_old, run, callback, report,
                            progress, path, out)
    return descend_loop(ev, rule, s, w, x, g, x_new, g_old, run, callback, report, progress,
                        path, out, False, KIND_ANY)


cdef int descend_lean(Evaluator ev, Rule rule, const Stencil* s, Workspace* w, double* x,
                      double* g, double* x_new, double* g_old, const Settings* run,
                      object callback, object report, object progress, Path* path,
                      Outcome* out) except -1 nogil:
    # A function of its own: the compiler inlines the lean loop's helpers into
    # it, which it would not do into one function holding both loops (too large).
    return descend_loop(ev, rule, s, w, x, g, x_new, g_old, run, callback, report, progress,
                        path, out, True, KIND_PAIR)


cdef inline int descend_loop(Evaluator ev, Rule rule, const Stencil* s, Workspace* w,
                             double* x, double* g, double* x_new, double* g_old,
                             const Settings* run, object callback, object report,
                             object progress, Path* path, Outcome* out, bint lean,
                             int kind) except -1 nogil:
    """descend's loop; lean and kind are constants at both calls (see descend).
    What it reads at every step is in locals: the objective is called through a
    pointer, and for all the compiler knows could change any memory behind one."""
    cdef Py_ssize_t n = s.n, k = s.k
    cdef Py_ssize_t nit = 0, nfev = run.nfev0, max_iter = run.max_iter
    cdef double tol = run.tol, learning_rate = rule.learning_rate
    cdef bint tracking = not lean and run.tracking   # f is evaluated along the iterates
    cdef bint bounded = not lean and s.bounded
    cdef bint hooks = not lean and (callback is not None or progress is not None)
    cdef Py_ssize_t rising = 0   # updates in a row after which the gradient norm was larger
    cdef double total, norm = NAN, fx = NAN, fx_old = NAN, norm_old = NAN
    cdef double top0 = largest(x, n)
    cdef bint stop_requested = False, small_change = False
    cdef double* given = x       # x and x_new trade places on each update, g and g_old too
    cdef double* given_g = g
    cdef double* fval = w.fval
    cdef Py_ssize_t* countdown = ev.countdown
    cdef Iterate it
    cdef int found
    cdef bint g_known = False  # the rule gave the gradient at x
    # A gil-free evaluator moves the coordinates of the iterate itself (restored
    # bit for bit; x is this run's own): no copy of x per gradient.  (Streaming,
    # one evaluate() per coordinate, costs more per step at small n.)
    cdef bint in_place = ev.gil_free
    cdef Py_ssize_t bad
    # updates to the next call of the hook (a callback or progress)
    cdef Py_ssize_t next_call = 1
    it.n, it.s, it.w = n, s, w
    it.nfev, it.g_known = 0, False  # as a plain step leaves them
    out.n = n
    it.lb = s.lb if bounded else NULL
    it.ub = s.ub if bounded else NULL
    out.coordinate = -1
    if tracking:
        ev.evaluate_at(x, n, &fx)
        nfev += 1
        if path != NULL:
            path_append(path, x, fx)
    while True:
        if g_known:
            total = squares(g, n)
        elif take_points(countdown, k) if lean else direct_ready(ev, k):
            # the objective called here, x moved in place
            stencil_direct(ev, s, x, fval, g, &total, kind)
            nfev += k
        else:
            stencil_place(s, x, w.coord, w.value)  # (its stencil only checked)
            gradient_with(ev, s, x, w, x if in_place else w.scratch, g)
            nfev += k
            total = squares(g, n)
        # A finite sum means a finite gradient; only an infinite one needs a look.
        if not isfinite(total) and not all_finite(g, n):
            if nit == 0:
                out.reason = START_NOT_FINITE
                norm = NAN
                break
            # Back to the last iterate with a finite gradient: the previous one,
            # still in x_new and g_old (f at it in fx_old).
            x, x_new = x_new, x
            g, g_old = g_old, g
            fx = fx_old
            norm = norm_old
            nit -= 1
            if tracking and path != NULL:
                path.length -= 1
            out.reason = GRADIENT_NOT_FINITE
            break
        norm = sqrt(total)
        if bounded:  # the projected gradient: what can still move x
            norm = projected_norm(x, g, s.lb, s.ub, n)
        if nit > 0:
            rising = rising + 1 if norm > norm_old else 0
            if hooks:
                next_call -= 1
                if next_call == 0:
                    out.nit, out.nfev, out.norm = nit, nfev, norm
                    hook(callback, report, progress, x, g, fx, out, &stop_requested,
                         &next_call)
        if norm <= tol:
            out.reason = CONVERGED
            break
        if stop_requested:
            out.reason = CALLBACK
            break
        if small_change:
            out.reason = FTOL
            break
        if nit == max_iter:
            out.reason = MAX_ITER
            break
        if lean:  # the plain step, made in the pass that checks it
            found = new_iterate(s, x, x_new, g, learning_rate, &bad, True, kind)
        else:
            if run.plain:
                plain_step(x_new, x, g, n, learning_rate)
                found = 1
            else:
                it.x, it.g, it.g_squared, it.fx, it.x_new, it.nfev = x, g, total, fx, x_new, 0
                it.g_new, it.g_known = g_old, False
                found = rule.propose(ev, &it)
            nfev += it.nfev
            if not found:
                out.reason = rule.failure
                break
            if bounded:  # the iterate projected onto the box
                project(x_new, s.lb, s.ub, n)
            found = new_iterate(s, x, x_new, g, learning_rate, &bad, False, kind)
        if found >= 0:
            out.reason = <Stop> found
            if found == STENCIL_LOST:
                out.coordinate = bad
            break
        if tracking:
            if not rule.searches:
                ev.evaluate_at(x_new, n, &it.f_new)
                nfev += 1
            # f itself decides (ftol, a line search): an inf or nan f would pass
            # their tests.  Recording alone only looks on.
            if not isfinite(it.f_new) and (run.ftol >= 0.0 or rule.searches):
                out.reason = F_NOT_FINITE
                break
        x, x_new = x_new, x
        g, g_old = g_old, g
        norm_old = norm
        nit += 1
        if not lean:
            g_known = it.g_known
        if tracking:
            if run.ftol >= 0.0:
                small_change = fabs(fx - it.f_new) <= run.ftol * fmax(
                    fmax(fabs(fx), fabs(it.f_new)), 1.0)
            fx_old = fx
            fx = it.f_new
            if path != NULL:
                path_append(path, x, fx)
    out.nit, out.nfev, out.norm = nit, nfev, norm
    if (out.reason == GRADIENT_NOT_FINITE or out.reason == STEP_NOT_FINITE
            or out.reason == STENCIL_LOST or out.reason == F_NOT_FINITE) \
            and out.nit >= 1 and rising >= min(out.nit, <Py_ssize_t> RISES) \
            and largest(x, n) >= GROWTH * fmax(1.0, top0):
        out.reason = DIVERGED
    if not tracking:
        ev.evaluate_at(x, n, &fx)
        out.nfev += 1
    out.fun = fx
    if x != given:
        memcpy(given, x, n * sizeof(double))
    if g != given_g:
        memcpy(given_g, g, n * sizeof(double))
    return 0


def descent(Evaluator ev, cnp.ndarray x, h, StencilRow row, Rule rule, Py_ssize_t max_iter,
            double tol, ftol, callback, bint record, bounds=None, dict buffers=None,
            report=None, progress=None):
    """Run gradient descent from x (a new float64 array of the API's: it becomes
    result.x).  Returns the bad coordinate (an int) if x's stencil has no usable
    step, else the outcome: (reason, x, fun, grad, nit, nfev, norm, coordinate,
    path, path_fun).

    buffers: a saved state for the rule (else it starts afresh); report: what
    the callback gets in place of x (built from x, fun, grad, nit, nfev: f is
    then evaluated along the iterates); progress: an object whose
    step(nit, nfev, norm, fun) returns the updates to its next call."""
    cdef double* xp = <double*> cnp.PyArray_DATA(x)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x), bad, probes = 0
    cdef Stencil s
    cdef Workspace w
    cdef Path path
    cdef Outcome out
    cdef Settings run
    cdef Steps steps = Steps(h)
    cdef double* gp
    cdef double* x_new_p
    cdef double* g_old = NULL
    run.max_iter, run.tol = max_iter, tol
    run.ftol = -1.0 if ftol is None else ftol
    run.tracking = record or ftol is not None or rule.searches or report is not None
    run.plain = type(rule) is SGDRule
    path.n = n
    path.length = path.capacity = 0
    path.xs = path.fs = NULL
    stencil_init(&s, row, n, steps, bounds)  # bounds: (lb, ub) float64 vectors, or None
    workspace_alloc(&w, s.k, n if ev.gil_free else 0, False)
    try:
        bad = stencil_place(&s, xp, w.coord, w.value)
        if bad >= 0:
            return bad
        ev.ready(n)
        if steps.relative > 0.0:  # h="auto": the precision of f, once, at x0
            probe_precision(ev, &s, steps, xp, &probes)
            bad = stencil_place(&s, xp, w.coord, w.value)
            if bad >= 0:
                return bad
        rule.start(n)
        if buffers is not None:
            rule.load(buffers)
        run.nfev0 = probes
        g = new_vector(n)
        x_new = new_vector(n)
        gp = <double*> cnp.PyArray_DATA(g)
        x_new_p = <double*> cnp.PyArray_DATA(x_new)
        g_old = <double*> PyMem_RawMalloc(n * sizeof(double))
        if g_old == NULL:
            raise MemoryError()
        if ev.gil_free:  # a callback takes the GIL for its own call only
            with nogil:
                descend(ev, rule, &s, &w, xp, gp, x_new_p, g_old, &run, callback, report,
                        progress, &path if record else NULL, &out)
        else:
            descend(ev, rule, &s, &w, xp, gp, x_new_p, g_old, &run, callback, report,
                    progress, &path if record else NULL, &out)
        if record:
            path_x, path_fun = path_arrays(&path)
        else:
            path_x = path_fun = None
    finally:
        workspace_free(&w)
        PyMem_RawFree(g_old)
        PyMem_RawFree(path.xs)
        PyMem_RawFree(path.fs)
    return (out.reason, x, out.fun, g, out.nit, out.nfev, out.norm, out.coordinate,
            path_x, path_fun)
