"""The public functions of fastgrad: arguments -> evaluator -> kernel -> result.

Thin on purpose: ``_arguments`` converts and checks x, h and X; the evaluator
tier is picked here from what f is; the kernels (``_stencil``, ``_descent``,
``_batch``) run the loops and report what went wrong as indices, which are
turned into the reference's messages here; ``_result`` builds DescentResult.
"""
import math
import os
import sys

import numpy as np

from . import _arguments as arguments
from . import _contract as contract
from . import _batch, _complex, _complex_tiers, _descent, _stencil, _workers
from ._evaluators import CompiledEvaluator, MapEvaluator, PythonEvaluator, VectorizedEvaluator
from ._accuracy import GradientResult, adaptive_steps, batch_result, estimate, richardson
from ._optimizers import LBFGS, SGD, Adam, Armijo, Momentum, as_optimizer
from ._prepared import GRADIENT_DEFAULTS, Prepared, checked_gradient_options, sequence_length
from ._progress import batch_progress, descent_progress, rows_in_turn
from ._result import (ByKeyword, DescentState, IntermediateResult, descent_result,
                      wants_intermediate_result)
from ._stencils import (COMPLEX, DEFAULT_ORDER, EPS32, EPS64, STENCILS, auto_step,
                        bounded_choice, check_order, check_rows, plan, sides)
from .objectives import Objective

#: Every row of the stencil table in C form, made once; with bounds, each row
#: carries the one-sided rows of its order it turns into next to a bound.
_ROWS = {key: _stencil.StencilRow(row) for key, row in STENCILS.items()}
_BOUNDED_ROWS = {key: _stencil.StencilRow(row, sides(row)) for key, row in STENCILS.items()}

#: The compiled rule for each optimizer class (fastgrad.reference has the same table).
_RULES = {SGD: _descent.SGDRule, Momentum: _descent.MomentumRule, Adam: _descent.AdamRule,
          Armijo: _descent.ArmijoRule, LBFGS: _descent.LBFGSRule}


def _evaluator(f, args, n, unpack, vectorized, workers=None):
    """The evaluation tier for f: compiled, vectorized or one Python call per point;
    spread over workers= (an opened ``_workers.Engine``) if given."""
    args = tuple(args)  # a tuple subclass (a namedtuple) is passed on as its items
    if workers is not None:
        workers.check_sendable(f, args)
        return MapEvaluator(workers, f, args, n, unpack, vectorized,
                            contract.vectorized_rows_per_task(n))
    if vectorized:
        return VectorizedEvaluator(f, args, n, unpack, contract.vectorized_rows_per_call(n))
    # The compiled tier, unless a Python subclass redefines what calling f means.
    # (A vector-valued objective is for jacobian(): called from Python it returns
    # an array, which the Python tier refuses as the reference does.)
    if isinstance(f, Objective) and type(f).__call__ is Objective.__call__ \
            and not args and not unpack and not f.outputs:
        return CompiledEvaluator(f)
    return PythonEvaluator(f, args, n, unpack)


#: The row each method uses by default (the common case, one lookup).
_DEFAULT_ROWS = {method: _ROWS[method, order] for method, order in DEFAULT_ORDER.items()}


def _stencil_row(method, order):
    if order is None and type(method) is str and method in _DEFAULT_ROWS:
        return _DEFAULT_ROWS[method]
    method = contract.check_method(method)
    if method == "complex":  # fastgrad._complex (a row of no real points)
        check_order(method, order)
        return COMPLEX
    return _ROWS[method, DEFAULT_ORDER[method] if order is None else check_order(method, order)]


def _prepare(f, x, h, method, order, args, unpack, vectorized, workers=None):
    """The checked arguments and the evaluator, in the reference's order of checks."""
    f = contract.as_objective(f, args)  # a C callback becomes a CFunction objective
    x = arguments.point(x)
    h = arguments.steps(h, x.shape[0])
    row = _stencil_row(method, order)
    unpack = contract.check_flag(unpack, "unpack")
    vectorized = contract.check_flag(vectorized, "vectorized")
    if row is COMPLEX:  # the complex step's own tiers; h stays as given
        _complex.check(f, h)
        if workers is not None:
            raise contract.workers_complex()
        return _complex_tiers.evaluator(f, args, x.shape[0], unpack, vectorized), x, h, row
    if type(h) is str:  # "auto": the relative-step constants
        h = _kernel_steps(h, row)
    return _evaluator(f, args, x.shape[0], unpack, vectorized, workers), x, h, row


def _kernel_steps(h, row):
    """h as the kernels take it: a float, a float64 vector, or for h="auto" the
    relative-step constants for double and single precision ("adaptive" stays:
    gradient() runs its sequence of steps)."""
    if h == "auto":
        return (auto_step(row, EPS64), auto_step(row, EPS32))
    return h


