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

import numpy as np

from . import _arguments as arguments
from . import _complex as complex_step
from . import _complex_tiers
from . import _contract as contract
from . import _stencil, _workers
from ._api import (_BOUNDED_ROWS, _box, _kernel_steps, _no_usable_step, _stencil_row,
                   gradient)
from ._evaluators import CompiledEvaluator, MapEvaluator, PythonEvaluator, VectorizedEvaluator
from ._prepared import GRADIENT_DEFAULTS, Prepared
from ._accuracy import (JacobianResult, adaptive_steps, jacobian_estimate, jacobian_richardson,
                        no_estimate)
from ._stencils import EPS32, EPS64, STENCILS, auto_step, plan
from .objectives import Objective


class _Plan:
    """jacobian's options, checked once (x, h and bounds depend on n: per call)."""
    __slots__ = ("f", "h", "row", "bounds", "args", "unpack", "vectorized", "workers",
                 "full_output")

    def __init__(self, f, h, row, bounds, args, unpack, vectorized, workers, full_output):
        self.f, self.h, self.row, self.bounds = f, h, row, bounds
        self.args, self.unpack, self.vectorized = args, unpack, vectorized
        self.workers = workers  # as given (None: serial); opened per call
        self.full_output = full_output


def _plan(f, h, method, order, bounds, args, unpack, vectorized, full_output, workers=None,
          complex_step_ok=False):
    """The checked options (_contract.jacobian_options, which the reference's
    jacobian and Jacobian call too; method="complex" refused unless
    complex_step_ok: jacobian and Jacobian take it)."""
    f, row, unpack, vectorized, full_output = contract.jacobian_options(
        f, h, method, order, args, unpack, vectorized, full_output, workers, _stencil_row,
        complex_step_ok)
    return _Plan(f, h, row, bounds, tuple(args), unpack, vectorized, workers, full_output)


def _evaluator(plan, n, args, vector, engine=None):
    """The tier for f: m values per point if vector (learnt from f(x)), else a scalar f;
    spread over engine (an opened ``_workers.Engine``) if given."""
    f = plan.f
    if engine is not None:
        engine.check_sendable(f, args)
        evaluator = MapEvaluator(engine, f, args, n, plan.unpack, plan.vectorized,
                                 contract.vectorized_rows_per_task(n))
    elif plan.vectorized:
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


def _evaluate(plan, x, vector=True, args=None, raw_steps=False, engine=None):
    """(f(x), J) at x for a plan: f(x) an array of m (a scalar f: m = 1), J (m, n).

    args: f's extra arguments for this call (None: the plan's); raw_steps: the
    plan's h is a float64 vector of n taken as it is (optimize.approx_fprime);
    engine: the plan's workers, opened (None with workers: opened here)."""
    if engine is None and plan.workers is not None:
        with _workers.Engine(plan.workers) as engine:
            return _evaluate(plan, x, vector, args, raw_steps, engine)
    x = arguments.point(x)
    n = x.shape[0]
    h = plan.h if raw_steps else arguments.steps(plan.h, n)
    if args is None:
        args = plan.args
    if plan.row.method == "complex":  # f at x + i h e_i (fastgrad._complex): no f(x)
        _box(plan.bounds, x)
        values = _complex_tiers.evaluator(plan.f, args, n, plan.unpack, plan.vectorized,
                                          vector=True)
        xs = x.tolist()
        steps = complex_step.steps(_complex_tiers.step_list(h, n), xs)
        return None, np.array(complex_step.jacobian(lambda points: values(x, points), xs,
                                                    steps)).reshape(-1, n)
    if type(h) is str:
        h = _kernel_steps(h, plan.row)
    if plan.bounds is None:
        box, kernel_row = None, plan.row
    else:
        box, kernel_row = _box(plan.bounds, x), _BOUNDED_ROWS[plan.row.method, plan.row.order]
    evaluator = _evaluator(plan, n, args, vector, engine)
    if type(h) is str:  # "adaptive"
        return _adaptive(evaluator, x, plan.row, kernel_row, box, plan.full_output)
    out = _stencil.jacobian(evaluator, x, h, kernel_row, box)
    if type(out) is int:
        raise _no_usable_step(x, h, out, None, plan.row, box, evaluator)
    if plan.full_output:
        out = out[0], _result(evaluator, x, h, plan.row, kernel_row, box, *out)
    if evaluator.low_precision and type(h) is not tuple:
        contract.warn_low_precision()
    return out


