"""More derivatives: jacobian, derivative, check_grad and the prepared Jacobian.

``jacobian`` runs in two steps, so that the prepared ``Jacobian`` is a thin
class over them: ``_plan`` checks the options that do not depend on x, once;
``_evaluate`` takes the plan to a point (x, the steps and bounds for its n,
an evaluator of the tier f is on, the kernel ``_stencil.jacobian``).

The kernel evaluates f(x) first -- it tells m, the length of f's value, and
for h="auto" the precision f computes in -- then the stencil's other points
(f(x) is not evaluated twice where the row or the bounds use it), and combines
each output's values with the stencil's weights: row r of J is, bit for bit,
what ``gradient`` gives for the scalar function ``f(x)[r]``.
"""
import math
import warnings

import numpy as np

from . import _arguments as arguments
from . import _contract as contract
from . import _stencil
from ._api import (_BOUNDED_ROWS, _box, _kernel_steps, _no_usable_step, _stencil_row,
                   gradient)
from ._evaluators import CompiledEvaluator, PythonEvaluator, VectorizedEvaluator
from ._stencils import EPS32, EPS64, STENCILS, auto_step
from .objectives import Objective


class _Plan:
    """jacobian's options, checked once (x, h and bounds depend on n: per call)."""
    __slots__ = ("f", "h", "row", "bounds", "args", "unpack", "vectorized")

    def __init__(self, f, h, row, bounds, args, unpack, vectorized):
        self.f, self.h, self.row, self.bounds = f, h, row, bounds
        self.args, self.unpack, self.vectorized = args, unpack, vectorized


def _plan(f, h, method, order, bounds, args, unpack, vectorized, full_output):
    """The checked options, in the reference's order of checks."""
    f = contract.as_objective(f, args)  # a C callback becomes a CFunction objective
    row = _stencil_row(method, order)
    if row.method == "complex":
        raise contract.jacobian_option_refused("method", "complex")
    unpack = contract.check_flag(unpack, "unpack")
    vectorized = contract.check_flag(vectorized, "vectorized")
    if contract.check_flag(full_output, "full_output"):
        raise contract.jacobian_option_refused("full_output", full_output)
    if isinstance(h, str) and h == "adaptive":
        raise contract.jacobian_option_refused("h", h)
    return _Plan(f, h, row, bounds, tuple(args), unpack, vectorized)


def _evaluator(plan, n, args, vector):
    """The tier for f: m values per point if vector (learnt from f(x)), else a scalar f."""
    f = plan.f
    if plan.vectorized:
        evaluator = VectorizedEvaluator(f, args, n, plan.unpack,
                                        contract.vectorized_rows_per_call(n))
    elif isinstance(f, Objective) and type(f).__call__ is Objective.__call__ and not args \
            and not plan.unpack and bool(f.outputs) == vector:
        return CompiledEvaluator(f)
    else:
        evaluator = PythonEvaluator(f, args, n, plan.unpack)
    if vector:
        evaluator.expect_vector()
    return evaluator


def _evaluate(plan, x, vector=True, args=None, stacklevel=3, raw_steps=False):
    """(f(x), J) at x for a plan: f(x) an array of m (a scalar f: m = 1), J (m, n).

    args: f's extra arguments for this call (None: the plan's); raw_steps: the
    plan's h is a float64 vector of n taken as it is (optimize.approx_fprime)."""
    x = arguments.point(x)
    n = x.shape[0]
    h = plan.h if raw_steps else arguments.steps(plan.h, n)
    if type(h) is str:
        h = _kernel_steps(h, plan.row)
    if plan.bounds is None:
        box, kernel_row = None, plan.row
    else:
        box, kernel_row = _box(plan.bounds, x), _BOUNDED_ROWS[plan.row.method, plan.row.order]
    if args is None:
        args = plan.args
    evaluator = _evaluator(plan, n, args, vector)
    out = _stencil.jacobian(evaluator, x, h, kernel_row, box)
    if type(out) is int:
        raise _no_usable_step(x, h, out, None, plan.row, box, evaluator)
    if evaluator.low_precision and type(h) is not tuple:
        warnings.warn(contract.low_precision_warning(), stacklevel=stacklevel + 1)
    return out