def _adaptive(evaluator, x, row, kernel_row, box, full_output):
    """h="adaptive": gradients over a geometric sequence of steps, Richardson per
    coordinate (fastgrad._accuracy.richardson, as the reference)."""
    table_row = STENCILS[row.method, row.order]
    rows, levels = adaptive_steps(x.tolist(), table_row,
                                  None if box is None else (box[0].tolist(), box[1].tolist()))
    gradients = []
    for level in levels:
        h = np.array(level)
        g = _stencil.gradient(evaluator, x, h, kernel_row, box)
        if type(g) is int:
            raise _no_usable_step(x, h, g, None, row, box, evaluator)
        gradients.append(g.tolist())
    fx = _stencil.value_at(evaluator, x)
    grad, errors, used, success, message = richardson(gradients, levels, fx, x.tolist(),
                                                      rows, evaluator.low_precision)
    if not full_output:
        return np.array(grad)
    points = table_row.points(x.shape[0], box is not None)
    return GradientResult(grad=np.array(grad), error=np.array(errors),
                          nfev=len(gradients) * points + 1, success=success, message=message,
                          step=np.array(used))


def _unpack_hint(error, f, n, args, unpack, vectorized):
    """For a TypeError out of the kernels: raise the hint that unpack=True was
    forgotten (_contract.unpack_hint), if f's signature shows it; else return.
    Runs only on the way out of a failure: nothing on the success path."""
    if not unpack:
        hint = contract.unpack_hint(error, f, n, args, vectorized)
        if hint is not None:
            raise hint from error


def _warn_if_imprecise(evaluator, h):
    """A fixed h with an f that returned float32 (or lower) values: say so
    (from the caller's line)."""
    if evaluator.low_precision and type(h) is not tuple:
        contract.warn_low_precision()


def _no_usable_step(x, h, i, r=None, stencil=None, bounds=None, evaluator=None):
    """The ValueError for a stencil with no usable step at coordinate i: the
    realised step rounds to 0 or is not finite, or the bounds leave no room."""
    xi = float(x[i])
    if type(h) is tuple:  # relative steps: double precision's, or float32's once seen
        low = evaluator is not None and evaluator.low_precision
        step = (h[1] if low else h[0]) * max(1.0, abs(xi))
    else:
        step = h if isinstance(h, float) else float(h[i])
    if bounds is not None:
        lbi, ubi = float(bounds[0][i]), float(bounds[1][i])
        choice = bounded_choice(sides(STENCILS[stencil.method, stencil.order]), xi, step,
                                lbi, ubi)
        if choice is None:
            return ValueError(contract.no_room(i, xi, lbi, ubi, r))
        if choice[1] != step:  # the bounds shrank the step
            return ValueError(contract.shrunk_step_too_small(i, xi, step, choice[1], lbi,
                                                             ubi, r))
    return ValueError(contract.step_too_small(i, xi, step, r))


def _front_fail(x, h, g, row, evaluator):
    """_stencil.PublicGradient's way out of the kernel, as _gradient's: raise for a
    bad coordinate g (an int), warn for f's low precision (from the caller's line)."""
    if type(g) is int:
        raise _no_usable_step(x, h, g, None, row, None, evaluator)
    _warn_if_imprecise(evaluator, h)
    return g


#: gradient() and gradient_descent_step() for the common arguments, compiled:
#: the default rows, h="auto"'s constants per method, and the general path's
#: helpers for x and for the way out.
_FRONT = _stencil.PublicGradient(
    _DEFAULT_ROWS, {method: _kernel_steps("auto", row) for method, row in _DEFAULT_ROWS.items()},
    arguments.point, _front_fail, _unpack_hint)


def _box(bounds, x, r=None):
    """bounds checked against the point x, as two float64 vectors (None: no bounds)."""
    if bounds is None:
        return None
    lb, ub = contract.check_bounds(bounds, x.tolist(), r)
    return np.array(lb, dtype=np.float64), np.array(ub, dtype=np.float64)


