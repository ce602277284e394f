"""Second derivatives: hessian, hessian_vector and the prepared Hessian.

The stencils are rows of ``_stencils.SECOND`` (the diagonal's Fornberg weights
and the mixed entries' products of first-derivative weights, central orders
2-8); ``_curvature`` runs the Hessian's loop on every tier, and
``hessian_vector`` combines gradients (``_stencil.gradient``) taken at points
moved along v.  Arguments are checked in ``fastgrad.reference``'s order; its
``hessian`` / ``hessian_vector`` are the same operations, so the bits agree.

Two steps, so that ``Hessian(f, **options)`` checks the options once: the
options become a ``_Plan`` (f, the row, the flags, h as far as it is known
without x); ``_Plan.hessian(x)`` checks x (and h against its length) and runs.
"""

import numpy as np

from . import _arguments as arguments
from . import _contract as contract
from . import _curvature, _stencil, _workers
from ._api import _ROWS, _evaluator, _no_usable_step
from ._evaluators import MapEvaluator
from ._prepared import HESSIAN_DEFAULTS, Prepared
from ._accuracy import HessianResult, estimate_hessian, no_hessian_estimate
from ._stencils import EPS32, EPS64, SECOND, second_auto_step, second_stencil

#: Every row of _stencils.SECOND in C form, made once.
_SECOND_ROWS = {order: _curvature.SecondRow(row) for order, row in SECOND.items()}


class _Plan:
    """The options of a second derivative, checked; h too where x is not needed."""

    __slots__ = ("f", "args", "h", "sequence", "row", "table_row", "unpack", "vectorized",
                 "workers")

    def __init__(self, f, h, method, order, args, unpack, vectorized, name, n=None,
                 workers=None):
        self.workers = workers  # as given (None: serial); opened per call
        self.f = contract.as_objective(f, args)  # a C callback becomes a CFunction objective
        self.args = tuple(args)
        # n known (the functions): h as the kernels take it.  Else (Hessian) a
        # number or a rule is checked now, a sequence against each x's length.
        self.sequence = None
        if n is not None:
            self.h = arguments.steps(h, n)
        elif contract.is_real(h) or isinstance(h, str):
            self.h = arguments.steps(h, 1)  # n plays no part
        else:
            self.h, self.sequence = None, h
        self.table_row = second_stencil(contract.check_method(method), order)
        self.row = _SECOND_ROWS[self.table_row.order]
        self.unpack = contract.check_flag(unpack, "unpack")
        self.vectorized = contract.check_flag(vectorized, "vectorized")
        if isinstance(self.h, str):
            if self.h == "adaptive":
                raise contract.second_rule_only(name)
            self.h = (second_auto_step(self.table_row, EPS64),
                      second_auto_step(self.table_row, EPS32))

    def steps(self, x):
        """h for x: a sequence checked against x's length."""
        if self.sequence is None:
            return self.h
        return arguments.steps(self.sequence, x.shape[0])

    def evaluator(self, n, engine):
        """The tier for f; spread over engine (an opened ``_workers.Engine``) if given:
        f and args checked to travel first (TypeError naming workers)."""
        if engine is None:
            return _evaluator(self.f, self.args, n, self.unpack, self.vectorized)
        engine.check_sendable(self.f, self.args)
        return MapEvaluator(engine, self.f, self.args, n, self.unpack, self.vectorized,
                            contract.vectorized_rows_per_call(n))

    def hessian(self, x, h, full_output=False, engine=None):
        if engine is None and self.workers is not None:  # Hessian(..., workers=w)(x)
            with _workers.Engine(self.workers) as engine:
                return self.hessian(x, h, full_output, engine)
        evaluator = self.evaluator(x.shape[0], engine)
        fx = np.empty(1) if full_output else None
        H = _curvature.hessian(evaluator, x, h, self.row, fx)
        if type(H) is int:
            raise _no_usable_step(x, h, H, evaluator=evaluator)
        if evaluator.low_precision and type(h) is not tuple:
            contract.warn_low_precision()
        if not full_output:
            return H
        return self.estimate(evaluator, x, h, H, float(fx[0]))

    def estimate(self, evaluator, x, h, H, fx):
        """The HessianResult of H (steps h): the Hessian again with steps 2h."""
        n, row = x.shape[0], self.table_row
        if type(h) is tuple:
            steps = _relative(h[1] if evaluator.low_precision else h[0], x)
            doubled = (2.0 * h[0], 2.0 * h[1])
        else:
            steps = np.full(n, h) if type(h) is float else h.copy()
            doubled = 2.0 * h
        H_double = _curvature.hessian(evaluator, x, doubled, self.row)
        if type(H_double) is int:  # 2h leaves the usable range: no estimate
            return HessianResult(hess=H, error=np.full((n, n), np.inf), nfev=row.points(n),
                                 success=False, message=no_hessian_estimate(H_double),
                                 step=steps)
        errors, success, message = estimate_hessian(H.tolist(), H_double.tolist(), fx,
                                                    x.tolist(), steps.tolist(), row,
                                                    evaluator.low_precision)
        return HessianResult(hess=H, error=np.array(errors), nfev=2 * row.points(n),
                             success=success, message=message, step=steps)


