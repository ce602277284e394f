"""Pure-Python reference implementation of fastgrad (standard library only).

It offers the same functions, parameters and semantics as ``fastgrad`` and is
written to be checked against the formulas by eye.  The tests hold the Cython
core to it bit for bit, and the benchmarks measure the core against it.

The stencils are rows of ``_stencils.STENCILS`` (read by the compiled core
too).  For coordinate i, with the realised points xp = x[i] + h[i] and
xm = x[i] - h[i], the default rows are:

    central:  g[i] = (f(x with x[i]=xp) - f(x with x[i]=xm)) / (xp - xm)
    forward:  g[i] = (f(x with x[i]=xp) - f(x)) / (xp - x[i])
    backward: g[i] = (f(x) - f(x with x[i]=xm)) / (x[i] - xm)

Dividing by the realised step (xp - xm), not the nominal 2h, removes the
rounding of x[i] +- h from the result, as scipy.optimize.approx_fprime does.
"""
import math

from . import _contract as contract
from ._optimizers import SGD, Adam, Armijo, Momentum, as_optimizer
from ._result import DescentResult, Stop, descent_result, diverged
from ._stencils import stencil as stencil_row

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
            out.extend(contract.vectorized_values(result, len(block)))
        return out
    return values


# -- the stencil (a row of _stencils.STENCILS) ----------------------------------

def _realised(xi, hi, offset):
    """x[i] + offset * h[i]; offset +-1 gives exactly x + h and x - h."""
    return xi if offset == 0 else xi + offset * hi


def _span(x, h, i, row):
    """The realised distance coordinate i's sum is divided by."""
    hi_, lo = row.span
    return _realised(x[i], h[i], hi_) - _realised(x[i], h[i], lo)


def _bad_coordinate(x, h, row):
    """The first i whose realised span is 0 or not finite (h too small or too large)
    or, for rows reaching beyond their span, with a point that is not finite; else None."""
    reach = max(abs(row.span[0]), abs(row.span[1]))
    for i in range(len(x)):
        span = _span(x, h, i, row)
        if span == 0.0 or not math.isfinite(span):
            return i
        for offset in row.point_offsets:
            if abs(offset) > reach and not math.isfinite(_realised(x[i], h[i], offset)):
                return i
    return None


def _stencil(x, h, row):
    """The points where the gradient evaluates f, in evaluation order."""
    points = [(None, None)] if row.needs_center else []
    for i in range(len(x)):
        for offset in row.point_offsets:
            points.append((i, _realised(x[i], h[i], offset)))
    return points


def _gradient_at(values, x, h, row):
    """The gradient at x (whose stencil is checked) and the number of evaluations."""
    points = _stencil(x, h, row)
    fv = values(x, points)
    center = fv[0] if row.needs_center else None
    first = 1 if row.needs_center else 0
    per_coordinate = len(row.point_offsets)
    g = []
    for i in range(len(x)):
        at = iter(fv[first + i * per_coordinate:first + (i + 1) * per_coordinate])
        total = None
        for offset, weight in zip(row.offsets, row.float_weights):
            term = weight * (center if offset == 0 else next(at))
            total = term if total is None else total + term  # 0.0 + -0.0 would lose a sign
        g.append(total / _span(x, h, i, row))
    return g, len(points)


def _prepare(f, x, h, method, order, args, unpack, vectorized):
    f = contract.as_objective(f, args)
    x = contract.point_values(x)
    h = contract.step_values(h, len(x))
    row = stencil_row(contract.check_method(method), order)
    values = _evaluator(f, args, contract.check_flag(unpack, "unpack"),
                        contract.check_flag(vectorized, "vectorized"))
    return values, x, h, row


def _check_stencil(x, h, row, r=None):
    bad = _bad_coordinate(x, h, row)
    if bad is not None:
        raise ValueError(contract.step_too_small(bad, x[bad], h[bad], r))


def _checked_gradient(values, x, h, row):
    _check_stencil(x, h, row)
    return _gradient_at(values, x, h, row)[0]


# -- the public functions -----------------------------------------------------

def gradient(f, x, h=1e-5, *, method="central", order=None, args=(), unpack=False,
             vectorized=False):
    """Finite-difference gradient of a scalar function f at x (see fastgrad.gradient)."""
    values, x, h, row = _prepare(f, x, h, method, order, args, unpack, vectorized)
    return _checked_gradient(values, x, h, row)


