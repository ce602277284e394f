"""Second derivatives: hessian, hessian_vector and the prepared Hessian.

The stencils are rows of ``_stencils.SECOND`` (the diagonal's Fornberg weights
and the mixed entries' products of first-derivative weights, central orders
2-8) and, within bounds, their one-sided sides (``_stencils.SECOND_SIDES``,
chosen per coordinate by ``_stencils.plan``); ``_curvature`` runs the Hessian's
loop on every tier (h="adaptive": once per step of its sequence, Richardson in
``_accuracy.hessian_richardson``), and
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
from ._accuracy import (HessianResult, adaptive_steps, estimate_hessian, hessian_richardson,
                        no_hessian_estimate)
from ._stencils import (EPS32, EPS64, SECOND, SECOND_SIDES, plan, second_auto_step,
                        second_mixed, second_points, second_stencil)

#: The sides of a coordinate within bounds, as SecondRow.side indexes them.
_SIDES = ("central", "forward", "backward")

#: Every order's rows of _stencils.SECOND_SIDES in C form, made once.
_SECOND_ROWS = {
    order: _curvature.SecondRow(
        [SECOND_SIDES[method, order] for method in _SIDES],
        [[second_mixed(SECOND_SIDES[a, order], SECOND_SIDES[b, order]) for b in _SIDES]
         for a in _SIDES])
    for order in SECOND}


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
                if name != "hessian":
                    raise contract.second_rule_only(name)
                return  # "adaptive" stays: hessian() runs its sequence of steps
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
                            contract.vectorized_rows_per_task(n))

    def hessian(self, x, h, full_output=False, engine=None, box=None):
        if engine is None and self.workers is not None:  # Hessian(..., workers=w)(x)
            with _workers.Engine(self.workers) as engine:
                return self.hessian(x, h, full_output, engine, box)
        evaluator = self.evaluator(x.shape[0], engine)
        if type(h) is str:  # "adaptive"
            return self.adaptive(evaluator, x, box, full_output)
        fx = np.empty(1) if full_output else None
        H, choices = self.run(evaluator, x, h, box, fx)
        if evaluator.low_precision and type(h) is not tuple:
            contract.warn_low_precision()
        if not full_output:
            return H
        return self.estimate(evaluator, x, h, H, float(fx[0]), box, choices)

    def run(self, evaluator, x, h, box, fx=None, raising=True):
        """(H, the choices (row, step) per coordinate) with steps h, within the
        bounds box if given (_stencils.plan: every coordinate's side and step
        chosen here, both precisions' for h="auto"); the ValueError naming a
        coordinate without a usable stencil, as the reference's (raising
        False: (its index, None))."""
        if box is None:
            H = _curvature.hessian(evaluator, x, h, self.row, fx)
            if type(H) is int:
                if not raising:
                    return H, None
                raise _no_usable_step(x, h, H, evaluator=evaluator)
            n = x.shape[0]
            if type(h) is tuple:
                steps = _relative(h[1] if evaluator.low_precision else h[0], x)
            else:
                steps = np.full(n, h) if type(h) is float else h
            return H, [(self.table_row, hi) for hi in steps.tolist()]
        points = x.tolist()
        if type(h) is tuple:  # h="auto": the steps for float64 and for float32 values
            plans = [self.choices(points, _relative(c, x).tolist(), box) for c in h]
        else:
            plans = [self.choices(points, (np.full(x.shape[0], h) if type(h) is float
                                           else h).tolist(), box)]
        (steps, sides, choices, wanted) = plans[0]
        single = plans[1][:2] if len(plans) > 1 else None
        H = _curvature.hessian(evaluator, x, steps, self.row, fx, sides, single)
        if single is not None and evaluator.low_precision:
            (steps, sides, choices, wanted) = plans[1]
        if type(H) is int:
            if not raising:
                return H, None
            raise contract.second_stencil_error(points, wanted, choices, H, box)
        return H, choices

    def choices(self, points, steps, box):
        """_stencils.plan's choice per coordinate within box, as the kernel takes
        it: (steps, sides, choices, the steps asked for)."""
        choices = plan(points, steps, self.table_row, box)
        return (np.array([1.0 if c is None else c[1] for c in choices]),
                np.array([-1 if c is None else _SIDES.index(c[0].method) for c in choices],
                         dtype=np.intp),
                choices, steps)

    def adaptive(self, evaluator, x, box, full_output):
        """h="adaptive": Hessians over a geometric sequence of steps, Richardson
        per entry (``_accuracy.hessian_richardson``), as the reference's."""
        rows, levels = adaptive_steps(x.tolist(), self.table_row, box)
        hessians, fx = [], np.empty(1)
        for level, steps in enumerate(levels):
            H, _ = self.run(evaluator, x, np.array(steps), box, fx if level == 0 else None)
            hessians.append(H.tolist())
        H, errors, used, success, message = hessian_richardson(
            hessians, levels, float(fx[0]), x.tolist(), rows, evaluator.low_precision)
        if not full_output:
            return np.array(H)
        return HessianResult(hess=np.array(H), error=np.array(errors),
                             nfev=len(levels) * second_points(rows), success=success,
                             message=message, step=np.array(used))

    def estimate(self, evaluator, x, h, H, fx, box, choices):
        """The HessianResult of H (steps h): the Hessian again with steps 2h."""
        n = x.shape[0]
        steps = np.array([step for _, step in choices])
        nfev = second_points([row for row, _ in choices])
        if type(h) is tuple:
            if box is None:
                steps = _relative(h[1] if evaluator.low_precision else h[0], x)
            doubled = (2.0 * h[0], 2.0 * h[1])
        else:
            doubled = 2.0 * h
        H_double, choices_double = self.run(evaluator, x, doubled, box, raising=False)
        if choices_double is None:  # 2h leaves the usable range: no estimate
            return HessianResult(hess=H, error=np.full((n, n), np.inf), nfev=nfev,
                                 success=False, message=no_hessian_estimate(H_double),
                                 step=steps)
        nfev += second_points([row for row, _ in choices_double])
        errors, success, message = estimate_hessian(H.tolist(), H_double.tolist(), fx,
                                                    x.tolist(), choices, choices_double,
                                                    evaluator.low_precision)
        return HessianResult(hess=H, error=np.array(errors), nfev=nfev,
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
    Within bounds, one more per coordinate whose row turned one-sided.

    Parameters
    ----------
    f, x, args, unpack, vectorized
        As for :func:`fastgrad.gradient`; every tier (Python, vectorized,
        compiled objectives and C callbacks, without the GIL) gives the same
        values as ``fastgrad.reference.hessian``.
    h : float, sequence of n floats, "auto" or "adaptive"
        Positive, finite step(s); "auto": ``c * max(1, |x_i|)`` with
        ``c = eps ** (1 / (order + 2))`` (truncation ~ h**p against rounding
        ~ eps / h**2: 1.2e-4 at order 2), eps that of the precision f computes
        in (f(x), evaluated first anyway, tells).  The default 1e-4 is
        eps ** (1/4) for double precision and order 2.
        "adaptive": the Hessian at the steps ``h_i = 0.1 max(1, |x_i|) / 2**l``,
        l = 0..9, and per entry Richardson extrapolation over them (as
        ``gradient(h="adaptive")``, with the rounding of a second difference,
        ~ eps |f| / (h_i h_j)), keeping the value with the smallest error
        estimate (``fastgrad._accuracy.hessian_richardson``).  Costs 10
        Hessians: ``10 (1 + n p + n (n - 1) / 2 p**2)`` evaluations (2010 for
        n = 10 at order 2); accurate to 1e-12 - 2e-10 of the Hessian's scale where
        "auto" gives 1e-8 - 6e-7 (benchmarks/accuracy.py).
    method : "central"
        Only central second differences (a one-sided method is a ValueError;
        bounds turn a coordinate's row one-sided where they must).
    order : {2, 4, 6, 8}, optional
        Accuracy order (default 2).
    bounds : (lb, ub), optional
        No point leaves ``lb <= x <= ub`` (scalars or sequences of n; -inf/inf
        leave a side open; x must lie inside).  As for the gradient
        (``_stencils.plan``): a coordinate whose central points do not fit
        takes the one-sided row of the same order (forward: offsets 1..p+1,
        backward: -1..-(p+1); ``_stencils.SECOND_SIDES``), or, if neither fits,
        the roomier side with the step shrunk to fit; a mixed entry is the
        product of the two coordinates' first-derivative rows (one-sided where
        theirs is).  No room at all is a ValueError naming the coordinate.
        With h="adaptive" each coordinate keeps one side over all its steps.
    full_output : bool
        Return a HessianResult (hess, error, nfev, success, message, step).
        The error is estimated from a second Hessian with steps 2h
        (``fastgrad._accuracy.estimate_hessian``), 2 (1 + n p + n (n - 1) / 2 p**2)
        evaluations in all; with h="adaptive" from the extrapolation itself
        (no extra evaluations), and step is (n, n): step[i, j] is h_i at the
        level H_ij came from.  success is False where an entry's estimate
        exceeds its scale (try another h).
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
        As for :func:`fastgrad.gradient` (bounds too); ValueError for method
        other than "central".

    Examples
    --------
    >>> import fastgrad
    >>> H = fastgrad.hessian(lambda x, y: x**2 * y + 3 * x * y**3, [1.0, 2.0], unpack=True)
    >>> H.round(4)
    array([[ 4., 38.],
           [38., 36.]])
    >>> bool((H == H.T).all())
    True
    >>> r = fastgrad.hessian(lambda x, y: x**2 * y + 3 * x * y**3, [1.0, 2.0], "adaptive",
    ...                      bounds=([1.0, 0.0], [3.0, 2.0]), unpack=True, full_output=True)
    >>> r.hess.round(8), r.success, r.nfev
    (array([[ 4., 38.],
           [38., 36.]]), True, 110)
    """
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(hessian, locals())  # back here with the engine opened
    f = contract.as_objective(f, args)
    x = arguments.point(x)
    plan = _Plan(f, h, method, order, args, unpack, vectorized, "hessian", x.shape[0])
    if full_output is not False:
        full_output = contract.check_flag(full_output, "full_output")
    box = contract.check_bounds(bounds, x.tolist())
    return plan.hessian(x, plan.h, full_output, workers, box)


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
    with np.errstate(over="ignore"):  # a tiny v_i: s = inf, refused below as the reference does
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
    convention.  h="adaptive" and bounds too (as :func:`hessian`'s; the
    bounds are checked against each x).

    Examples
    --------
    >>> import fastgrad
    >>> H = fastgrad.Hessian(lambda x, y: x**2 * y + 3 * x * y**3, unpack=True)
    >>> H([1.0, 2.0]).round(4)
    array([[ 4., 38.],
           [38., 36.]])
    """

    __slots__ = ("_spec", "_bounds")

    _function = staticmethod(hessian)
    _defaults = HESSIAN_DEFAULTS

    def _plan(self, f, options):
        workers = options["workers"]
        if workers is not None:
            _workers.Engine(workers)  # its checks (a pool is made only when tasks run)
        self._spec = _Plan(f, options["h"], options["method"], options["order"],
                           options["args"], options["unpack"], options["vectorized"],
                           "hessian", workers=workers)
        self._bounds = options["bounds"]  # checked against each x

    def __call__(self, x):
        """The Hessian at x, an (n, n) float64 array."""
        x = arguments.point(x)
        plan = self._spec
        steps = plan.steps(x)
        box = None if self._bounds is None else contract.check_bounds(self._bounds, x.tolist())
        return plan.hessian(x, steps, box=box)
