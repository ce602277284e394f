"""hessian(h="adaptive"): Richardson per entry over a geometric sequence of steps,
every tier bit for bit with the reference, its evaluations, and an honest error
estimate (the accuracy battery: exact Hessians at random points)."""
import math

import numpy as np
import pytest
from scipy.optimize import rosen, rosen_hess

import fastgrad
import fastgrad.reference as reference
from fastgrad._accuracy import ADAPTIVE_STEPS
from fastgrad._stencils import SECOND, SECOND_SIDES, second_points
from fastgrad.objectives import Rosenbrock
from _fgtools import assert_bits_equal


def matrix(H):
    return np.array(H, dtype=np.float64)


def assert_matrix_bits(a, b):
    assert_bits_equal(matrix(a).ravel(), matrix(b).ravel())


def assert_results_bits(fast, slow):
    for field in ("hess", "error", "step"):
        assert_matrix_bits(getattr(fast, field), getattr(slow, field))
    assert (fast.nfev, fast.success, fast.message) == (slow.nfev, slow.success, slow.message)


def rosen_rows(X):
    X = np.asarray(X)
    return (100.0 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1 - X[:, :-1]) ** 2).sum(axis=1)


# -- functions with exact Hessians (the battery) ------------------------------------------

def cubic(x):  # sum (i + 1) x_i^3 x_{i+1} + x_i^4, cyclic
    n = len(x)
    return sum((i + 1) * x[i] ** 3 * x[(i + 1) % n] + x[i] ** 4 for i in range(n))


def cubic_hessian(x):
    n = len(x)
    H = np.zeros((n, n))
    for i in range(n):
        j, c = (i + 1) % n, i + 1
        H[i, i] += 6 * c * x[i] * x[j] + 12 * x[i] ** 2
        H[i, j] += 3 * c * x[i] ** 2
        H[j, i] += 3 * c * x[i] ** 2
    return H


def exp_sin(x):
    return math.exp(x[0] * x[1]) * math.sin(x[1] + x[2]) + x[0] * math.exp(-x[2] ** 2)


def exp_sin_hessian(x):
    a, b, c = x
    E, S, C, G = math.exp(a * b), math.sin(b + c), math.cos(b + c), math.exp(-c * c)
    ab = (E + a * b * E) * S + b * E * C
    ac, bc = b * E * C - 2 * c * G, a * E * C - E * S
    return np.array([[b * b * E * S, ab, ac],
                     [ab, a * a * E * S + 2 * a * E * C - E * S, bc],
                     [ac, bc, -E * S + a * (4 * c * c - 2) * G]])


def exp_product(x):
    return math.exp(0.5 * x[0]) * math.sin(2 * x[1]) * (1 + x[0] ** 2)


def exp_product_hessian(x):
    a, b = x
    E, S, C = math.exp(0.5 * a), math.sin(2 * b), math.cos(2 * b)
    g, g1 = 1 + a * a, 2 * a
    ab = (0.5 * E * g + E * g1) * 2 * C
    return np.array([[(0.25 * E * g + E * g1 + 2 * E) * S, ab], [ab, -4 * E * g * S]])


def battery(seed, count):
    """(f, exact Hessian, x) at random points: Rosenbrock and the cubic in 2-5
    dimensions, the exp/sin products."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n = int(rng.integers(2, 6))
        x = rng.uniform(-2, 2, n)
        yield rosen, rosen_hess, x
        x = rng.uniform(-2, 2, n)
        yield cubic, cubic_hessian, x
        yield exp_sin, exp_sin_hessian, rng.uniform(-1.5, 1.5, 3)
        yield exp_product, exp_product_hessian, rng.uniform(-3, 3, 2)


def box_around(rng, x):
    """Bounds with x on a bound, 1e-3 from one, or open, per side (never lb = ub)."""
    room = rng.choice([0.0, 1e-3, math.inf], (2, len(x)))
    room[1, (room[0] == 0.0) & (room[1] == 0.0)] = math.inf
    return x - room[0], x + room[1]


def test_the_true_error_lies_inside_the_estimate_on_the_battery():
    """>= 95 % of the entries (measured: 100 %, 0 failures), the result within
    1e-9 of the exact Hessian's scale (measured: 1.0e-11 at worst)."""
    inside = total = failed = 0
    worst = 0.0
    for f, exact, x in battery(0, 25):
        r = fastgrad.hessian(f, x, "adaptive", full_output=True)
        error = np.abs(r.hess - exact(x))
        inside += int((error <= r.error).sum())
        total += error.size
        failed += not r.success
        worst = max(worst, error.max() / max(1.0, np.abs(exact(x)).max()))
    assert inside / total >= 0.95
    assert failed <= 0.05 * 100
    assert worst < 1e-9


def test_the_estimate_within_bounds_covers_the_true_error():
    """x on a bound or 1e-3 from one: the steps shrink with the room, so the
    result is less accurate (measured: 3.9e-7 of the scale) but the estimate
    still covers the error (measured: 100 %)."""
    rng = np.random.default_rng(1)
    inside = total = 0
    for f, exact, x in battery(1, 15):
        r = fastgrad.hessian(f, x, "adaptive", bounds=box_around(rng, x), full_output=True)
        error = np.abs(r.hess - exact(x))
        inside += int((error <= r.error).sum())
        total += error.size
        assert np.abs(r.hess - exact(x)).max() < 1e-5 * max(1.0, np.abs(exact(x)).max())
    assert inside / total >= 0.95


