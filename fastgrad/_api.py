"""The public functions of fastgrad: validate once, pick the evaluation tier, run the core.

No numeric loops here: the stencil and descent loops live in ``_core.pyx``.
"""
import math
import os
import sys

import numpy as np

from . import _contract as contract
from . import _core
from ._evaluators import CompiledEvaluator, PythonEvaluator, VectorizedEvaluator
from .objectives import CFunction, Objective
from ._optimizers import as_optimizer
from ._result import DescentResult

_METHOD_CODES = {"central": 0, "forward": 1, "backward": 2}


def _point(x):
    """x as a new float64 array (never a view of the caller's data)."""
    point = _core.as_point(x)  # lists of floats, the common real arrays: in C
    if point is not None:
        return point
    if type(x) is np.ndarray and x.dtype.kind in "biuf" and x.ndim == 1 and x.size:
        point = np.array(x, dtype=np.float64)
        if np.isfinite(point).all():
            return point
    # Anything else (subclasses, strings, complex, nesting, non-finite...): the
    # general check, so that value and message are exactly the reference's.
    return np.array(contract.point_values(x), dtype=np.float64)


def _steps(h, n):
    """h as a float (one step for every coordinate) or a new float64 array of n."""
    if type(h) is float and 0.0 < h < math.inf:
        return h
    if isinstance(h, np.ndarray) and h.dtype.kind in "biuf" and h.shape == (n,):
        steps = np.array(h, dtype=np.float64)
        if ((steps > 0.0) & np.isfinite(steps)).all():
            return steps
    steps = contract.step_values(h, n)
    return steps[0] if contract.is_real(h) else np.array(steps, dtype=np.float64)


def _is_c_callback(f):
    # scipy.LowLevelCallable is a tuple (PyCapsule, function, user_data) whose
    # [] raises; checked by duck type so that scipy stays optional.
    if isinstance(f, tuple):
        return len(f) == 3 and type(tuple.__getitem__(f, 0)).__name__ == "PyCapsule"
    return type(f).__name__ == "PyCapsule"


def _objective(f, args):
    """f, checked; a C callback becomes a CFunction objective."""
    if _is_c_callback(f):
        f = CFunction(f)
    contract.check_callable(f, args)
    return f


def _evaluator(f, args, n, unpack, vectorized):
    """The evaluation tier for f: compiled, vectorized or one Python call per point."""
    args = tuple(args)  # a tuple subclass (a namedtuple) is passed on as its items
    if vectorized:
        return VectorizedEvaluator(f, args, n, unpack)
    # The compiled tier, unless a Python subclass redefines what calling f means.
    if isinstance(f, Objective) and type(f).__call__ is Objective.__call__ \
            and not args and not unpack:
        return CompiledEvaluator(f, n)
    return PythonEvaluator(f, args, n, unpack)


def _prepare(f, x, h, method, args, unpack, vectorized):
    """The checked arguments, in the reference's order of checks.

    The evaluator is made later, after the callers' own checks: a compiled
    objective checks x's length there, as the reference's first call of f does.
    """
    f = _objective(f, args)
    x = _point(x)
    h = _steps(h, x.shape[0])
    code = _METHOD_CODES[contract.check_method(method)]
    return (f, x, h, code, contract.check_flag(unpack, "unpack"),
            contract.check_flag(vectorized, "vectorized"))


def gradient(f, x, h=1e-5, *, method="central", args=(), unpack=False, vectorized=False):
    """Finite-difference gradient of a scalar function f at x.

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> float`` with x a read-only 1-D float64 array (copy it to
        change it); ``f(*x, *args)`` with Python floats if ``unpack=True``.  With
        ``vectorized=True``, f gets a (k, n) array of k points, one per row (with
        unpack, the n columns), and returns k values.
    x : 1-D sequence of real numbers
        The point; never modified.
    h : float or sequence of n floats
        Positive, finite step(s).
    method : {"central", "forward", "backward"}
        central: ``(f(x + h e_i) - f(x - h e_i)) / (xp - xm)``, error O(h**2);
        forward/backward: one-sided, error O(h), one evaluation fewer per coordinate.
        The division is by the realised step ``xp - xm``, as scipy does.
    args : tuple
        Extra arguments passed to f.
    unpack, vectorized : bool
        How f takes its argument (see f).

    Returns
    -------
    ndarray of shape (n,), float64
        The gradient; f returning nan or inf gives nan or inf here.

    Raises
    ------
    TypeError
        f not callable, x or h not real numbers, f not returning a real scalar.
    ValueError
        x empty, not 1-D or not finite; h or method invalid; h too small for
        x[i] (the realised step rounds to 0); vectorized f returning a wrong shape.

    Examples
    --------
    >>> import fastgrad
    >>> fastgrad.gradient(lambda x, y: x**2 + y**2, [1.0, -1.0], unpack=True)
    array([ 2., -2.])
    """
    f, x, h, code, unpack, vectorized = _prepare(f, x, h, method, args, unpack, vectorized)
    return _core.gradient(_evaluator(f, args, x.shape[0], unpack, vectorized), x, h, code)