def gradient(f, x, h=1e-5, *, method="central", order=None, bounds=None, args=(),
             unpack=False, vectorized=False, full_output=False, workers=None):
    """Finite-difference gradient of a scalar function f at x.

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> float`` with x a 1-D float64 array of its own (f may
        write to it: every call gets exactly its point); ``f(*x, *args)`` with
        Python floats if ``unpack=True``.  With
        ``vectorized=True``, f gets a (k, n) array of k points, one per row (with
        unpack, the n columns), and returns k values; k is the whole stencil
        if it fits in about 512 KiB, else max(1, 2**19 // (8 n)) points a call
        (the last call gets the rest), so that f's temporaries stay in cache.
    x : 1-D sequence of real numbers
        The point; never modified.
    h : float, sequence of n floats, "auto" or "adaptive"
        Positive, finite step(s); or "auto": relative steps
        ``c * max(1, |x_i|)`` with ``c = eps ** (1 / (order + 1))``, eps that of
        the precision f computes in (f is evaluated once at x first to learn it);
        or "adaptive" (gradient, gradient_batch): Richardson extrapolation over
        ten steps per coordinate, keeping the entry with the smallest error
        estimate (within bounds, one stencil side per coordinate throughout).
        A fixed h with an f returning float32 values warns (PrecisionWarning).
    method : {"central", "forward", "backward", "complex"}
        central: ``(f(x + h e_i) - f(x - h e_i)) / (xp - xm)``, error O(h**2);
        forward/backward: one-sided, error O(h), one evaluation fewer per coordinate.
        The division is by the realised step ``xp - xm``, as scipy does.
        complex: the complex step ``Im f(x + i h e_i) / h`` (n evaluations, no
        cancellation, order 2 only): f gets a complex128 array (unpack: Python
        floats and one complex; vectorized: a (k, n) complex128 array) and must
        return a complex value; h="auto" is ``eps * max(1, |x_i|)``.  An f that
        cannot take complex input (raises TypeError, or returns a real value)
        and compiled objectives raise TypeError; bounds only check x; with
        full_output the estimate costs n more evaluations (steps 2h).
    bounds : (lb, ub), optional
        Box the stencil must stay in: scalars or sequences of n, -inf/inf
        for an open side; x must lie inside.  Next to a bound a coordinate's
        stencil turns one-sided of the same order (and shrinks its step if
        even that does not fit), as scipy's approx_derivative; f(x) is then
        evaluated first for every coordinate's use (one more evaluation for
        central stencils).
    order : int, optional
        Accuracy order of the stencil: central 2 (default), 4, 6 or 8 (order
        evaluations per coordinate); forward/backward 1 (default) to 4 (order
        per coordinate, plus f(x)).  Weights from Fornberg's algorithm, exact
        fractions rounded once (``fastgrad._stencils``).
    args : tuple
        Extra arguments passed to f.
    unpack, vectorized : bool
        How f takes its argument (see f).

    full_output : bool
        Return a GradientResult (grad, error, nfev, success, message, step)
        instead of the array: the error is estimated from a second gradient
        with steps 2h and one more evaluation of f at x (2k + 1 evaluations
        for a stencil of k points, plus h="auto"'s one probe of f; see
        ``fastgrad._accuracy``).
    workers : None, int, map-like callable, Executor or dask Client
        Where f is evaluated: None, in this thread; an int k, on k processes
        (-1: all cores) of a pool made for the call and closed by it; a
        callable ``workers(func, iterable)`` like ``Pool.map`` or
        ``ThreadPoolExecutor(k).map``; a ``concurrent.futures.Executor``; a
        ``dask.distributed.Client``.  The stencil's points go out in chunks of
        consecutive points (about 4 tasks per worker); the results, nfev and
        errors are those of a serial run, bit for bit.  For an expensive f
        (see README, "Beyond one machine"); f and args must pickle for
        processes and Dask.  An exception of f propagates; a worker process
        that dies raises RuntimeError; Ctrl-C cancels the outstanding
        evaluations.  Not with method="complex".

    Returns
    -------
    ndarray of shape (n,), float64, or GradientResult
        The gradient; f returning nan or inf gives nan or inf here.

    Raises
    ------
    TypeError
        f not callable, x or h not real numbers, f not returning a real scalar;
        method="complex" with an f that cannot take complex input; workers of
        another kind, or f or args that cannot be pickled for worker
        processes (before anything runs).
    ValueError
        x empty, not 1-D or not finite; h, method or order invalid; h too small
        for x[i] (the realised step rounds to 0); bounds with lb > ub, x outside
        them, or no room for a stencil at x[i]; vectorized f returning a
        wrong shape; workers an int below 1 but -1, or with method="complex".
    RuntimeError
        A worker process died (workers=).

    Examples
    --------
    >>> import fastgrad
    >>> fastgrad.gradient(lambda x, y: x**2 + y**2, [1.0, -1.0], unpack=True)
    array([ 2., -2.])
    >>> import numpy as np
    >>> fastgrad.gradient(lambda x: np.exp(x).sum(), [0.0, 1.0], "auto", method="complex")
    array([1.        , 2.71828183])
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with ThreadPoolExecutor(4) as pool:  # f's 4 evaluations at once
    ...     fastgrad.gradient(lambda x, y: x**2 + y**2, [1.0, -1.0], unpack=True,
    ...                       workers=pool.map)
    array([ 2., -2.])
    """
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(gradient, locals())  # back here with the engine opened
    g = _FRONT.gradient(f, x, h, method, order, bounds, args, unpack, vectorized, full_output,
                        workers)
    if g is not None:  # the common case, compiled; else the general path:
        return g
    evaluator, x, h, row = _prepare(f, x, h, method, order, args, unpack, vectorized, workers)
    if full_output is not False:
        full_output = contract.check_flag(full_output, "full_output")
    return _gradient(evaluator, x, h, row, bounds, full_output, (f, args, unpack, vectorized))


