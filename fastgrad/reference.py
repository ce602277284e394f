"""Pure-Python reference implementation of fastgrad (standard library only).

It offers the same functions, parameters and semantics as ``fastgrad`` and is
written to be checked against the formulas by eye.  The tests hold the Cython
core to it bit for bit, and the benchmarks measure the core against it.

For coordinate i, with the realised points xp = x[i] + h[i] and xm = x[i] - h[i]:

    central:  g[i] = (f(x with x[i]=xp) - f(x with x[i]=xm)) / (xp - xm)
    forward:  g[i] = (f(x with x[i]=xp) - f(x)) / (xp - x[i])
    backward: g[i] = (f(x) - f(x with x[i]=xm)) / (x[i] - xm)

Dividing by the realised step (xp - xm), not the nominal 2h, removes the
rounding of x[i] +- h from the result, as scipy.optimize.approx_fprime does.
"""
import math

from . import _contract as contract
from . import _result
from ._optimizers import SGD, Adam, Armijo, Momentum, as_optimizer
from ._result import DescentResult

__all__ = ["gradient", "gradient_batch", "gradient_descent_step", "gradient_descent",
           "DescentResult", "SGD", "Momentum", "Adam", "Armijo"]


# -- evaluating f -------------------------------------------------------------

def _evaluator(f, args, unpack, vectorized):
    """A function values(x, points) -> [f at each point], in order.

    A point is (i, v): x with coordinate i replaced by v, or (None, None) for x.
    """
    def point(x, i, v):
        p = list(x)
        if i is not None:
            p[i] = v
        return p

    if not vectorized:
        def values(x, points):
            out = []
            for i, v in points:
                p = point(x, i, v)
                out.append(contract.as_real(f(*p, *args) if unpack else f(p, *args)))
            return out
        return values

    def values(x, points):
        # Whole rows in one call of f, in chunks so that memory stays bounded.
        rows = contract.vectorized_rows_per_call(len(x))
        out = []
        for start in range(0, len(points), rows):
            block = [point(x, i, v) for i, v in points[start:start + rows]]
            if unpack:
                result = f(*[list(column) for column in zip(*block)], *args)
            else:
                result = f(block, *args)
            out.extend(_vectorized_values(result, len(block)))
        return out
    return values


def _vectorized_values(result, rows):
    shape = getattr(result, "shape", None)
    if shape is not None:
        if tuple(shape) != (rows,):
            raise ValueError(contract.vectorized_shape_error(tuple(shape), rows))
    elif not hasattr(result, "__len__") or len(result) != rows:
        got = (len(result),) if hasattr(result, "__len__") else "of a scalar"
        raise ValueError(contract.vectorized_shape_error(got, rows))
    values = []
    for v in result:
        nested = hasattr(v, "__len__") and not isinstance(v, (str, bytes))
        if nested and getattr(v, "shape", None) != ():  # a nested list (0-d arrays are scalars)
            raise ValueError(contract.vectorized_shape_error((rows, len(v)), rows))
        if not contract.is_real(v):
            raise TypeError(contract.vectorized_type_error(contract.describe(v)))
        values.append(float(v))
    return values


# -- the stencil --------------------------------------------------------------

def _realised_step(x, h, i, method):
    xp, xm = x[i] + h[i], x[i] - h[i]
    return {"central": xp - xm, "forward": xp - x[i], "backward": x[i] - xm}[method]


def _bad_coordinate(x, h, method):
    """The first i whose realised step is 0 or not finite (h too small or too large), or None."""
    for i in range(len(x)):
        step = _realised_step(x, h, i, method)
        if step == 0.0 or not math.isfinite(step):
            return i
    return None


def _stencil(x, h, method):
    """The points where the gradient evaluates f, in evaluation order."""
    points = [] if method == "central" else [(None, None)]
    for i in range(len(x)):
        if method != "backward":
            points.append((i, x[i] + h[i]))
        if method != "forward":
            points.append((i, x[i] - h[i]))
    return points