def hessian(f, x, h=1e-4, *, method="central", order=None, bounds=None, args=(),
            unpack=False, vectorized=False, full_output=False, workers=None):
    """Finite-difference Hessian of a scalar function f at x: (n, n), exactly symmetric.

    For coordinate i the points are x_i + o h_i for the offsets o of the
    central row of the order (+-1 at order 2; +-1, +-2 at order 4, ...), and
    r_i = ((x_i + h_i) - (x_i - h_i)) / 2 is the realised step.  At order 2:

        H_ii = (f(x + h_i e_i) - 2 f(x) + f(x - h_i e_i)) / r_i**2
        H_ij = (f(x + h_i e_i + h_j e_j) - f(x + h_i e_i - h_j e_j)
                - f(x - h_i e_i + h_j e_j) + f(x - h_i e_i - h_j e_j)) / (4 r_i r_j)

    Higher orders are rows of the same table (``fastgrad._stencils.SECOND``):
    Fornberg's second-derivative weights on the diagonal, products of the
    first-derivative weights off it.  Only i < j is computed and H_ji = H_ij,
    so the result is symmetric bit for bit.

    Evaluations: ``1 + n p + n (n - 1) / 2 * p**2`` for order p (``2 n**2 + 1``
    at order 2): f(x) first, then for i = 0..n-1 and each offset a, x with
    x_i moved by a h_i, followed by its mixed points with x_j (j > i) moved.

    Parameters
    ----------
    f, x, args, unpack, vectorized
        As for :func:`fastgrad.gradient`; every tier (Python, vectorized,
        compiled objectives and C callbacks, without the GIL) gives the same
        values as ``fastgrad.reference.hessian``.
    h : float, sequence of n floats, or "auto"
        Positive, finite step(s); "auto": ``c * max(1, |x_i|)`` with
        ``c = eps ** (1 / (order + 2))`` (truncation ~ h**p against rounding
        ~ eps / h**2: 1.2e-4 at order 2), eps that of the precision f computes
        in (f(x), evaluated first anyway, tells).  The default 1e-4 is
        eps ** (1/4) for double precision and order 2.
    method : "central"
        Only central second differences (a one-sided method is a ValueError).
    order : {2, 4, 6, 8}, optional
        Accuracy order (default 2).
    bounds : None
        Not offered for second derivatives yet (a ValueError says so).
    full_output : bool
        Return a HessianResult (hess, error, nfev, success, message, step):
        the error is estimated from a second Hessian with steps 2h
        (``fastgrad._accuracy.estimate_hessian``), 2 (1 + n p + n (n - 1) / 2 p**2)
        evaluations in all.
    workers : None, int, map-like callable, Executor or dask Client
        As for :func:`fastgrad.gradient`: f's evaluations (f(x) first, then
        each block of the Hessian's points) spread over them; the same result,
        bit for bit, with the same evaluations in the same order.

    Returns
    -------
    ndarray of shape (n, n), float64, or HessianResult

    Raises
    ------
    TypeError, ValueError
        As for :func:`fastgrad.gradient`; ValueError for method other than
        "central" and for h="adaptive" (not offered for second derivatives).

    Examples
    --------
    >>> import fastgrad
    >>> H = fastgrad.hessian(lambda x, y: x**2 * y + 3 * x * y**3, [1.0, 2.0], unpack=True)
    >>> H.round(4)
    array([[ 4., 38.],
           [38., 36.]])
    >>> bool((H == H.T).all())
    True
    """
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(hessian, locals())  # back here with the engine opened
    f = contract.as_objective(f, args)
    x = arguments.point(x)
    plan = _Plan(f, h, method, order, args, unpack, vectorized, "hessian", x.shape[0])
    if full_output is not False:
        full_output = contract.check_flag(full_output, "full_output")
    if bounds is not None:
        raise contract.second_without_bounds("hessian")
    return plan.hessian(x, plan.h, full_output, workers)


