"""gradient_descent_step and gradient_descent: semantics, stop rules, DescentResult."""
import copy
import math

import numpy as np
import pytest

import fastgrad
import fastgrad.reference
from _fgtools import METHODS, assert_same_result, bits, check_matrix, check_vector, floats, is_fast


def sum_of_squares(x, y):
    return x**2 + y**2


def squares(p):
    return sum(float(v) ** 2 for v in p)


def squares_rows(X):
    X = np.asarray(X, dtype=float)
    return (X * X).sum(axis=1)


# -- gradient_descent_step ----------------------------------------------------------

def test_step_textbook(impl):
    x = impl.gradient_descent_step(sum_of_squares, [1.0, -1.0], 0.25, unpack=True)
    check_vector(impl, x, 2)
    # 1 - 0.25 * g with |g - 2| <= ~7e-10 (see test_gradient): within 2e-10 of 0.5
    assert abs(floats(x)[0] - 0.5) < 2e-10 and abs(floats(x)[1] + 0.5) < 2e-10


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("unpack", [False, True])
@pytest.mark.parametrize("lr", [0.1, 0.37, 3.0])
def test_step_is_x_minus_learning_rate_times_gradient(impl, method, unpack, lr):
    f = (lambda a, b, c: a * a * b + math.sin(c)) if unpack else \
        (lambda p: float(p[0]) ** 2 * float(p[1]) + math.sin(float(p[2])))
    x = [0.3, -1.2, 2.0]
    g = floats(impl.gradient(f, x, [1e-4, 1e-5, 1e-6], method=method, unpack=unpack))
    step = impl.gradient_descent_step(f, x, lr, [1e-4, 1e-5, 1e-6], method=method, unpack=unpack)
    check_vector(impl, step, 3)
    assert bits(step) == bits([xi - lr * gi for xi, gi in zip(x, g)])


# -- convergence ----------------------------------------------------------------------

@pytest.mark.parametrize("form", ["unpack", "array", "vectorized", "vectorized-unpack"])
def test_converges_on_sum_of_squares(impl, form):
    f = {"unpack": sum_of_squares, "array": squares, "vectorized": squares_rows,
         "vectorized-unpack": lambda x, y: np.asarray(x, float) ** 2 + np.asarray(y, float) ** 2}
    r = impl.gradient_descent(f[form], [1.0, -1.0], unpack="unpack" in form,
                              vectorized="vectorized" in form)
    # With g = 2x (central differences: exact up to ~1e-9 relative), lr = 0.1:
    # x_k = 0.8**k * (1, -1) and |g_k| = 2*sqrt(2)*0.8**k.  |g_66| = 1.13e-6 > 1e-6,
    # |g_67| = 9.1e-7 <= 1e-6 (10% margins, far above the rounding): nit = 67.
    assert r.converged is True
    assert r.nit == 67
    # 68 gradients of 2n = 4 evaluations each, plus f at the returned x
    assert r.nfev == (r.nit + 1) * 2 * 2 + 1 == 273
    assert r.message.startswith("converged")
    assert "67 updates" in r.message
    x = floats(r.x)
    assert all(abs(v) <= 0.8**67 * 1.01 for v in x)
    assert math.hypot(*floats(r.grad)) <= 1e-6
    assert r.fun == x[0] ** 2 + x[1] ** 2  # f at exactly the returned x
    assert r.path is None and r.path_fun is None


@pytest.mark.parametrize("method", ["forward", "backward"])
def test_one_sided_descent_nfev(impl, method):
    r = impl.gradient_descent(sum_of_squares, [1.0, -1.0], unpack=True, method=method,
                              max_iter=5000)
    # one-sided: g = 2x +- h, so x settles at -+h/2 where g ~ 0: converges
    assert r.converged
    assert r.nfev == (r.nit + 1) * (2 + 1) + 1