def _gradient_at(values, x, h, method):
    """The gradient at x (whose stencil is checked) and the number of evaluations."""
    points = _stencil(x, h, method)
    fv = values(x, points)
    g = []
    for i in range(len(x)):
        step = _realised_step(x, h, i, method)
        if method == "central":
            g.append((fv[2 * i] - fv[2 * i + 1]) / step)
        elif method == "forward":
            g.append((fv[1 + i] - fv[0]) / step)
        else:
            g.append((fv[0] - fv[1 + i]) / step)
    return g, len(points)


def _prepare(f, x, h, method, args, unpack, vectorized):
    contract.check_callable(f, args)
    x = contract.point_values(x)
    h = contract.step_values(h, len(x))
    method = contract.check_method(method)
    values = _evaluator(f, args, contract.check_flag(unpack, "unpack"),
                        contract.check_flag(vectorized, "vectorized"))
    return values, x, h, method


def _check_stencil(x, h, method, row=None):
    bad = _bad_coordinate(x, h, method)
    if bad is not None:
        raise ValueError(contract.step_too_small(bad, x[bad], h[bad], row))


def _checked_gradient(values, x, h, method):
    _check_stencil(x, h, method)
    return _gradient_at(values, x, h, method)[0]


# -- the public functions -----------------------------------------------------

def gradient(f, x, h=1e-5, *, method="central", args=(), unpack=False, vectorized=False):
    """Finite-difference gradient of a scalar function f at x (see fastgrad.gradient)."""
    values, x, h, method = _prepare(f, x, h, method, args, unpack, vectorized)
    return _checked_gradient(values, x, h, method)


def gradient_batch(f, X, h=1e-5, *, method="central", args=(), unpack=False, vectorized=False,
                   num_threads=None):
    """Gradients at the rows of X, one after another (see fastgrad.gradient_batch)."""
    contract.check_callable(f, args)
    rows = contract.batch_values(X)
    h = contract.step_values(h, len(rows[0]))
    method = contract.check_method(method)
    contract.check_threads(num_threads, 1)  # checked for parity; the reference is serial
    values = _evaluator(f, args, contract.check_flag(unpack, "unpack"),
                        contract.check_flag(vectorized, "vectorized"))
    for r, x in enumerate(rows):  # every stencil is checked before f is evaluated
        _check_stencil(x, h, method, r)
    return [_gradient_at(values, x, h, method)[0] for x in rows]


def gradient_descent_step(f, x, learning_rate=0.1, h=1e-5, *, method="central", args=(),
                          unpack=False, vectorized=False):
    """One step x - learning_rate * gradient(f, x) (see fastgrad.gradient_descent_step)."""
    values, x, h, method = _prepare(f, x, h, method, args, unpack, vectorized)
    learning_rate = contract.positive(learning_rate, "learning_rate")
    g = _checked_gradient(values, x, h, method)
    return [xi - learning_rate * gi for xi, gi in zip(x, g)]