def jacobian(f, x, h=1e-5, *, method="central", order=None, bounds=None, args=(),
             unpack=False, vectorized=False, full_output=False):
    """Finite-difference Jacobian of a vector-valued function f at x.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` returning m >= 1 real numbers (a 1-D array or
        sequence; the same m at every point), with x a 1-D float64 array of
        its own (f may write to it); ``f(*x, *args)`` if ``unpack=True``.  With
        ``vectorized=True`` f gets a (k, n) array of k points and returns a
        (k, m) array.  A C callback ``void (int n, const double *x, int m,
        double *out, void *user_data)`` in
        ``fastgrad.objectives.CFunction(callback, outputs=m)`` runs on the
        compiled tier, without the GIL.
    x : 1-D sequence of n real numbers
        The point; never modified.
    h, method, order, bounds, args, unpack, vectorized
        As for :func:`fastgrad.gradient` (h="adaptive" is not offered here).
    full_output : bool
        Not offered yet: True raises ValueError.

    Returns
    -------
    ndarray of shape (m, n), float64
        ``J[r, i]`` = d f_r / d x_i; (1, n) for m = 1 and (m, 1) for n = 1.
        Row r equals, bit for bit, ``gradient(lambda x: f(x)[r], x, ...)``.

    Evaluations: f(x) first (it tells m), then the stencil's points without
    f(x): 2n + 1 for central differences, n + 1 one-sided (as scipy's
    approx_derivative).

    Raises
    ------
    TypeError, ValueError
        As for :func:`fastgrad.gradient`; ValueError if f's value is not a 1-D
        sequence of m >= 1 numbers, or not of the length f(x) has; TypeError
        for an entry that is not a real number.

    Examples
    --------
    >>> import fastgrad
    >>> fastgrad.jacobian(lambda x: [x[0] * x[1], x[0] + 2 * x[1]], [2.0, 3.0]).round(6)
    array([[3., 2.],
           [1., 2.]])
    """
    plan = _plan(f, h, method, order, bounds, args, unpack, vectorized, full_output)
    return _evaluate(plan, x)[1]


class Jacobian:
    """A prepared Jacobian: ``Jacobian(f, **options)(x) == jacobian(f, x, **options)``.

    The options (all of :func:`jacobian`'s but x) are checked once, here; h
    and bounds, which depend on x's length, at each call.

    Examples
    --------
    >>> import fastgrad
    >>> J = fastgrad.Jacobian(lambda x: [x[0] ** 2, x[0] * x[1]])
    >>> J([1.0, 2.0]).round(6)
    array([[2., 0.],
           [2., 1.]])
    """
    __slots__ = ("_plan",)

    def __init__(self, f, h=1e-5, *, method="central", order=None, bounds=None, args=(),
                 unpack=False, vectorized=False, full_output=False):
        self._plan = _plan(f, h, method, order, bounds, args, unpack, vectorized,
                           full_output)

    def __call__(self, x):
        """The Jacobian at x, an (m, n) float64 array."""
        return _evaluate(self._plan, x)[1]

    def __repr__(self):
        return f"Jacobian({self._plan.f!r}, method={self._plan.row.method!r})"


# -- derivative: elementwise, one call of f per stencil point ------------------