def _gradient(evaluator, x, h, row, bounds, full_output, hint):
    """gradient() once its arguments are checked: bounds (checked against x here),
    h="adaptive", full_output (also Gradient's path for them); hint: (f, args,
    unpack, vectorized) for the unpack hint of a TypeError."""
    if row is COMPLEX:  # f at x + i h e_i: inside any box that holds x
        _box(bounds, x)
        return _complex_tiers.gradient(evaluator, x, h, full_output)
    if bounds is None:  # the common case first: nothing more to check
        box, kernel_row = None, row
    else:
        box, kernel_row = _box(bounds, x), _BOUNDED_ROWS[row.method, row.order]
    try:
        if type(h) is str:  # "adaptive"
            return _adaptive(evaluator, x, row, kernel_row, box, full_output)
        g = _stencil.gradient(evaluator, x, h, kernel_row, box)
        if type(g) is int:
            raise _no_usable_step(x, h, g, None, row, box, evaluator)
        result = _full_output(evaluator, x, h, row, kernel_row, box, g) if full_output else g
    except TypeError as error:
        f, args, unpack, vectorized = hint
        _unpack_hint(error, f, x.shape[0], args, unpack, vectorized)
        raise
    if evaluator.low_precision:
        _warn_if_imprecise(evaluator, h)
    return result


def _full_output(evaluator, x, h, row, kernel_row, box, g):
    """The GradientResult of g (steps h): the gradient again with steps 2h, and f(x)."""
    n = x.shape[0]
    relative = type(h) is tuple
    row = STENCILS[row.method, row.order]  # the table's row: its terms and order
    if relative:  # h="auto": the steps of the constant its probe chose
        c = h[1] if evaluator.low_precision else h[0]
        steps = c * np.maximum(1.0, np.abs(x))
    else:
        steps = np.full(n, h) if isinstance(h, float) else h.copy()
    # Steps 2h as fixed steps: f's precision is known, no second probe.
    g_double = _stencil.gradient(evaluator, x, 2.0 * steps, kernel_row, box)
    fx = _stencil.value_at(evaluator, x)
    points = row.points(n, box is not None)
    nfev = 2 * points + relative + 1
    # The (row, step) each coordinate used: bounds may turn it one-sided or shrink it.
    xs, lists = x.tolist(), None if box is None else (box[0].tolist(), box[1].tolist())
    used = plan(xs, steps.tolist(), row, lists)
    if type(g_double) is int:  # 2h leaves the usable range: no estimate
        nfev = points + relative + 1
        errors, success = [math.inf] * n, False
        message = (f"no error estimate: the doubled step has no usable stencil at "
                   f"x[{g_double}]")
    else:
        errors, success, message = estimate(g.tolist(), g_double.tolist(), fx, xs, used,
                                            plan(xs, (2.0 * steps).tolist(), row, lists),
                                            evaluator.low_precision)
    return GradientResult(grad=g, error=np.array(errors), nfev=nfev, success=success,
                          message=message, step=np.array([step for _, step in used]))