def gradient_descent(f, x0, learning_rate=0.1, *, max_iter=1000, tol=1e-6, ftol=None, h=1e-5,
                     method="central", optimizer=None, args=(), unpack=False, vectorized=False,
                     callback=None, record=False):
    """Gradient descent with finite-difference gradients (see fastgrad.gradient_descent)."""
    values, x, h, method = _prepare(f, x0, h, method, args, unpack, vectorized)
    learning_rate, max_iter, tol, ftol, record = contract.check_descent(
        learning_rate, max_iter, tol, ftol, callback, record)
    rule = as_optimizer(optimizer)
    _check_stencil(x, h, method)

    def f_at(point):
        return values(point, [(None, None)])[0]

    # f along the iterates is needed to record them, for ftol, and for Armijo.
    tracking = record or ftol is not None or isinstance(rule, Armijo)
    nit = nfev = 0
    fx = None
    if tracking:
        fx, nfev = f_at(x), 1
    path, path_fun = ([x], [fx]) if record else (None, None)
    step = _update_rule(rule, len(x), learning_rate)
    stop_requested = small_change = False
    coordinate = None
    while True:
        g, used = _gradient_at(values, x, h, method)
        nfev += used
        if not all(math.isfinite(gi) for gi in g):
            reason, norm = _result.GRADIENT_NOT_FINITE, math.nan
            break
        total = 0.0
        for gi in g:
            total += gi * gi
        norm = math.sqrt(total)
        if norm <= tol:
            reason = _result.CONVERGED
            break
        if stop_requested:
            reason = _result.CALLBACK
            break
        if small_change:
            reason = _result.FTOL
            break
        if nit == max_iter:
            reason = _result.MAX_ITER
            break
        if isinstance(rule, Armijo):
            x_new, f_new, trials = _armijo(f_at, rule, x, g, fx, total, learning_rate)
            nfev += trials
            if x_new is None:
                reason = _result.LINE_SEARCH_FAILED
                break
        else:
            x_new = step(x, g)
            if not all(math.isfinite(v) for v in x_new):
                reason = _result.STEP_NOT_FINITE
                break
        if x_new == x:
            reason = _result.STEP_LOST
            break
        coordinate = _bad_coordinate(x_new, h, method)
        if coordinate is not None:
            reason = _result.STENCIL_LOST
            break
        if tracking:
            if not isinstance(rule, Armijo):
                f_new, nfev = f_at(x_new), nfev + 1
            # f itself decides (ftol, Armijo): an inf or nan f would pass their tests.
            # Recording alone only looks on.
            if not math.isfinite(f_new) and (ftol is not None or isinstance(rule, Armijo)):
                reason = _result.F_NOT_FINITE
                break
        x, nit = x_new, nit + 1
        if tracking:
            if ftol is not None:
                small_change = abs(fx - f_new) <= ftol * max(abs(fx), abs(f_new), 1.0)
            fx = f_new
            if record:
                path.append(x)
                path_fun.append(fx)
        if callback is not None:
            stop_requested = bool(callback(list(x)))

    if not tracking:
        fx, nfev = f_at(x), nfev + 1
    message = _result.stop_message(
        reason, nit, norm, tol, -1 if coordinate is None else coordinate, ftol,
        getattr(rule, "max_backtracks", None))
    return DescentResult(
        x=x, fun=fx, grad=g, nit=nit, nfev=nfev,
        converged=reason in (_result.CONVERGED, _result.FTOL), message=message,
        path=path, path_fun=path_fun)


# -- descent methods (formulas in fastgrad/_optimizers.py) ----------------------

def _update_rule(rule, n, lr):
    """A function step(x, g) -> the next iterate, holding the method's state."""
    if isinstance(rule, Momentum):
        state = {"b": None}

        def step(x, g):
            if state["b"] is None:
                b = list(g)
            else:
                b = [rule.momentum * bi + (1.0 - rule.dampening) * gi
                     for bi, gi in zip(state["b"], g)]
            state["b"] = b
            if rule.nesterov:
                d = [gi + rule.momentum * bi for gi, bi in zip(g, b)]
            else:
                d = b
            return [xi - lr * di for xi, di in zip(x, d)]
        return step

    if isinstance(rule, Adam):
        state = {"m": [0.0] * n, "v": [0.0] * n, "beta1_t": 1.0, "beta2_t": 1.0}

        def step(x, g):
            b1, b2 = rule.beta1, rule.beta2
            state["m"] = m = [b1 * mi + (1.0 - b1) * gi for mi, gi in zip(state["m"], g)]
            state["v"] = v = [b2 * vi + (1.0 - b2) * gi * gi for vi, gi in zip(state["v"], g)]
            state["beta1_t"] *= b1
            state["beta2_t"] *= b2
            x_new = []
            for xi, mi, vi in zip(x, m, v):
                m_hat = mi / (1.0 - state["beta1_t"])
                v_hat = vi / (1.0 - state["beta2_t"])
                x_new.append(xi - lr * m_hat / (math.sqrt(v_hat) + rule.eps))
            return x_new
        return step

    def step(x, g):  # SGD
        return [xi - lr * gi for xi, gi in zip(x, g)]
    return step


def _armijo(f_at, rule, x, g, fx, g_squared, lr):
    """Backtracking line search: (x_new, f(x_new), evaluations), x_new None if none works."""
    s, trials = lr, 0
    for _ in range(rule.max_backtracks + 1):
        trial = [xi - s * gi for xi, gi in zip(x, g)]
        if all(math.isfinite(v) for v in trial):
            f_trial = f_at(trial)
            trials += 1
            if f_trial <= fx - rule.c * s * g_squared:
                return trial, f_trial, trials
        s *= rule.shrink
    return None, None, trials