def test_descent_with_args(impl):
    def f(p, centre, scale):
        return scale * sum((float(v) - c) ** 2 for v, c in zip(p, centre))

    r = impl.gradient_descent(f, [0.0, 0.0], 0.05, args=((1.0, -2.0), 2.0), tol=1e-8)
    assert r.converged
    assert abs(floats(r.x)[0] - 1.0) < 1e-8 and abs(floats(r.x)[1] + 2.0) < 1e-8


# -- max_iter and tol -------------------------------------------------------------------

def test_max_iter_zero(impl):
    x0 = [1.0, -1.0]
    r = impl.gradient_descent(sum_of_squares, x0, max_iter=0, unpack=True, record=True)
    assert r.nit == 0
    assert floats(r.x) == x0
    assert r.converged is False
    assert r.message.startswith("max_iter reached: 0 updates made")
    assert r.nfev == 1 + 2 * 2  # f at x0 (recorded, it is also fun) + one gradient
    assert floats(r.path_fun) == [2.0] and r.fun == 2.0
    check_matrix(impl, r.path, 1, 2)
    assert abs(floats(r.grad)[0] - 2.0) < 1e-9


def test_max_iter_zero_can_still_converge(impl):
    r = impl.gradient_descent(sum_of_squares, [1.0, -1.0], max_iter=0, tol=math.inf, unpack=True)
    assert r.converged is True and r.nit == 0 and r.nfev == 5


def test_gradient_at_the_final_x_decides_convergence(impl):
    # From the count above: 67 updates reach the tolerance, 66 do not.
    r67 = impl.gradient_descent(sum_of_squares, [1.0, -1.0], max_iter=67, unpack=True)
    r66 = impl.gradient_descent(sum_of_squares, [1.0, -1.0], max_iter=66, unpack=True)
    assert (r67.converged, r67.nit) == (True, 67)
    assert (r66.converged, r66.nit) == (False, 66)
    assert r66.message.startswith("max_iter reached: 66 updates made")
    assert r66.nfev == 67 * 4 + 1


def linear(x, y):
    return 3.0 * x + 4.0 * y


def test_tol_is_inclusive(impl):
    # At (0, 0) with h = 0.5 every number is exact: f(+-0.5, 0) = +-1.5,
    # f(0, +-0.5) = +-2, realised steps 1, so g = (3, 4) and |g| = 5 exactly.
    r = impl.gradient_descent(linear, [0.0, 0.0], h=0.5, tol=5.0, unpack=True)
    assert (r.converged, r.nit) == (True, 0)
    assert floats(r.grad) == [3.0, 4.0]
    assert r.message == "converged: gradient norm 5 <= tol 5 after 0 updates"
    below = float(np.nextafter(5.0, 0.0))
    r = impl.gradient_descent(linear, [0.0, 0.0], h=0.5, tol=below, unpack=True, max_iter=0)
    assert (r.converged, r.nit) == (False, 0)
    assert r.message.startswith("max_iter reached")


def test_tol_zero_needs_an_exactly_zero_gradient(impl):
    r = impl.gradient_descent(lambda p: 7.0, [1.0, 2.0], tol=0.0)
    assert (r.converged, r.nit, floats(r.grad)) == (True, 0, [0.0, 0.0])
    r = impl.gradient_descent(linear, [0.0, 0.0], h=0.5, tol=0.0, unpack=True, max_iter=3)
    assert (r.converged, r.nit) == (False, 3)


@pytest.mark.parametrize("max_iter", [np.int64(67), 10**6, 2**63, 10**30], ids=repr)
def test_max_iter_accepts_any_non_negative_int(impl, max_iter):
    # The contract: max_iter is a non-negative int; a big one just means "no limit".
    r = impl.gradient_descent(sum_of_squares, [1.0, -1.0], max_iter=max_iter, unpack=True)
    assert (r.converged, r.nit) == (True, 67)


# -- callback ---------------------------------------------------------------------------