def gradient_batch(f, X, h=1e-5, *, method="central", order=None, args=(), unpack=False,
                   vectorized=False, num_threads=None):
    """Gradients at the rows of X, one after another (see fastgrad.gradient_batch)."""
    f = contract.as_objective(f, args)
    rows = contract.batch_values(X)
    h = contract.step_values(h, len(rows[0]))
    row = stencil_row(contract.check_method(method), order)
    contract.check_threads(num_threads, 1)  # checked for parity; the reference is serial
    values = _evaluator(f, args, contract.check_flag(unpack, "unpack"),
                        contract.check_flag(vectorized, "vectorized"))
    for r, x in enumerate(rows):  # every stencil is checked before f is evaluated
        _check_stencil(x, h, row, r)
    return [_gradient_at(values, x, h, row)[0] for x in rows]


def gradient_descent_step(f, x, learning_rate=0.1, h=1e-5, *, method="central", order=None,
                          args=(), unpack=False, vectorized=False):
    """One step x - learning_rate * gradient(f, x) (see fastgrad.gradient_descent_step)."""
    values, x, h, row = _prepare(f, x, h, method, order, args, unpack, vectorized)
    learning_rate = contract.positive(learning_rate, "learning_rate")
    g = _checked_gradient(values, x, h, row)
    return [xi - learning_rate * gi for xi, gi in zip(x, g)]


def gradient_descent(f, x0, learning_rate=0.1, *, max_iter=1000, tol=1e-6, ftol=None, h=1e-5,
                     method="central", order=None, optimizer=None, args=(), unpack=False,
                     vectorized=False, callback=None, record=False):
    """Gradient descent with finite-difference gradients (see fastgrad.gradient_descent)."""
    values, x, h, row = _prepare(f, x0, h, method, order, args, unpack, vectorized)
    learning_rate, max_iter, tol, ftol, record = contract.check_descent(
        learning_rate, max_iter, tol, ftol, callback, record)
    optimizer = as_optimizer(optimizer)
    rule_class = next(_RULES[c] for c in type(optimizer).__mro__ if c in _RULES)  # subclasses too
    rule = rule_class(optimizer, learning_rate)
    _check_stencil(x, h, row)

    def f_at(point):
        return values(point, [(None, None)])[0]

    # f along the iterates is needed to record them, for ftol, and for line searches.
    tracking = record or ftol is not None or rule.searches
    nit = nfev = 0
    fx = None
    if tracking:
        fx, nfev = f_at(x), 1
    path, path_fun = ([list(x)], [fx]) if record else (None, None)
    stop_requested = small_change = False
    coordinate = None
    top0 = max(abs(v) for v in x)
    rising = 0  # updates in a row after which the gradient norm was larger
    while True:
        g, used = _gradient_at(values, x, h, row)
        nfev += used
        if not all(math.isfinite(gi) for gi in g):
            if nit == 0:
                reason, norm = Stop.START_NOT_FINITE, math.nan
                break
            # Back to the last iterate with a finite gradient, the previous one.
            x, g, fx, norm, nit = x_old, g_old, fx_old, norm_old, nit - 1
            if record:
                path.pop()
                path_fun.pop()
            reason = Stop.GRADIENT_NOT_FINITE
            break
        total = 0.0
        for gi in g:
            total += gi * gi
        norm = math.sqrt(total)
        if nit > 0:
            rising = rising + 1 if norm > norm_old else 0
        if norm <= tol:
            reason = Stop.CONVERGED
            break
        if stop_requested:
            reason = Stop.CALLBACK
            break
        if small_change:
            reason = Stop.FTOL
            break
        if nit == max_iter:
            reason = Stop.MAX_ITER
            break
        x_new, f_new, evaluations = rule.propose(x, g, total, fx, f_at)
        nfev += evaluations
        if x_new is None:
            reason = rule.failure
            break
        if not all(math.isfinite(v) for v in x_new):
            reason = Stop.STEP_NOT_FINITE
            break
        if x_new == x:
            reason = Stop.STEP_LOST
            break
        coordinate = _bad_coordinate(x_new, h, row)
        if coordinate is not None:
            reason = Stop.STENCIL_LOST
            break
        if tracking:
            if not rule.searches:
                f_new, nfev = f_at(x_new), nfev + 1
            # f itself decides (ftol, a line search): an inf or nan f would pass
            # their tests.  Recording alone only looks on.
            if not math.isfinite(f_new) and (ftol is not None or rule.searches):
                reason = Stop.F_NOT_FINITE
                break
        x_old, g_old, fx_old, norm_old = x, g, fx, norm
        x, nit = x_new, nit + 1
        if tracking:
            if ftol is not None:
                small_change = abs(fx - f_new) <= ftol * max(abs(fx), abs(f_new), 1.0)
            fx = f_new
            if record:
                path.append(list(x))  # a row of its own: result.x is not a path row
                path_fun.append(fx)
        if callback is not None:
            stop_requested = bool(callback(list(x)))

    if diverged(reason, nit, rising, max(abs(v) for v in x), top0):
        reason = Stop.DIVERGED
    if not tracking:
        fx, nfev = f_at(x), nfev + 1
    return descent_result(reason, x, fx, g, nit, nfev, norm,
                          -1 if coordinate is None else coordinate, tol, ftol, optimizer,
                          path, path_fun)