def derivative(f, x, h=1e-5, *, method="central", order=None, args=()):
    """Derivative of a scalar function of a scalar, elementwise over an array x.

    Like ``scipy.differentiate.derivative``: f is applied to whole arrays (of
    x's shape, each element moved by its own step), one call per stencil
    point, and must return values of x's shape.  For a scalar x, f gets and
    returns a float.

    Parameters
    ----------
    f : callable
        ``f(x, *args)``, elementwise.
    x : real number or array-like of them
        The point(s); finite.
    h : positive float or "auto"
        The step; "auto": ``c * max(1, |x|)`` per element, c for the method
        and order (double precision's).
    method, order
        As for :func:`fastgrad.gradient`.
    args : tuple
        Extra arguments passed to f.

    Returns
    -------
    float, or ndarray of x's shape
        Element j is, bit for bit, ``gradient(f_scalar, [x_j], ...)[0]``
        (``fastgrad.reference.derivative`` calls f once per element).

    Raises
    ------
    TypeError, ValueError
        f not callable; x not real, empty, ragged or not finite; h, method or
        order invalid; a step that rounds away at x[j] (x flattened); f
        returning another shape or non-real values.

    Examples
    --------
    >>> import fastgrad
    >>> round(fastgrad.derivative(lambda t: t ** 3, 2.0), 6)
    12.0
    >>> fastgrad.derivative(lambda t: t ** 2, [1.0, 2.0, 3.0]).round(6)
    array([2., 4., 6.])
    """
    contract.check_callable(f, args)
    row = _stencil_row(method, order)
    if row.method == "complex":
        raise contract.jacobian_option_refused("method", "complex")
    table_row = STENCILS[row.method, row.order]
    h = contract.derivative_steps(h)
    if isinstance(x, np.ndarray) and x.dtype.kind in "biuf" and x.size and x.ndim:
        shape = x.shape
        xs = np.array(x, dtype=np.float64).reshape(-1)
        if not np.isfinite(xs).all():
            contract.derivative_point(x.tolist())  # the reference's message
    else:
        values, shape = contract.derivative_point(x)
        xs = np.array(values, dtype=np.float64)
    if h == "auto":
        steps = auto_step(table_row, EPS64) * np.maximum(1.0, np.abs(xs))
    else:
        steps = np.full(xs.shape, h)
    with np.errstate(all="ignore"):  # a step that overflows is refused below, unwarned
        spans = _spans(xs, steps, table_row.span)
        bad = ~np.isfinite(spans) | (spans == 0.0)
        reach = max(abs(table_row.span[0]), abs(table_row.span[1]))
        for offset in table_row.point_offsets:
            if abs(offset) > reach:
                bad |= ~np.isfinite(xs + offset * steps)
    if bad.any():
        j = int(np.argmax(bad))
        raise ValueError(contract.step_too_small(j, float(xs[j]), float(steps[j])))

    def at(offset):
        point = xs if offset == 0 else xs + offset * steps
        if shape is None:
            return np.array([contract.as_real(f(float(point[0]), *args))])
        result = f(point.reshape(shape).copy(), *args)
        got = contract.shape_of(result)
        if got != shape:
            raise ValueError(contract.derivative_shape_error(
                f"shape {got}" if got is not None else contract.describe(result), shape))
        if type(result) is not np.ndarray:  # a subclass (masked...): item by item, as the
            # reference reads each element's value (a masked entry is nan, with numpy's warning)
            return np.array([contract.as_real(v) for v in result.reshape(-1)], dtype=np.float64)
        if result.dtype.kind not in "biuf":
            raise TypeError(f"f must return real numbers, got dtype {result.dtype}")
        return np.asarray(result, dtype=np.float64).reshape(-1)

    fx = at(0) if table_row.needs_center else None
    values = {o: at(o) for o in table_row.point_offsets}
    total = None
    # inf - inf is nan here as in the kernels and the reference, without numpy's warning.
    with np.errstate(all="ignore"):
        for offset, weight in zip(table_row.offsets, table_row.float_weights):
            term = weight * (fx if offset == 0 else values[offset])
            total = term if total is None else total + term
        g = total / spans
    return float(g[0]) if shape is None else g.reshape(shape)


def _spans(xs, steps, span):
    up, down = span
    hi = xs if up == 0 else xs + up * steps
    lo = xs if down == 0 else xs + down * steps
    return hi - lo


# -- check_grad -------------------------------------------------------------

def check_grad(f, grad, x, *, h="auto", method="central", order=None, direction="all",
               seed=None, args=()):
    """How far an analytic gradient is from the finite-difference one.

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> float``.
    grad : callable
        ``grad(x, *args)`` returning n real numbers, the gradient to check.
    x : 1-D sequence of n real numbers
        The point.
    h, method, order
        The finite differences, as for :func:`fastgrad.gradient`.
    direction : {"all", "random"}
        "all": ``sqrt(sum_i (grad(x)_i - gradient(f, x)_i) ** 2)``, as
        scipy.optimize.check_grad; "random": ``|grad(x) . v - D_v f(x)|`` for a
        random unit vector v, the directional derivative D_v f(x) from one
        stencil along v (two evaluations with central differences, whatever n).
    seed : int or None
        The direction: normal entries from ``random.Random(seed)``,
        normalised (the same on every platform and in fastgrad.reference);
        None: fresh entropy.
    args : tuple
        Extra arguments passed to f and grad.

    Returns
    -------
    float

    Examples
    --------
    >>> import fastgrad
    >>> f = lambda x: x[0] ** 2 + 3 * x[1]
    >>> fastgrad.check_grad(f, lambda x: [2 * x[0], 3.0], [1.0, 2.0]) < 1e-8
    True
    >>> fastgrad.check_grad(f, lambda x: [2 * x[0], 4.0], [1.0, 2.0], direction="random",
    ...                     seed=1) > 0.1
    True
    """
    contract.check_callable(f, args)
    if not callable(grad):
        raise TypeError(f"grad must be callable, got {contract.describe(grad)}")
    direction = contract.check_direction(direction)
    seed = contract.check_seed(seed)
    x = arguments.point(x)
    n = x.shape[0]
    analytic = contract.grad_values(grad(x.copy(), *args), n)
    if direction == "all":
        g = gradient(f, x, h, method=method, order=order, args=args)
        return contract.difference_norm(analytic, g.tolist())
    v = np.array(contract.random_direction(n, seed))

    def along(t, *extra):
        return f(x + t[0] * v, *extra)
    slope = gradient(along, [0.0], h, method=method, order=order, args=args)[0]
    return abs(contract.dot(analytic, v.tolist()) - float(slope))