def gradient_descent_step(f, x, learning_rate=0.1, h=1e-5, *, method="central", args=(),
                          unpack=False, vectorized=False):
    """One gradient-descent step: ``x - learning_rate * gradient(f, x, h, ...)``.

    Parameters are those of :func:`gradient`, plus ``learning_rate`` (positive,
    finite).  Returns a new float64 array; x is not modified.

    Examples
    --------
    >>> import fastgrad
    >>> fastgrad.gradient_descent_step(lambda x, y: x**2 + y**2, [1.0, -1.0], 0.25, unpack=True)
    array([ 0.5, -0.5])
    """
    f, x, h, code, unpack, vectorized = _prepare(f, x, h, method, args, unpack, vectorized)
    learning_rate = contract.positive(learning_rate, "learning_rate")
    evaluator = _evaluator(f, args, x.shape[0], unpack, vectorized)
    return _core.descent_step(evaluator, x, h, code, learning_rate)


def gradient_descent(f, x0, learning_rate=0.1, *, max_iter=1000, tol=1e-6, ftol=None, h=1e-5,
                     method="central", optimizer=None, args=(), unpack=False, vectorized=False,
                     callback=None, record=False):
    """Minimise f by gradient descent with finite-difference gradients.

    Each iteration k computes g = gradient(f, x_k); stops (converged) if
    ``sqrt(sum(g_i**2)) <= tol``; otherwise moves to x_{k+1} by the optimizer
    (plain steps ``x_k - learning_rate * g`` by default).  The whole loop runs
    in the compiled core -- without the GIL for a compiled objective.

    Parameters
    ----------
    f, x0, h, method, args, unpack, vectorized
        As for :func:`gradient` (x0 is the start point).
    learning_rate : float
        Positive, finite step size (Armijo: the first trial step).
    max_iter : int
        Most updates to make (>= 0); the gradient at the final x decides ``converged``.
    tol : float
        Stop, converged, when the gradient norm is <= tol (>= 0).
    ftol : float, optional
        Stop, converged, when an update changes f by at most
        ``ftol * max(|f_k|, |f_{k+1}|, 1)`` (scipy's relative test); costs one
        evaluation of f per iterate.
    optimizer : None, str or optimizer object
        None or "sgd": plain steps; "momentum", "nesterov", "adam", "armijo", or
        ``fastgrad.Momentum(momentum, dampening, nesterov)``,
        ``fastgrad.Adam(beta1, beta2, eps)``, ``fastgrad.Armijo(c, shrink, max_backtracks)``
        with the update rules given in their docstrings.
    callback : callable, optional
        ``callback(x)`` after each update, with a copy of the new iterate; returning
        a true value stops the run (once the gradient at x is known).
    record : bool
        Keep every iterate and f at it in ``result.path`` and ``result.path_fun``
        (one more evaluation of f per iterate).

    Returns
    -------
    DescentResult
        x, fun, grad, nit, nfev, converged, message (and path, path_fun).

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
    f, x, h, code, unpack, vectorized = _prepare(f, x0, h, method, args, unpack, vectorized)
    learning_rate, max_iter, tol, ftol, record = contract.check_descent(
        learning_rate, max_iter, tol, ftol, callback, record)
    rule = as_optimizer(optimizer)
    evaluator = _evaluator(f, args, x.shape[0], unpack, vectorized)
    max_iter = min(max_iter, sys.maxsize)  # beyond any run's reach; the core counts in C
    return DescentResult(**_core.descent(evaluator, x, h, code, learning_rate, max_iter, tol,
                                         ftol, rule, callback, record))


def gradient_batch(f, X, h=1e-5, *, method="central", args=(), unpack=False, vectorized=False,
                   num_threads=None):
    """Gradients of f at the m points in the rows of X.

    Parameters are those of :func:`gradient`, with X a 2-D (m, n) array-like of
    real, finite numbers (m >= 1), and:

    num_threads : int, optional
        Threads for a compiled objective (``fastgrad.objectives``, or a C
        callback); default: all cores (``OMP_NUM_THREADS`` respected).  Other
        tiers evaluate f from the calling thread; a vectorized f gets the
        stencils of many rows in one call (up to 65536 points).

    Returns
    -------
    ndarray of shape (m, n): row r is ``gradient(f, X[r], h, ...)``, bit for bit on the
    Python and compiled tiers; on the vectorized tier f sees the rows of many
    points at once, so the rows agree to within the rounding of f.

    Every row's stencil is checked before f is evaluated: h too small for some
    X[r, i] raises ValueError naming the row and the coordinate.

    Examples
    --------
    >>> import fastgrad
    >>> from fastgrad.objectives import Sphere
    >>> fastgrad.gradient_batch(Sphere(), [[1.0, 2.0], [3.0, -1.0]]).round(6)
    array([[ 2.,  4.],
           [ 6., -2.]])
    """
    f = _objective(f, args)
    points = _batch(X)
    m, n = points.shape
    steps = _steps(h, n)
    code = _METHOD_CODES[contract.check_method(method)]
    # More threads than rows, or than a few per core, only cost: capped (the
    # result is the same for any number of threads).
    threads = min(contract.check_threads(num_threads, _core.max_threads()), m,
                  4 * (os.cpu_count() or 1))
    unpack = contract.check_flag(unpack, "unpack")
    vectorized = contract.check_flag(vectorized, "vectorized")
    evaluator = _evaluator(f, args, n, unpack, vectorized)
    return _core.gradient_batch(evaluator, points, steps, code, threads)


def _batch(X):
    """X as a new C-contiguous (m, n) float64 array, checked."""
    if type(X) is np.ndarray and X.dtype.kind in "biuf" and X.ndim == 2 and X.size > 0:
        points = np.array(X, dtype=np.float64, order="C")
        if np.isfinite(points).all():
            return points
    return np.array(contract.batch_values(X), dtype=np.float64)