def gradient_descent_step(f, x, learning_rate=0.1, h=1e-5, *, method="central", order=None,
                          bounds=None, args=(), unpack=False, vectorized=False, workers=None):
    """One gradient-descent step: ``x - learning_rate * gradient(f, x, h, ...)``.

    Parameters
    ----------
    f, x, h, method, order, args, unpack, vectorized, workers
        As for :func:`gradient` (method="complex" too).
    learning_rate : float
        Positive, finite step size.
    bounds : (lb, ub), optional
        As for :func:`gradient`: the stencil stays inside the box, and the new
        point is projected onto it (each coordinate clipped to [lb_i, ub_i]).

    Returns
    -------
    ndarray of shape (n,), float64
        The new point; x is not modified.

    Raises
    ------
    TypeError, ValueError
        As for :func:`gradient`; ValueError for a learning_rate that is not
        positive and finite.

    Examples
    --------
    >>> import fastgrad
    >>> fastgrad.gradient_descent_step(lambda x, y: x**2 + y**2, [1.0, -1.0], 0.25, unpack=True)
    array([ 0.5, -0.5])
    """
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(gradient_descent_step, locals())
    x_new = _FRONT.descent_step(f, x, learning_rate, h, method, order, bounds, args, unpack,
                                vectorized, workers)
    if x_new is not None:  # the common case, compiled; else the general path:
        return x_new
    evaluator, x, h, row = _prepare(f, x, h, method, order, args, unpack, vectorized, workers)
    if row is not COMPLEX and type(h) is str:
        raise contract.gradient_only("gradient_descent_step")
    learning_rate = contract.positive(learning_rate, "learning_rate")
    box = _box(bounds, x)
    if row is COMPLEX:  # (f at x + i h e_i: inside the box)
        g = _complex_tiers.gradient(evaluator, x, h, False).tolist()
        x_new = [xi - learning_rate * gi for xi, gi in zip(x.tolist(), g)]
        if box is not None:
            x_new = contract.project(x_new, box[0].tolist(), box[1].tolist())
        return np.array(x_new)
    kernel_row = row if box is None else _BOUNDED_ROWS[row.method, row.order]
    try:
        x_new = _stencil.descent_step(evaluator, x, h, kernel_row, learning_rate, box)
    except TypeError as error:
        _unpack_hint(error, f, x.shape[0], args, unpack, vectorized)
        raise
    if type(x_new) is int:
        raise _no_usable_step(x, h, x_new, None, row, box, evaluator)
    if evaluator.low_precision:
        _warn_if_imprecise(evaluator, h)
    return x_new