def _adaptive(evaluator, x, row, kernel_row, box, full_output):
    """h="adaptive": Jacobians over gradient's geometric sequence of steps,
    Richardson per entry (fastgrad._accuracy, as the reference)."""
    table_row = STENCILS[row.method, row.order]
    rows, levels = adaptive_steps(x.tolist(), table_row,
                                  None if box is None else (box[0].tolist(), box[1].tolist()))
    jacobians = []
    for level in levels:
        h = np.array(level)
        out = _stencil.jacobian(evaluator, x, h, kernel_row, box)
        if type(out) is int:
            raise _no_usable_step(x, h, out, None, row, box, evaluator)
        f0 = out[0]
        jacobians.append(out[1].tolist())
    J, errors, used, success, message = jacobian_richardson(
        jacobians, levels, f0.tolist(), x.tolist(), rows, evaluator.low_precision)
    if not full_output:
        return f0, np.array(J).reshape(-1, x.shape[0])
    once = 1 + x.shape[0] * len(table_row.point_offsets)  # f(x), the stencil without it
    return f0, JacobianResult(jac=np.array(J), error=np.array(errors),
                              nfev=len(levels) * once, success=success, message=message,
                              step=np.array(used))


def _result(evaluator, x, h, row, kernel_row, box, f0, J):
    """The JacobianResult of J (steps h): the Jacobian again with steps 2h,
    _accuracy's estimate per output row (as gradient's full_output)."""
    n = x.shape[0]
    row = STENCILS[row.method, row.order]  # the table's row: its terms and order
    if type(h) is tuple:  # h="auto": the steps of the constant its probe chose
        steps = (h[1] if evaluator.low_precision else h[0]) * np.maximum(1.0, np.abs(x))
    else:
        steps = np.full(n, h) if isinstance(h, float) else h.copy()
    once = 1 + n * len(row.point_offsets)  # f(x), then the stencil without it
    xs, lists = x.tolist(), None if box is None else (box[0].tolist(), box[1].tolist())
    used = plan(xs, steps.tolist(), row, lists)
    step = np.array([step for _, step in used])
    doubled = _stencil.jacobian(evaluator, x, 2.0 * steps, kernel_row, box)
    if type(doubled) is int:  # 2h leaves the usable range: no estimate
        return JacobianResult(jac=J, error=np.full(J.shape, math.inf), nfev=once,
                              success=False, message=no_estimate(doubled), step=step)
    errors, success, message = jacobian_estimate(
        J.tolist(), doubled[1].tolist(), f0.tolist(), xs, used,
        plan(xs, (2.0 * steps).tolist(), row, lists), evaluator.low_precision)
    return JacobianResult(jac=J, error=np.array(errors), nfev=2 * once, success=success,
                          message=message, step=step)


def jacobian(f, x, h=1e-5, *, method="central", order=None, bounds=None, args=(),
             unpack=False, vectorized=False, full_output=False, workers=None):
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
        As for :func:`fastgrad.gradient`.  h="adaptive": the Jacobian at
        gradient's sequence of steps, Richardson extrapolation per entry (row
        r equals ``gradient(f_r, x, "adaptive")``; full_output's ``step``
        then holds each entry's step, shape (m, n)).
        method="complex": f at x + i h e_i, n evaluations and no f(x); row r
        is then the complex-step gradient of output r, bit for bit (f must
        take complex input; a compiled f is a TypeError naming method).
    full_output : bool
        True: a :class:`fastgrad.JacobianResult` (``jac``, ``error`` per entry,
        ``nfev``, ``success``, ``message``, ``step``): the Jacobian again with
        steps 2h, and per output row the error estimate gradient's full_output
        makes -- 2 (1 + n * points per coordinate) evaluations, 4n + 2 for
        central differences.  Not with method="complex".
    workers : None, int, map-like callable, Executor or dask Client
        As for :func:`fastgrad.gradient`: the stencil's points (after f(x),
        which tells m) spread over them; the same J, bit for bit, and the
        same evaluations as serial.

    Returns
    -------
    ndarray of shape (m, n), float64
        ``J[r, i]`` = d f_r / d x_i; (1, n) for m = 1 and (m, 1) for n = 1.
        Row r equals, bit for bit, ``gradient(lambda x: f(x)[r], x, ...)``.

    Evaluations: f(x) first (it tells m), then the stencil's points without
    f(x): 2n + 1 for central differences, n + 1 one-sided (as scipy's
    approx_derivative); n with method="complex".

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
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(jacobian, locals())  # back here with the engine opened
    plan = _plan(f, h, method, order, bounds, args, unpack, vectorized, full_output, workers,
                 True)
    return _evaluate(plan, x, engine=workers)[1]