def test_callback_gets_copies_of_each_iterate(impl):
    seen = []

    def callback(x):
        seen.append(x)
        x[0] = 1e6  # must not disturb the run

    r = impl.gradient_descent(sum_of_squares, [1.0, -1.0], unpack=True, callback=callback,
                              record=True)
    plain = impl.gradient_descent(sum_of_squares, [1.0, -1.0], unpack=True, record=True)
    assert_same_result(r, plain)  # the callback's writes to its copies change nothing
    assert r.nit == len(seen) == 67
    assert len({id(x) for x in seen}) == len(seen)  # a new object every time
    for x, p in zip(seen, floats_rows(r.path)[1:]):
        check_vector(impl, x, 2)
        assert floats(x)[1] == p[1]  # coordinate 1 untouched by the callback: the iterate
        assert floats(x)[0] == 1e6


def floats_rows(m):
    return [floats(r) for r in (m.tolist() if isinstance(m, np.ndarray) else m)]


@pytest.mark.parametrize("answer", [True, 1, "stop", np.True_], ids=repr)
def test_callback_returning_true_stops(impl, answer):
    calls = []
    r = impl.gradient_descent(sum_of_squares, [1.0, -1.0], unpack=True,
                              callback=lambda x: calls.append(1) or answer)
    assert calls == [1]
    assert r.nit == 1
    assert r.converged is False
    assert r.message == "stopped by callback after 1 updates"
    # x0's gradient, the update, x1's gradient (it is known before stopping), f(x1)
    assert r.nfev == 2 * 4 + 1
    assert abs(floats(r.x)[0] - 0.8) < 1e-9


def test_callback_stopping_at_a_converged_point_reports_convergence(impl):
    # f = x**2, lr = 0.5: one update lands at ~0, where the gradient is within tol.
    r = impl.gradient_descent(lambda p: float(p[0]) ** 2, [1.0], 0.5, callback=lambda x: True)
    assert (r.converged, r.nit) == (True, 1)
    assert r.message.startswith("converged")


def test_callback_returning_false_does_not_stop(impl):
    calls = []
    r = impl.gradient_descent(sum_of_squares, [1.0, -1.0], unpack=True,
                              callback=lambda x: calls.append(1) or None)
    assert r.nit == 67 == len(calls) and r.converged


# -- record -------------------------------------------------------------------------------

@pytest.mark.parametrize("vectorized", [False, True])
def test_record_keeps_the_path(impl, vectorized):
    # The same f in each form; numpy's row sums may round differently from Python's
    # sum (their order is numpy's), so each form is checked against itself.
    f = squares_rows if vectorized else squares
    r = impl.gradient_descent(f, [1.0, -1.0, 0.5], 0.2, max_iter=10, record=True,
                              vectorized=vectorized)
    assert r.nit == 10
    check_matrix(impl, r.path, r.nit + 1, 3)
    check_vector(impl, r.path_fun, r.nit + 1)
    rows = floats_rows(r.path)
    assert rows[0] == [1.0, -1.0, 0.5]
    assert rows[-1] == floats(r.x)
    assert floats(r.path_fun)[-1] == r.fun
    for row, fx in zip(rows, floats(r.path_fun)):
        assert fx == (float(squares_rows([row])[0]) if vectorized else squares(row))
    # each iterate is the step from the previous one: x_{k+1} = x_k - lr * gradient(x_k)
    for a, b in zip(rows, rows[1:]):
        step = impl.gradient_descent_step(f, a, 0.2, vectorized=vectorized)
        assert bits(step) == bits(b)
    # f at each iterate once, plus 11 gradients of 6 points; fun comes from the path
    assert r.nfev == (r.nit + 1) + (r.nit + 1) * 6