def gradient_descent(f, x0, learning_rate=0.1, *, max_iter=1000, tol=1e-6, ftol=None, h=1e-5,
                     method="central", order=None, bounds=None, optimizer=None, args=(),
                     unpack=False, vectorized=False, callback=None, record=False, state=None,
                     progress=False, workers=None):
    """Minimise f by gradient descent with finite-difference gradients.

    Each iteration k computes g = gradient(f, x_k); stops (converged) if
    ``sqrt(sum(g_i**2)) <= tol``; otherwise moves to x_{k+1} by the optimizer
    (plain steps ``x_k - learning_rate * g`` by default).  The whole loop runs
    in the compiled core -- without the GIL for a compiled objective.

    Parameters
    ----------
    f, x0, h, method, args, unpack, vectorized
        As for :func:`gradient` (x0 is the start point), but for
        method="complex": the loop is compiled and evaluates f at real points
        (ValueError).
    workers
        As for :func:`gradient`: every evaluation of f (the gradients, and f
        at the iterates) goes to the workers; a pool made for workers=k
        serves the whole run.
    learning_rate : float
        Positive, finite step size (Armijo: the first trial step of each update;
        L-BFGS: the length of the first trial step of the first update,
        ``x - learning_rate * g / |g|``).
    max_iter : int
        Most updates to make (>= 0); the gradient at the final x decides ``converged``.
    tol : float
        Stop, converged, when the gradient norm is <= tol (>= 0).
    ftol : float, optional
        Stop, converged, when an update changes f by at most
        ``ftol * max(|f_k|, |f_{k+1}|, 1)`` (scipy's relative test); costs one
        evaluation of f per iterate.
    optimizer : None, str or optimizer object
        None or "sgd": plain steps; "momentum", "nesterov", "adam", "armijo",
        "lbfgs", or ``fastgrad.Momentum(momentum, dampening, nesterov)``,
        ``fastgrad.Adam(beta1, beta2, eps)``, ``fastgrad.Armijo(c, shrink, max_backtracks)``,
        ``fastgrad.LBFGS(memory, c1, c2, max_linesearch)`` with the update rules
        given in their docstrings.
    callback : callable, optional
        ``callback(x)`` after each update, with a copy of the new iterate, once
        the gradient at it is known.  A callback whose one parameter is named
        ``intermediate_result`` (scipy.optimize's convention) gets an
        :class:`IntermediateResult` instead: x, fun, grad, nit, nfev.  grad,
        nit and nfev cost nothing; fun costs one evaluation of f per iterate
        unless the run evaluates f anyway (ftol, record, a line search).
        Returning a true value, or raising StopIteration, stops the run
        (converged if the gradient at x meets tol).
    record : bool
        Keep every iterate and f at it in ``result.path`` and ``result.path_fun``
        (one more evaluation of f per iterate).
    bounds : (lb, ub), optional
        As for :func:`gradient`: every stencil stays inside the box, and every
        update is projected onto it (each coordinate clipped to [lb_i, ub_i]):
        projected gradient descent.  The norm tested against tol is then the
        projected gradient's (entries pushing x out through a bound it sits
        on count 0), L-BFGS-B's pgtol; ``result.grad`` stays the gradient.
        Armijo projects its trial points and tests Bertsekas' condition
        ``f(P(x - s g)) <= f(x) + c g.(P(x - s g) - x)``.
    state : DescentState, optional
        ``result.state`` of an earlier run, to go on where it stopped: with
        x0 = result.x and the same kind of optimizer, the optimizer's buffers
        and counters (momentum, Adam's moments and step count) are taken up,
        so that 100 + 100 iterations give the 200-iteration run bit for bit.
        max_iter counts the updates of this run.
    progress : bool
        Show the run's progress on stderr: a tqdm bar if tqdm is installed
        (``pip install fastgrad[progress]``), else a line at most every half
        second and one at the end.  Off by default, and free when off.

    Returns
    -------
    DescentResult
        x, fun, grad, nit, nfev, converged, message, state (and path, path_fun).

    Raises
    ------
    TypeError, ValueError
        As for :func:`gradient`, and for learning_rate, max_iter, tol, ftol,
        optimizer, callback, record, state or progress out of their documented
        ranges (a state of another optimizer or dimension) -- all before f is
        called.  Exceptions raised by f or callback propagate.

    Numeric trouble along the way (a non-finite gradient, an update that overflows
    or is lost in rounding, h too small for the next x, a failed line search)
    does not raise: the run stops at the last good iterate, ``converged=False``,
    and ``message`` names the iteration and the reason.  Bad arguments raise
    before f is called.

    Examples
    --------
    >>> import fastgrad
    >>> r = fastgrad.gradient_descent(lambda x, y: x**2 + y**2, [1.0, -1.0], unpack=True)
    >>> r.converged, r.nit
    (True, 67)
    >>> fastgrad.gradient_descent(lambda x, y: x**2 + y**2, [1.0, -1.0], unpack=True,
    ...                           optimizer="nesterov").nit
    64
    """
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(gradient_descent, locals())  # one pool for the whole run
    evaluator, x, h, row = _prepare(f, x0, h, method, order, args, unpack, vectorized, workers)
    if row is COMPLEX:
        raise contract.complex_descent()
    if type(h) is str:
        raise contract.gradient_only("gradient_descent")
    learning_rate, max_iter, tol, ftol, record = contract.check_descent(
        learning_rate, max_iter, tol, ftol, callback, record)
    progress = contract.check_flag(progress, "progress")
    optimizer = as_optimizer(optimizer)
    kind = next(c for c in type(optimizer).__mro__ if c in _RULES)  # subclasses too
    state = contract.check_state(state, kind.__name__, x.shape[0])
    rule = _RULES[kind](optimizer, learning_rate)
    box = _box(bounds, x)
    if box is not None and not rule.projects:
        raise contract.unbounded_optimizer(optimizer)
    kernel_row = row if box is None else _BOUNDED_ROWS[row.method, row.order]
    report = None
    if callback is not None and wants_intermediate_result(callback):
        report, callback = IntermediateResult, ByKeyword(callback)
    shown = descent_progress(progress, max_iter)
    try:
        outcome = _descent.descent(evaluator, x, h, kernel_row, rule,
                                   min(max_iter, sys.maxsize), tol, ftol, callback, record, box,
                                   None if state is None else state.buffers, report, shown)
    except BaseException as error:
        if shown is not None:
            shown.close(shown.done_last)
        if isinstance(error, TypeError):
            _unpack_hint(error, f, x.shape[0], args, unpack, vectorized)
        raise
    if type(outcome) is int:  # (x0's stencil, before any move)
        if shown is not None:
            shown.close(0)
        raise _no_usable_step(x, h, outcome, None, row, box, evaluator)
    if evaluator.low_precision:
        _warn_if_imprecise(evaluator, h)
    reason, x, fun, grad, nit, nfev, norm, coordinate, path, path_fun = outcome
    after = DescentState(kind.__name__, x.shape[0], nit if state is None else state.nit + nit,
                         rule.save())
    result = descent_result(reason, x, fun, grad, nit, nfev, norm, coordinate, tol, ftol,
                            optimizer, path, path_fun, after)
    if shown is not None:
        shown.finish(result)
    return result