def test_beats_the_fixed_steps_on_rosenbrock(impl):
    x = [0.3, -1.2, 0.7, 0.5]
    exact = rosen_hess(x)
    adaptive = np.abs(matrix(impl.hessian(rosen, x, "adaptive")) - exact).max()
    auto = np.abs(matrix(impl.hessian(rosen, x, "auto")) - exact).max()
    assert adaptive < 1e-8 < auto


@pytest.mark.parametrize("f,x", [
    (lambda p: math.sin(1000 * p[0]) * p[1], [0.3, 1.0]),          # aliased by the steps
    (lambda p: p[0] ** 2 * p[1] + 1e-6 * math.sin(1e7 * p[0]), [0.3, 1.0]),  # noise
])
def test_an_unresolvable_f_is_flagged(impl, f, x):
    r = impl.hessian(f, x, "adaptive", full_output=True)
    assert not r.success
    assert r.message.startswith("the error estimate exceeds the Hessian at ")
    assert r.message.endswith("; try another h")


def test_symmetric_bit_for_bit_and_evaluations(impl):
    x = [0.3, -1.2, 0.7]
    for order in (2, 4, 6, 8):
        calls = []
        r = impl.hessian(lambda p: calls.append(1) or exp_sin(p), x, "adaptive", order=order,
                         full_output=True)
        H, E = matrix(r.hess), matrix(r.error)
        assert (H == H.T).all() and (E == E.T).all()
        # one Hessian (f(x) included) per step of the sequence
        assert r.nfev == len(calls) == ADAPTIVE_STEPS * SECOND[order].points(3)
        assert_matrix_bits(H, impl.hessian(exp_sin, x, "adaptive", order=order))
    assert ADAPTIVE_STEPS * SECOND[2].points(10) == 2010


def test_evaluations_within_bounds(impl):
    x = [0.3, -1.2, 0.7]
    calls = []
    r = impl.hessian(lambda p: calls.append(1) or exp_sin(p), x, "adaptive",
                     bounds=([0.3, -2, 0], [1, 0, 0.7]), full_output=True)
    rows = [SECOND_SIDES["forward", 2], SECOND_SIDES["central", 2], SECOND_SIDES["backward", 2]]
    assert r.nfev == len(calls) == ADAPTIVE_STEPS * second_points(rows) == 10 * 21


def test_the_steps_of_each_entry(impl):
    x = [0.3, -1.2, 2.0]
    r = impl.hessian(exp_sin, x, "adaptive", full_output=True)
    step = matrix(r.step)
    assert step.shape == (3, 3)
    # entry (i, j) comes from one level: step[i, j] = h_i and step[j, i] = h_j at
    # that level, h_i = 0.1 max(1, |x_i|) / 2**level
    start = np.array([0.1 * max(1.0, abs(xi)) for xi in x])
    levels = np.log2(start[:, None] / step)
    assert (levels == np.round(levels)).all() and (levels >= 0).all()
    assert (levels < ADAPTIVE_STEPS).all()
    assert (levels == levels.T).all()


# -- every tier bit for bit with the reference ---------------------------------------------

@pytest.mark.parametrize("order", [2, 4, 8])
@pytest.mark.parametrize("bounds", [None, ([0.3, -2.0, 0.0, -1.0], [1.0, 0.0, 0.7, 1.0])])
def test_python_tier_bit_identical(order, bounds):
    x = [0.3, -1.2, 0.7, 0.5]
    assert_results_bits(
        fastgrad.hessian(rosen, x, "adaptive", order=order, bounds=bounds, full_output=True),
        reference.hessian(rosen, x, "adaptive", order=order, bounds=bounds, full_output=True))


def test_compiled_vectorized_and_workers_tiers_bit_identical():
    x = np.linspace(-1.2, 1.5, 5)
    for bounds in (None, (x - [0, 1, 1, 1, 1], x + [1, 1, 0, 1e-3, 1])):
        expected = reference.hessian(rosen, x.tolist(), "adaptive", bounds=bounds,
                                     full_output=True)
        for f, options in ((rosen_rows, {"vectorized": True}), (rosen, {"workers": 2})):
            assert_results_bits(fastgrad.hessian(f, x, "adaptive", bounds=bounds,
                                                 full_output=True, **options), expected)
        assert_results_bits(  # a compiled objective: its own arithmetic, the same operations
            fastgrad.hessian(Rosenbrock(), x, "adaptive", bounds=bounds, full_output=True),
            reference.hessian(Rosenbrock(), x.tolist(), "adaptive", bounds=bounds,
                              full_output=True))
        assert_results_bits(reference.hessian(rosen_rows, x.tolist(), "adaptive", bounds=bounds,
                                              vectorized=True, full_output=True), expected)


def test_prepared_hessian_takes_adaptive(impl):
    H = impl.Hessian(rosen, h="adaptive", order=4)
    for x in ([0.3, -1.1, 2.5], [1.0, 1.0]):
        assert_matrix_bits(H(x), impl.hessian(rosen, x, "adaptive", order=4))
    assert_matrix_bits(fastgrad.Hessian(Rosenbrock(), h="adaptive")(np.ones(3) * 0.5),
                       reference.hessian(Rosenbrock(), [0.5] * 3, "adaptive"))


def test_float32_values_do_not_warn(impl, recwarn):
    r = impl.hessian(lambda p: np.float32(p[0] ** 2 * p[1]), [1.0, 2.0], "adaptive",
                     full_output=True)
    assert not recwarn.list
    assert np.abs(matrix(r.hess) - [[4.0, 2.0], [2.0, 0.0]]).max() < 1e-2