def memory_owner(a):
    """The ndarray whose memory a uses (a itself, or the array a is a view of)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def test_record_path_does_not_alias(impl):
    x0 = np.array([1.0, -1.0])
    r = impl.gradient_descent(squares, x0, max_iter=2, record=True)
    arrays = {"x": r.x, "grad": r.grad, "path": r.path, "path_fun": r.path_fun}
    kept = {name: copy.deepcopy(a) for name, a in arrays.items()}
    if is_fast(impl):
        for name, a in arrays.items():
            # memory numpy owns and frees, or (the path) the core's buffers handed
            # over with a capsule that frees them with the array -- not a view of
            # memory released when the call returns, nor of anything the caller holds
            owner = memory_owner(a)
            if name in ("path", "path_fun"):
                assert type(owner.base).__name__ == "PyCapsule", (name, type(owner.base))
            else:
                assert owner.flags.owndata, (name, type(a.base))
            assert not np.shares_memory(a, x0), name
            for other_name, other in arrays.items():
                if other is not a:
                    assert not np.shares_memory(a, other), (name, other_name)
    else:
        # new lists: the rows of the path are distinct from each other and from x0
        assert r.path[0] is not x0 and r.x is not x0
        assert len({id(row) for row in r.path}) == len(r.path)
    # Later runs, whose buffers may land in memory freed since, leave this result alone ...
    later = [impl.gradient_descent(squares, [3.0, 4.0], max_iter=5, record=True)
             for _ in range(3)]
    if is_fast(impl):
        for run in later:
            for a in arrays.values():
                for b in (run.x, run.grad, run.path, run.path_fun):
                    assert not np.shares_memory(a, b)
    for name, a in arrays.items():
        assert bits(np.ravel(a)) == bits(np.ravel(kept[name])), name
    # ... and so does writing to the path (the reference's rows are lists of their own).
    if is_fast(impl):
        r.path[...] = 0.0
    else:
        assert r.path[-1] is not r.x and r.path[0] is not x0
        for row in r.path:
            row[:] = [0.0] * len(row)
    assert bits(r.x) == bits(kept["x"]) and bits(r.grad) == bits(kept["grad"])
    assert bits(x0) == bits([1.0, -1.0])


# -- numeric trouble: stop, never raise, keep the last good iterate ----------------------

def nan_below_half(p):
    t = float(p[0])
    return t * t if t >= 0.5 else math.nan


def test_nan_mid_descent_stops_with_the_last_finite_iterate(impl):
    # (x - 0)**2 from 3 with lr = 0.1: x_k = 3 * 0.8**k.  x_9 = 0.4027 < 0.5 is reached
    # by a finite update from x_8 = 0.5033 (whose stencil stays >= 0.5); the gradient at
    # x_9 is nan, so the run stops on x_8, the last iterate with a finite gradient:
    # iteration 8, converged False, f and the gradient at x_8.
    r = impl.gradient_descent(nan_below_half, [3.0], record=True)
    assert r.converged is False
    assert r.nit == 8
    x = floats(r.x)
    assert all(math.isfinite(v) for v in x)
    assert abs(x[0] - 3 * 0.8**8) < 1e-8
    assert r.fun == x[0] ** 2
    assert abs(floats(r.grad)[0] - 2 * x[0]) < 1e-8
    assert floats_rows(r.path)[-1] == x and len(r.path) == 9
    assert floats(r.path_fun)[-1] == r.fun
    assert all(math.isfinite(v) for row in floats_rows(r.path) for v in row)
    assert r.message == ("stopped at iteration 8: the gradient is not finite at the next x "
                         "(f returned nan or inf near it)")


def test_inf_mid_descent_stops(impl):
    # As above, with inf for x <= 1: x_1 = 2.4, x_2 = 1.92, ..., x_5 = 0.98304 is reached
    # by a finite update; its stencil meets inf (inf - inf = nan): stop on x_4, iteration 4.
    r = impl.gradient_descent(lambda p: float(p[0]) ** 2 if float(p[0]) > 1.0 else math.inf,
                              [3.0], 0.1, max_iter=100)
    assert r.converged is False
    assert r.nit == 4
    assert r.message == ("stopped at iteration 4: the gradient is not finite at the next x "
                         "(f returned nan or inf near it)")
    assert abs(floats(r.x)[0] - 3 * 0.8**4) < 1e-8
    assert math.isfinite(floats(r.grad)[0]) and math.isfinite(r.fun)


def test_overflowing_update_stops(impl):
    # g ~ 2e10, learning_rate * g = 2e310 overflows: x would become -inf.
    r = impl.gradient_descent(lambda p: float(p[0]) ** 2, [1e10], 1e300)
    assert r.converged is False
    assert r.nit == 0
    assert floats(r.x) == [1e10]
    assert r.fun == 1e20
    assert r.message == "stopped at iteration 0: the update would make x not finite"
    assert r.nfev == 2 + 1


def test_diverging_descent_stops_without_raising(impl):
    # lr = 1.5 on x**2: x_{k+1} = -2 x_k, so |x| doubles until some numeric limit
    # stops the run (here h = 1e-5 gets lost once |x| ~ 1e11) -- a stop, not an error.
    r = impl.gradient_descent(lambda p: float(p[0]) ** 2, [1.0], 1.5, max_iter=100_000)
    assert r.converged is False
    assert math.isfinite(floats(r.x)[0])
    assert 10 < r.nit < 1100
    assert abs(floats(r.x)[0]) > 1e6
    assert r.message.startswith(f"stopped at iteration {r.nit}:")


def test_update_lost_in_rounding_stops(impl):
    # slope 1e-20 at x = 1e8: the update 1e-21 is far below ulp(1e8) ~ 1.5e-8.
    r = impl.gradient_descent(lambda p: 1e-20 * float(p[0]), [1e8], h=1.0, tol=0.0)
    assert r.converged is False
    assert r.nit == 0
    assert floats(r.x) == [1e8]
    assert r.message == ("stopped at iteration 0: the update is lost in rounding "
                         "(x would not change)")


def test_update_lost_in_rounding_after_some_iterations(impl):
    # f = -x, h = 1: every gradient is exactly -1, every update +0.25.  From 2**51 - 1
    # (spacing 0.25 below 2**51) four updates reach 2**51 exactly; above 2**51 the
    # spacing is 0.5, so 2**51 + 0.25 is a tie that rounds back to 2**51 (even): lost.
    r = impl.gradient_descent(lambda p: -float(p[0]), [2.0**51 - 1], 0.25, h=1.0, tol=0.0,
                              record=True)
    assert (r.converged, r.nit) == (False, 4)
    assert floats(r.x) == [2.0**51]
    assert [row[0] for row in floats_rows(r.path)] == [2.0**51 - 1 + 0.25 * k for k in range(5)]
    assert r.message == ("stopped at iteration 4: the update is lost in rounding "
                         "(x would not change)")


@pytest.mark.parametrize("n,i", [(1, 0), (3, 1)])
def test_h_too_small_for_the_next_iterate_stops(impl, n, i):
    # f = -x[i] with lr = 1e12: the first update moves x[i] to 1e12 + 1, where
    # x[i] +- 1e-5 rounds back to x[i].
    r = impl.gradient_descent(lambda p: -float(p[i]), [1.0] * n, 1e12)
    assert r.converged is False
    assert r.nit == 0
    assert floats(r.x) == [1.0] * n
    assert r.message == (f"stopped at iteration 0: at the next x, h is too small for "
                         f"x[{i}] (the realised step rounds to 0)")
    assert floats(r.grad)[i] == -1.0


# -- every stop rule, end to end: the exact message, in both implementations -----------
#
# Each run is built so that its numbers are exact or traced in the comment: the message
# (with the iteration and the numbers it quotes), converged, nit and nfev are known in
# advance, and fastgrad and the reference give the same DescentResult bit for bit.

def square(p):
    return float(p[0]) ** 2


def spike(p):
    # The gradient at 1 says "go left", but f jumps up for any step >= 1e-3.
    return float(p[0]) if abs(float(p[0]) - 1.0) < 1e-3 else 100.0


def square_above_half(bad):
    return lambda p: float(p[0]) ** 2 if float(p[0]) >= 0.5 else bad


STOPS = {
    # f = 3x + 4y at 0 with h = 0.5: g = (3, 4) exactly, |g| = 5; tol is inclusive.
    "converged": (linear, [0.0, 0.0], dict(h=0.5, tol=5.0, unpack=True),
                  "converged: gradient norm 5 <= tol 5 after 0 updates", True, 0, 4 + 1),
    # the same, tol 4.5: every gradient is (3, 4); two updates, three gradients, f at x.
    "max_iter": (linear, [0.0, 0.0], dict(h=0.5, tol=4.5, max_iter=2, unpack=True),
                 "max_iter reached: 2 updates made, gradient norm 5 > tol 4.5", False, 2,
                 3 * 4 + 1),
    # x_k = 3 * 0.8**k: x_9 = 0.403 is the first iterate whose stencil meets nan; the
    # run returns x_8.  Ten gradients, f at x_8.
    "gradient-not-finite": (square_above_half(math.nan), [3.0], {},
                            "stopped at iteration 8: the gradient is not finite at the next x "
                            "(f returned nan or inf near it)", False, 8, 10 * 2 + 1),
    # nan everywhere: the gradient at x0 already.
    "start-not-finite": (lambda p: math.nan, [3.0, 1.0], {},
                         "stopped at iteration 0: the gradient is not finite at x0 "
                         "(f returned nan or inf near it)", False, 0, 4 + 1),
    # x**2 with lr = 1.5: x_k = (-2)**k, the gradient norm doubling with x, until
    # 1 +- 1e-5 is lost at |x| = 2**37 (the next x): 37 updates, 38 gradients.
    "diverged": (square, [1.0], dict(learning_rate=1.5),
                 "stopped at iteration 37: the run diverged (|x| grew by orders of magnitude "
                 "while the gradient norm rose, to 2.74878e+11); try a smaller learning_rate, "
                 "unless f is unbounded below", False, 37, 38 * 2 + 1),
    # g ~ 2e10 at 1e10, learning_rate * g overflows.
    "step-not-finite": (square, [1e10], dict(learning_rate=1e300),
                        "stopped at iteration 0: the update would make x not finite",
                        False, 0, 2 + 1),
    # f = -x, h = 1: updates of exactly +0.25 from 2**51 - 1; the fifth rounds back.
    "step-lost": (lambda p: -float(p[0]), [2.0**51 - 1], dict(learning_rate=0.25, h=1.0, tol=0.0),
                  "stopped at iteration 4: the update is lost in rounding (x would not change)",
                  False, 4, 5 * 2 + 1),
    # f = -x[1], learning_rate 1e12: x[1] becomes 1e12 + 1, where 1 +- 1e-5 is lost.
    "stencil-lost": (lambda p: -float(p[1]), [1.0, 1.0, 1.0], dict(learning_rate=1e12),
                     "stopped at iteration 0: at the next x, h is too small for x[1] "
                     "(the realised step rounds to 0)", False, 0, 6 + 1),
    "callback": (square, [1.0], dict(callback=lambda x: True),
                 "stopped by callback after 1 updates", False, 1, 2 * 2 + 1),
    # f = x**2, h = 0.5, learning_rate 0.25: g = 2x, x_k = 2**-k, f_k = 4**-k, all exact.
    # The change in update k, f_(k-1) - f_k = 3 * 4**-k (max(|f|, 1) = 1), is <= 0.01
    # first for k = 5 (0.0029; 0.0117 for k = 4); the gradient at x_5 is 0.0625.
    # f(x0), f after each update, 6 gradients.
    "ftol": (square, [1.0], dict(learning_rate=0.25, h=0.5, ftol=0.01),
             "converged: the relative change of f in update 5 is <= ftol 0.01 "
             "(gradient norm 0.0625)", True, 5, 1 + 5 + 6 * 2),
    # s = 1 and its 5 halvings all leave the spike: f(x0), one gradient, 6 trials.
    "line-search-failed": (spike, [1.0], dict(learning_rate=1.0,
                                              optimizer=fastgrad.Armijo(max_backtracks=5)),
                           "stopped at iteration 0: no step satisfied the Armijo condition "
                           "after 5 backtracks", False, 0, 1 + 2 + 6),
    "line-search-failed-0": (spike, [1.0], dict(learning_rate=1.0,
                                                optimizer=fastgrad.Armijo(max_backtracks=0)),
                             "stopped at iteration 0: no step satisfied the Armijo condition "
                             "after 0 backtracks", False, 0, 1 + 2 + 1),
    # 3 -> 1.2 -> 0.48, where f is inf: ftol would take |f - inf| <= ftol * inf for a
    # small change, so the run stops at 1.2.  f(x0), then per update a gradient and f.
    "f-not-finite-ftol": (square_above_half(math.inf), [3.0], dict(learning_rate=0.3, ftol=1e-3),
                          "stopped at iteration 1: f is not finite at the next x", False, 1,
                          1 + 2 * (2 + 1)),
    "f-not-finite-nan-ftol-0": (square_above_half(math.nan), [3.0],
                                dict(learning_rate=0.3, ftol=0.0),
                                "stopped at iteration 1: f is not finite at the next x", False,
                                1, 1 + 2 * (2 + 1)),
    # Armijo takes s = 1 twice (3 -> 1.2 -> 0.48); -inf passes its test, and stops the run.
    "f-not-finite-armijo": (square_above_half(-math.inf), [3.0],
                            dict(learning_rate=0.3, optimizer="armijo"),
                            "stopped at iteration 1: f is not finite at the next x", False, 1,
                            1 + 2 * (2 + 1)),
    # Recording only looks on: the inf at 0.48 is recorded, and the stencil there stops
    # the run, on 1.2 (the recorded 0.48 is dropped again).
    "record-does-not-stop-at-inf": (square_above_half(math.inf), [3.0],
                                    dict(learning_rate=0.3, record=True, max_iter=3),
                                    "stopped at iteration 1: the gradient is not finite "
                                    "at the next x (f returned nan or inf near it)", False, 1,
                                    3 * 2 + 3),
}


@pytest.mark.parametrize("name", list(STOPS))
@pytest.mark.parametrize("record", [False, True])
def test_every_stop_rule_end_to_end(name, record):
    f, x0, given, message, converged, nit, nfev = STOPS[name]
    kw = dict(given, record=record or given.get("record", False))
    fast = fastgrad.gradient_descent(f, x0, **kw)
    slow = fastgrad.reference.gradient_descent(f, x0, **kw)
    assert_same_result(fast, slow, name)
    assert fast.message == message
    assert (fast.converged, fast.nit) == (converged, nit)
    # nfev is without recording.  Recording evaluates f at each of the nit + 1 iterates
    # (and at the next x a non-finite gradient sent the run back from) instead of once
    # at the end, unless f was followed anyway (ftol, Armijo, record).
    armijo = given.get("optimizer") == "armijo" or isinstance(given.get("optimizer"),
                                                              fastgrad.Armijo)
    followed = "ftol" in given or "record" in given or armijo
    stepped_back = "gradient is not finite at the next x" in message
    assert fast.nfev == nfev + (nit + stepped_back if record and not followed else 0)
    assert all(math.isfinite(v) for v in floats(fast.x))


def test_h_too_small_at_x0_raises_up_front(impl):
    calls = []
    with pytest.raises(ValueError, match=r"h\[0\]"):
        impl.gradient_descent(lambda p: calls.append(1) or 0.0, [1e20])
    assert calls == []


# -- DescentResult ---------------------------------------------------------------------

def test_descent_result_is_shared():
    assert fastgrad.DescentResult is fastgrad.reference.DescentResult


@pytest.mark.parametrize("record", [False, True])
def test_descent_result_field_types(impl, record):
    r = impl.gradient_descent(sum_of_squares, np.array([1.0, -1.0], dtype=np.float32),
                              unpack=True, record=record, max_iter=np.int32(5))
    assert isinstance(r, fastgrad.DescentResult)
    check_vector(impl, r.x, 2)
    check_vector(impl, r.grad, 2)
    assert type(r.fun) is float
    assert type(r.nit) is int and r.nit == 5
    assert type(r.nfev) is int
    assert type(r.converged) is bool
    assert type(r.message) is str
    if record:
        check_matrix(impl, r.path, 6, 2)
        check_vector(impl, r.path_fun, 6)
    else:
        assert r.path is None and r.path_fun is None