def _batch_by_rows(f, points, steps, row, method, order, bounds, args, unpack, vectorized,
                   full_output, progress, workers):
    """gradient_batch row by row: row r is gradient(f, X[r], ...), every row's
    stencils checked first (_stencils.check_rows, as the reference: the same errors)."""
    rows = points.tolist()
    boxes = [contract.check_bounds(bounds, x, r) for r, x in enumerate(rows)]
    h = steps if type(steps) is str else (
        [steps] * points.shape[1] if isinstance(steps, float) else steps.tolist())
    check_rows(rows, h, row if row is COMPLEX else STENCILS[row.method, row.order], boxes)
    results = rows_in_turn(
        lambda r: gradient(f, points[r], steps, method=method, order=order, bounds=bounds,
                           args=args, unpack=unpack, vectorized=vectorized,
                           full_output=full_output, workers=workers),
        len(rows), batch_progress(progress, len(rows)))
    return batch_result(results, np.array) if full_output else np.array(results)


def gradient_batch(f, X, h=1e-5, *, method="central", order=None, bounds=None, args=(),
                   unpack=False, vectorized=False, num_threads=None, full_output=False,
                   progress=False, workers=None):
    """Gradients of f at the m points in the rows of X.

    Parameters are those of :func:`gradient`, with X a 2-D (m, n) array-like of
    real, finite numbers (m >= 1), and:

    num_threads : int, optional
        Threads for a compiled objective (``fastgrad.objectives``, or a C
        callback); default: all cores (``OMP_NUM_THREADS`` respected).  Other
        tiers evaluate f from the calling thread (num_threads > 1 for them is
        a ValueError: use workers=); a vectorized f gets the stencils of many
        rows in one call (up to 65536 points).
    workers
        As for :func:`gradient`: the stencils of many rows go out at once.
    h : as for :func:`gradient`, "adaptive" too
        With h="adaptive", full_output=True or method="complex" the rows are
        taken one after another, row r exactly ``gradient(f, X[r], ...)``
        (serially: num_threads is checked but unused; every row's stencils
        are still checked before f is called).  h="adaptive" takes no bounds.
    full_output : bool
        Return one GradientResult: ``grad``, ``error`` and ``step`` of shape
        (m, n) (row r: gradient(f, X[r], full_output=True)'s), ``nfev`` every
        evaluation of the call, ``success`` only if every row succeeded, and a
        ``message`` naming how many rows failed and the first one's reason.
    progress : bool
        Show the rows done on stderr: a tqdm bar if tqdm is installed, else a
        line at most every half second and one at the end.  The rows then
        run in chunks of about a tenth of a second each (the result is the
        same).  Off by default.

    Returns
    -------
    ndarray of shape (m, n), float64, or GradientResult
        Row r is ``gradient(f, X[r], h, ...)``, bit for bit on the Python and
        compiled tiers; on the vectorized tier f sees the rows of many points
        at once, so the rows agree to within the rounding of f.

    Raises
    ------
    TypeError, ValueError
        As for :func:`gradient`, with X (not 2-D, empty, ragged, not real or
        not finite) in place of x; ValueError for num_threads not a positive
        int, or above 1 on a tier that cannot use threads.  Every row's stencil is checked before f is evaluated: h too
        small for some X[r, i] raises ValueError naming the row and the
        coordinate.

    Examples
    --------
    >>> import fastgrad
    >>> from fastgrad.objectives import Sphere
    >>> fastgrad.gradient_batch(Sphere(), [[1.0, 2.0], [3.0, -1.0]]).round(6)
    array([[ 2.,  4.],
           [ 6., -2.]])
    """
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(gradient_batch, locals())
    f = contract.as_objective(f, args)  # a C callback becomes a CFunction objective
    points = arguments.batch(X)
    m, n = points.shape
    steps = arguments.steps(h, n)
    row = _stencil_row(method, order)
    # More threads than rows, or than a few per core, only cost: capped (the
    # result is the same for any number of threads).
    requested = contract.check_threads(num_threads, _batch.max_threads())
    threads = min(requested, m, 4 * (os.cpu_count() or 1))
    unpack = contract.check_flag(unpack, "unpack")
    vectorized = contract.check_flag(vectorized, "vectorized")
    if num_threads is not None and requested > 1 and (
            workers is not None or not contract.compiled_tier(f, args, unpack, vectorized)):
        raise contract.threads_need_workers(requested)  # never silently serial
    if full_output is not False:
        full_output = contract.check_flag(full_output, "full_output")
    progress = contract.check_flag(progress, "progress")
    if row is COMPLEX:
        _complex.check(f, steps)
    if full_output or row is COMPLEX or (type(steps) is str and steps == "adaptive"):
        return _batch_by_rows(f, points, steps, row, method, order, bounds, args, unpack,
                              vectorized, full_output, progress, workers)
    if type(steps) is str:
        steps = _kernel_steps(steps, row)
    evaluator = _evaluator(f, args, n, unpack, vectorized, workers)
    box, kernel_row = None, row
    if bounds is not None:
        box, kernel_row = _box(bounds, points[0], 0), _BOUNDED_ROWS[row.method, row.order]
        inside = ((points >= box[0]) & (points <= box[1])).all(axis=1)
        if not inside.all():  # the first row outside, with the reference's message
            r = int(np.argmin(inside))
            _box(bounds, points[r], r)
    shown = batch_progress(progress, m)
    done = 0
    try:
        G = _batch.gradient_batch(evaluator, points, steps, kernel_row, threads, box, shown)
        if type(G) is tuple:
            r, i = G
            raise _no_usable_step(points[r], steps, i, r, row, box, evaluator)
        done = m
    except TypeError as error:
        _unpack_hint(error, f, n, args, unpack, vectorized)
        raise
    finally:
        if shown is not None:
            shown.close(done if done else shown.done_last)
    if evaluator.low_precision:
        _warn_if_imprecise(evaluator, steps)
    return G