class Jacobian(Prepared):
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
    __slots__ = ("_spec",)

    _function = staticmethod(jacobian)
    _defaults = GRADIENT_DEFAULTS  # jacobian's options are gradient's

    def __init__(self, f, h=1e-5, **options):
        super().__init__(f, h=h, **options)  # h by position too, as jacobian() takes it

    def _plan(self, f, options):
        self._spec = _plan(f, options["h"], options["method"], options["order"],
                           options["bounds"], options["args"], options["unpack"],
                           options["vectorized"], options["full_output"], options["workers"],
                           True)
        contract.number_step(options["h"])  # as Gradient: a number now, the rest per call

    def __call__(self, x):
        """The Jacobian at x, an (m, n) float64 array (a JacobianResult with full_output)."""
        return _evaluate(self._spec, x)[1]


# -- derivative: elementwise, one call of f per stencil point ------------------

def derivative(f, x, h=1e-5, *, method="central", order=None, args=(), workers=None):
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
        The step; "auto": ``c * max(1, |x|)`` per element, c for the method,
        the order and the precision f computes in (f is called at x first to
        learn it; float32 values take float32's eps), as gradient's.
    method, order
        As for :func:`fastgrad.gradient`; method="complex" calls f once, on
        the complex array x + i h (f must take complex input).
    args : tuple
        Extra arguments passed to f.
    workers : None, int, map-like callable, Executor or dask Client
        As for :func:`fastgrad.gradient`: f's calls (one per stencil point,
        each on the whole array) spread over them; the same values, bit for
        bit, and the same calls as serial.

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

    Warns
    -----
    PrecisionWarning
        f returned float32 (or lower) values with a fixed h, as gradient().

    Examples
    --------
    >>> import fastgrad
    >>> round(fastgrad.derivative(lambda t: t ** 3, 2.0), 6)
    12.0
    >>> fastgrad.derivative(lambda t: t ** 2, [1.0, 2.0, 3.0]).round(6)
    array([2., 4., 6.])
    """
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(derivative, locals())  # back here with the engine opened
    contract.check_callable(f, args)
    row = _stencil_row(method, order)
    h = contract.derivative_steps(h)
    if isinstance(x, np.ndarray) and x.dtype.kind in "biuf" and x.size and x.ndim:
        shape = x.shape
        xs = np.array(x, dtype=np.float64).reshape(-1)
        if not np.isfinite(xs).all():
            contract.derivative_point(x.tolist())  # the reference's message
    else:
        values, shape = contract.derivative_point(x)
        xs = np.array(values, dtype=np.float64)
    if row.method == "complex":
        return _complex_derivative(f, xs, shape, h, args, workers)
    table_row = STENCILS[row.method, row.order]

    def usable(steps):
        """steps (and the realised spans), or the error for a step that rounds away."""
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
        return steps, spans

    def relative(eps):  # h="auto": c * max(1, |x|), c for the precision f computes in
        return auto_step(table_row, eps) * np.maximum(1.0, np.abs(xs))
    steps, spans = usable(relative(EPS64) if h == "auto" else np.full(xs.shape, h))

    def point(offset):
        return xs if offset == 0 else xs + offset * steps

    def at(offset):
        if shape is None:
            return read(f(float(point(offset)[0]), *args))
        return read(f(point(offset).reshape(shape).copy(), *args))

    low = []  # f returned float32 (or lower) values: a fixed h warns, as gradient's

    def read(result):
        if not low and contract.is_low_precision(result):
            low.append(True)
        if shape is None:
            return np.array([contract.as_real(result)])
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

    if workers is not None:
        workers.check_sendable(f, args)
    fx = None
    if h == "auto":  # f at x first, to learn its precision (as gradient's "auto")
        fx = at(0) if workers is None else _spread_calls(workers, f, args, shape, [xs],
                                                         read)[0]
        if low:
            steps, spans = usable(relative(EPS32))
        if not table_row.needs_center:
            fx = None
    center = table_row.needs_center and fx is None
    if workers is None:
        if center:
            fx = at(0)
        values = {o: at(o) for o in table_row.point_offsets}
    else:
        offsets = [0] * center + list(table_row.point_offsets)
        got = _spread_calls(workers, f, args, shape, [point(o) for o in offsets], read)
        if center:
            fx = got[0]
        values = dict(zip(table_row.point_offsets, got[center:]))
    total = None
    # inf - inf is nan here as in the kernels and the reference, without numpy's warning.
    with np.errstate(all="ignore"):
        for offset, weight in zip(table_row.offsets, table_row.float_weights):
            term = weight * (fx if offset == 0 else values[offset])
            total = term if total is None else total + term
        g = total / spans
    if low and h != "auto":
        contract.warn_low_precision()
    return float(g[0]) if shape is None else g.reshape(shape)


def _complex_derivative(f, xs, shape, h, args, workers):
    """derivative(method="complex"): one call of f per imaginary offset, on the
    whole array (x's shape) of x + i h; the values combined by fastgrad._complex."""
    complex_step.check(f, h)
    if workers is not None:
        raise contract.workers_complex()
    steps = complex_step.steps(h if h == "auto" else [h] * xs.size, xs.tolist())
    runs = []
    for offset in complex_step.OFFSETS:
        z = np.empty(xs.shape, dtype=np.complex128)
        z.real = xs
        z.imag = np.array(steps) * offset
        if shape is None:
            runs.append([complex_step.as_complex(complex_step.call(f, [complex(z[0])], True,
                                                                   args))])
            continue
        result = complex_step.call(f, [z.reshape(shape)], True, args)
        got = contract.shape_of(result)
        if got != shape:
            raise ValueError(contract.derivative_shape_error(
                f"shape {got}" if got is not None else contract.describe(result), shape))
        runs.append(complex_step.vectorized_values(np.reshape(result, -1), xs.size))
    # Element j's values at the offsets, in fastgrad._complex's order (j, offset).
    g = np.array(complex_step.combine([v for values in zip(*runs) for v in values], steps))
    return float(g[0]) if shape is None else g.reshape(shape)


def _spread_calls(engine, f, args, shape, points, read):
    """derivative's calls of f, one per point (xs moved by one stencil offset),
    in tasks of consecutive points on engine; read(result) of each, in order."""
    size = engine.chunk_size(len(points))
    scalar = shape is None  # f(float): unpack the point's one coordinate
    tasks = [(f, args, scalar, False, True,
              [p if scalar else p.reshape(shape) for p in points[start:start + size]],
              [(r, -1, 0.0) for r in range(len(points[start:start + size]))])
             for start in range(0, len(points), size)]
    out = []
    engine.run(tasks, lambda i, results: out.extend(read(result) for result in results))
    return out


def _spans(xs, steps, span):
    up, down = span
    hi = xs if up == 0 else xs + up * steps
    lo = xs if down == 0 else xs + down * steps
    return hi - lo


# -- check_grad -------------------------------------------------------------

def check_grad(f, grad, x, *, h="auto", method="central", order=None, direction="all",
               seed=None, args=(), workers=None):
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
    workers : None, int, map-like callable, Executor or dask Client
        As for :func:`fastgrad.gradient`: f's evaluations spread over them
        (grad runs here, once); the same result, bit for bit.

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
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(check_grad, locals())  # back here with the engine opened
    contract.check_callable(f, args)
    if not callable(grad):
        raise TypeError(f"grad must be callable, got {contract.describe(grad)}")
    direction = contract.check_direction(direction)
    seed = contract.check_seed(seed)
    x = arguments.point(x)
    n = x.shape[0]
    if workers is not None:  # before grad runs
        workers.check_sendable(f, args)
    analytic = contract.grad_values(grad(x.copy(), *args), n)
    if direction == "all":
        g = gradient(f, x, h, method=method, order=order, args=args, workers=workers)
        return contract.difference_norm(analytic, g.tolist())
    v = np.array(contract.random_direction(n, seed))
    slope = gradient(_Along(f, x, v), [0.0], h, method=method, order=order, args=args,
                     workers=workers)[0]
    return abs(contract.dot(analytic, v.tolist()) - float(slope))


class _Along:
    """t -> f(x + t[0] * v, *args): check_grad's f along its direction (a class,
    so that it pickles for workers= wherever f does)."""
    __slots__ = ("f", "x", "v")

    def __init__(self, f, x, v):
        self.f, self.x, self.v = f, x, v

    def __call__(self, t, *args):
        return self.f(self.x + t[0] * self.v, *args)