def hessian_vector(f, x, v, h=1e-5, *, method="central", order=None, args=(), unpack=False,
                   vectorized=False, workers=None):
    """H(x) @ v without forming H: a central difference of gradients along v.

    With s = min over v_j != 0 of h_j / |v_j| (no coordinate moves farther
    than its own step) and w_a the first-derivative weights of the central
    row's offsets a (order 2: +-1/2),

        H v = (sum_a w_a * gradient(f, x + (a s) v, h)) / s

    (order 2: ``(g(x + s v) - g(x - s v)) / (2 s)``), each gradient the central
    one of the same order with steps h.  That is the Hessian's mixed stencil
    between v and each coordinate: the same accuracy order, ``p**2 n``
    evaluations (4 n at order 2; h="auto": one more, f(x) first) and O(n)
    memory, against ``~2 n**2`` for the whole Hessian.  v = 0 gives zeros
    without evaluating f.

    Parameters
    ----------
    f, x, h, method, order, args, unpack, vectorized
        As for :func:`hessian` (h="auto": the gradient's steps relative to x).
    v : 1-D sequence of n real, finite numbers
        The direction.
    workers : None, int, map-like callable, Executor or dask Client
        As for :func:`hessian` (each gradient's points spread over them).

    Returns
    -------
    ndarray of shape (n,), float64

    Examples
    --------
    >>> import fastgrad
    >>> hv = fastgrad.hessian_vector(lambda x, y: x**2 * y + 3 * x * y**3, [1.0, 2.0],
    ...                              [1.0, 0.5], unpack=True)
    >>> hv.round(3)
    array([23., 56.])
    """
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(hessian_vector, locals())  # back here with the engine opened
    f = contract.as_objective(f, args)
    x = arguments.point(x)
    n = x.shape[0]
    plan = _Plan(f, h, method, order, args, unpack, vectorized, "hessian_vector", n)
    v = np.array(contract.direction_values(v, n), dtype=np.float64)
    evaluator = plan.evaluator(n, workers)
    table_row = plan.table_row
    first = _ROWS["central", table_row.order]
    h = plan.h
    steps = _relative(h[0], x) if type(h) is tuple else np.full(n, h) if type(h) is float else h
    if not v.any():
        return np.zeros(n)
    s, bases = _direction_points(x, v, steps, table_row)
    if type(h) is tuple:  # h="auto": f(x) tells the precision
        _curvature.value_at(evaluator, x)
        if evaluator.low_precision:
            steps = _relative(h[1], x)
            s, bases = _direction_points(x, v, steps, table_row)
    total = None
    for w, base in zip(table_row.float_first, bases):
        g = _stencil.gradient(evaluator, base, steps, first)  # checked: never an int
        total = w * g if total is None else total + w * g
    if evaluator.low_precision and type(h) is not tuple:
        contract.warn_low_precision()
    return total / s


def _relative(c, x):
    return c * np.maximum(1.0, np.abs(x))


def _direction_points(x, v, steps, row):
    """s and [x + (a s) v for the row's offsets a], each point and its gradient
    stencil checked, in the reference's order (the ValueError naming the
    first bad coordinate)."""
    moving = v != 0.0
    s = float((steps[moving] / np.abs(v[moving])).min())
    reach = [o for o in row.offsets if abs(o) > 1]
    bases = []
    for a in row.offsets:
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            base = x + (a * s) * v
        bad = ~np.isfinite(base)
        if bad.any():
            i = int(bad.argmax())
            raise ValueError(contract.direction_step_too_small(i, float(x[i]), s, float(v[i])))
        with np.errstate(over="ignore", invalid="ignore"):
            span = (base + steps) - (base - steps)
            bad = (span == 0.0) | ~np.isfinite(span)
            for o in reach:
                bad |= ~np.isfinite(base + o * steps)
        if bad.any():
            i = int(bad.argmax())
            raise ValueError(contract.step_too_small(i, float(base[i]), float(steps[i])))
        bases.append(base)
    return s, bases


class Hessian(Prepared):
    """A prepared Hessian: ``Hessian(f, **options)(x) == hessian(f, x, **options)``.

    The options (those of :func:`hessian`, workers included: a pool it makes
    is made and closed per call) are checked once, here; a step
    sequence is checked against x's length at each call.  numdifftools'
    convention.

    Examples
    --------
    >>> import fastgrad
    >>> H = fastgrad.Hessian(lambda x, y: x**2 * y + 3 * x * y**3, unpack=True)
    >>> H([1.0, 2.0]).round(4)
    array([[ 4., 38.],
           [38., 36.]])
    """

    __slots__ = ("_spec",)

    _function = staticmethod(hessian)
    _defaults = HESSIAN_DEFAULTS

    def _plan(self, f, options):
        workers = options["workers"]
        if workers is not None:
            _workers.Engine(workers)  # its checks (a pool is made only when tasks run)
        self._spec = _Plan(f, options["h"], options["method"], options["order"],
                           options["args"], options["unpack"], options["vectorized"],
                           "hessian", workers=workers)

    def __call__(self, x):
        """The Hessian at x, an (n, n) float64 array."""
        x = arguments.point(x)
        plan = self._spec
        return plan.hessian(x, plan.steps(x))