# -- descent rules (formulas in fastgrad/_optimizers.py; _descent.pyx mirrors them) --

class _Rule:
    """How an update is made: propose(x, g, |g|^2, f(x), f_at) -> (x_new or None,
    f(x_new) if the rule evaluated it, evaluations made).  searches: the rule
    evaluates f itself (a line search); failure: the stop reason when it finds no step."""
    searches = False
    failure = Stop.LINE_SEARCH_FAILED

    def __init__(self, params, lr):
        self.params, self.lr = params, lr

    def propose(self, x, g, g_squared, fx, f_at):
        return [xi - self.lr * gi for xi, gi in zip(x, g)], None, 0


class _SGDRule(_Rule):
    pass


class _MomentumRule(_Rule):
    b = None

    def propose(self, x, g, g_squared, fx, f_at):
        p = self.params
        if self.b is None:
            b = list(g)  # torch.optim.SGD: the buffer starts as the first gradient
        else:
            b = [p.momentum * bi + (1.0 - p.dampening) * gi for bi, gi in zip(self.b, g)]
        self.b = b
        d = [gi + p.momentum * bi for gi, bi in zip(g, b)] if p.nesterov else b
        return [xi - self.lr * di for xi, di in zip(x, d)], None, 0


class _AdamRule(_Rule):
    def __init__(self, params, lr):
        super().__init__(params, lr)
        self.m = self.v = None
        self.beta1_t = self.beta2_t = 1.0

    def propose(self, x, g, g_squared, fx, f_at):
        b1, b2 = self.params.beta1, self.params.beta2
        if self.m is None:
            self.m, self.v = [0.0] * len(x), [0.0] * len(x)
        self.beta1_t *= b1
        self.beta2_t *= b2
        self.m = [b1 * mi + (1.0 - b1) * gi for mi, gi in zip(self.m, g)]
        self.v = [b2 * vi + (1.0 - b2) * gi * gi for vi, gi in zip(self.v, g)]
        x_new = []
        for xi, mi, vi in zip(x, self.m, self.v):
            m_hat = mi / (1.0 - self.beta1_t)
            v_hat = vi / (1.0 - self.beta2_t)
            x_new.append(xi - self.lr * m_hat / (math.sqrt(v_hat) + self.params.eps))
        return x_new, None, 0


class _ArmijoRule(_Rule):
    searches = True

    def propose(self, x, g, g_squared, fx, f_at):
        """Backtracking: s = lr, shrink * s, ... until f(x - s g) <= f(x) - c s |g|^2."""
        s, trials = self.lr, 0
        for _ in range(self.params.max_backtracks + 1):
            trial = [xi - s * gi for xi, gi in zip(x, g)]
            if all(math.isfinite(v) for v in trial):
                f_trial = f_at(trial)
                trials += 1
                if f_trial <= fx - self.params.c * s * g_squared:
                    return trial, f_trial, trials
            s *= self.params.shrink
        return None, None, trials


#: The rule for each optimizer class (fastgrad._api has the same table of compiled rules).
_RULES = {SGD: _SGDRule, Momentum: _MomentumRule, Adam: _AdamRule, Armijo: _ArmijoRule}