class Gradient(Prepared):
    """``gradient`` prepared for f: ``G(x)`` is ``gradient(f, x, **options)``.

    f, h, method, order, args and the flags are checked once, when G is made
    (with the exceptions gradient() raises for them); each call checks x (and
    the bounds against it) and returns exactly what gradient() returns, bit for
    bit, with the same exceptions and warnings -- at a fraction of the cost
    per call.  G may be called from several threads at once.

    Parameters
    ----------
    f : callable
        As for :func:`fastgrad.gradient`.
    **options
        h, method, order, bounds, args, unpack, vectorized, full_output, workers:
        as for :func:`fastgrad.gradient`, read when G is made (with workers, each
        call is gradient()'s spread over them).

    Raises
    ------
    TypeError, ValueError
        When G is made: as gradient() for f, args, h, method, order and the
        flags (an unknown option: TypeError).  When G is called: as gradient()
        for x and what depends on it (an h of the wrong length, the bounds, a
        step too small for x).

    Examples
    --------
    >>> import fastgrad
    >>> G = fastgrad.Gradient(lambda x, y: x**2 + y**2, unpack=True)
    >>> G([1.0, -1.0])
    array([ 2., -2.])
    >>> bool((G([3.0, 0.5]) == fastgrad.gradient(lambda x, y: x**2 + y**2, [3.0, 0.5],
    ...                                              unpack=True)).all())
    True
    """

    __slots__ = ("_h", "_n", "_row", "_bounds", "_full_output", "_args", "_unpack",
                 "_vectorized", "_core")

    _defaults = GRADIENT_DEFAULTS
    _function = staticmethod(gradient)

    #: G(x): compiled (no Python frame) for the common case, self._call else.
    __call__ = _stencil.call_prepared

    def _plan(self, f, options):
        self._core = None
        checked = checked_gradient_options(f, options, _prepared_steps, _stencil_row)
        if checked is None:
            self._deferred = True
            return
        self._f, (self._h, self._n), self._row, self._unpack, self._vectorized, \
            self._full_output = checked
        # The complex step's own tiers, or workers: gradient() itself.
        if self._row is COMPLEX or options["workers"] is not None:
            self._deferred = True
            return
        if type(self._h) is str:  # "auto": the constants; "adaptive" stays
            self._h = _kernel_steps(self._h, self._row)
        self._args = tuple(options["args"])
        self._bounds = options["bounds"]
        if self._bounds is None and not self._full_output and type(self._h) is not str:
            self._core = _stencil.PreparedGradient(
                self._h, self._row, self._n, arguments.point, self._new_evaluator,
                self._fail, self._public)

    def _new_evaluator(self, n):
        return _evaluator(self._f, self._args, n, self._unpack, self._vectorized)

    def _fail(self, x, g, evaluator):
        """After the compiled call: raise for a bad coordinate g (an int), warn for
        f's low precision (the evaluator, which keeps its flag, is not reused)."""
        if type(g) is int:
            raise _no_usable_step(x, self._h, g, None, self._row, None, evaluator)
        _warn_if_imprecise(evaluator, self._h)
        return g

    def _call(self, x):
        """G(x) with bounds, h="adaptive" or full_output (or deferred: gradient())."""
        if self._deferred:
            return self._public(x)
        x = arguments.point(x)
        n = x.shape[0]
        if self._n >= 0 and self._n != n:  # a sequence h of another length: its error
            return self._public(x)
        evaluator = self._take(n) or self._new_evaluator(n)
        g = _gradient(evaluator, x, self._h, self._row, self._bounds, self._full_output,
                      (self.f, self._args, self._unpack, self._vectorized))
        if not evaluator.low_precision:
            self._give(n, evaluator)
        return g


def _prepared_steps(h):
    """h checked without x, as the kernels read it, and the n it needs (-1: any)."""
    n = sequence_length(h)
    return arguments.steps(h, max(n, 1)), n
