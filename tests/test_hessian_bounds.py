"""hessian(bounds=...): one-sided second rows of the same order next to a bound, no
point outside the box, every tier bit for bit with the reference, the evaluations."""
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy.optimize import rosen, rosen_hess

import fastgrad
import fastgrad.reference as reference
from fastgrad._stencils import SECOND, SECOND_SIDES, second_mixed, second_points
from fastgrad.objectives import Rosenbrock
from _fgtools import assert_bits_equal, counting_rows

ORDERS = (2, 4, 6, 8)


def matrix(H):
    return np.array(H, dtype=np.float64)


def assert_matrix_bits(a, b):
    assert_bits_equal(matrix(a).ravel(), matrix(b).ravel())


def rosen_rows(X):
    X = np.asarray(X)
    return (100.0 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1 - X[:, :-1]) ** 2).sum(axis=1)


# -- the table: one-sided second rows ----------------------------------------------------

def test_the_one_sided_rows_of_order_2():
    forward, backward = SECOND_SIDES["forward", 2], SECOND_SIDES["backward", 2]
    assert forward.offsets == (1, 2, 3) and backward.offsets == (-1, -2, -3)
    assert forward.diagonal == ((1, -5), (2, 4), (3, -1), (0, 2))  # 2f0 - 5f1 + 4f2 - f3
    assert backward.diagonal == ((0, 2), (-1, -5), (-2, 4), (-3, -1))
    assert forward.first_terms == ((1, 2), (2, Fraction(-1, 2)), (0, Fraction(-3, 2)))
    assert backward.first_terms == ((-1, -2), (-2, Fraction(1, 2)), (0, Fraction(3, 2)))
    assert SECOND_SIDES["central", 2] is SECOND[2]


@pytest.mark.parametrize("method", ["forward", "backward"])
@pytest.mark.parametrize("order", ORDERS)
def test_one_sided_rows_are_exact_to_their_order(method, order):
    row = SECOND_SIDES[method, order]
    assert len(row.offsets) == order + 1 and row.method == method
    assert row.first_terms[-1][0] == 0  # the unmoved point's terms last
    for k in range(order + 2):  # exact on polynomials of degree order + 1
        assert sum(w * Fraction(o) ** k for o, w in row.diagonal) == (2 if k == 2 else 0)
    for k in range(order + 1):
        assert sum(w * Fraction(o) ** k for o, w in row.first_terms) == (1 if k == 1 else 0)
    # the mixed weights: the exact products of the two first-derivative rows, rounded once
    central = SECOND[order]
    assert second_mixed(row, central) == tuple(
        (a, b, float(wa * wb)) for a, wa in row.first_terms for b, wb in central.first_terms)
    assert second_mixed(central, central) == central.float_mixed


# -- no point outside the box; one-sided rows where needed --------------------------------

BOXES = [
    ([0.3, -2.0, 0.0, -1.0], [1.0, 0.0, 0.7, 1.0]),      # x[0] on lb, x[2] on ub
    ([0.3, -1.2, 0.7, 0.0], [0.3, -1.2, 0.7, 0.0]),      # no room: every coordinate
    ([0.2999, -1.2001, 0.6999, -1.0], [0.3001, -1.1999, 0.7001, 1.0]),  # shrunk steps
    ([-math.inf] * 4, [math.inf] * 4),                  # open: the central rows
]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("box", [0, 2, 3])
def test_no_point_leaves_the_box(impl, order, box):
    lb, ub = BOXES[box]
    x = [0.3, -1.2, 0.7, 0.5]
    seen = []

    def f(p):
        seen.append(list(p))
        return rosen(np.array(p))
    r = impl.hessian(f, x, "auto", order=order, bounds=(lb, ub), full_output=True)
    assert all(lb[i] <= p[i] <= ub[i] for p in seen for i in range(4))
    assert r.nfev == len(seen)
    H = matrix(r.hess)
    assert (H == H.T).all()
    # shrunk steps (box 2: 3.3e-5 at x[0..2]) lose digits to rounding, more at high orders
    assert np.abs(H - rosen_hess(x)).max() < (1e-3 if box != 2 else 1.0)


def test_evaluations_within_bounds():
    # x[0] on its lower bound (forward), x[2] on its upper bound (backward): one point
    # more for each one-sided row than 1 + n p + n (n - 1) / 2 p**2
    lb, ub = BOXES[0]
    x = [0.3, -1.2, 0.7, 0.5]
    for order in ORDERS:
        calls = []
        fastgrad.hessian(lambda p: calls.append(1) or rosen(p), x, order=order, bounds=(lb, ub))
        assert len(calls) == SECOND[order].points(4) + 2
        rows = [SECOND_SIDES[m, order] for m in ("forward", "central", "backward", "central")]
        assert second_points(rows) == len(calls)
    assert second_points([SECOND_SIDES["forward", 2]] * 3) == 1 + 3 * 3 + 3 * 4


def test_a_point_well_inside_the_box_is_the_unbounded_hessian(impl):
    x = [0.3, -1.2, 0.7]
    for order in ORDERS:
        assert_matrix_bits(impl.hessian(rosen, x, order=order, bounds=(-5, 5)),
                           impl.hessian(rosen, x, order=order))


@pytest.mark.parametrize("order", ORDERS)
def test_one_sided_rows_are_accurate_to_their_order(impl, order):
    # Rosenbrock is a quartic: every row of order >= 4 is exact but for rounding
    x = [0.3, -1.2, 0.7, 0.5]
    lb, ub = BOXES[0]
    H = matrix(impl.hessian(rosen, x, 1e-3, order=order, bounds=(lb, ub)))
    tolerance = 1e-3 if order == 2 else 1e-6
    assert np.abs(H - rosen_hess(x)).max() < tolerance * np.abs(rosen_hess(x)).max()


# -- every tier bit for bit with the reference --------------------------------------------

@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("h", [1e-3, "auto", [1e-3, 2e-4, 3e-4, 1e-4]])
@pytest.mark.parametrize("box", [0, 2, 3])
def test_python_tier_bit_identical(order, h, box):
    x = [0.3, -1.2, 0.7, 0.5]
    bounds = BOXES[box]
    assert_matrix_bits(fastgrad.hessian(rosen, x, h, order=order, bounds=bounds),
                       reference.hessian(rosen, x, h, order=order, bounds=bounds))


@pytest.mark.parametrize("order", [2, 4])
def test_compiled_and_vectorized_tiers_bit_identical(order):
    x = np.linspace(-1.2, 1.5, 7)
    lb, ub = x - [0, 1, 1, 0, 1, 1e-5, 1], x + [1, 0, 1, 1e-5, 1, 1, 0]
    expected = reference.hessian(rosen, x.tolist(), order=order, bounds=(lb, ub))
    assert_matrix_bits(fastgrad.hessian(Rosenbrock(), x, order=order, bounds=(lb, ub)),
                       reference.hessian(Rosenbrock(), x.tolist(), order=order,
                                         bounds=(lb, ub)))
    calls = {"fast": [], "reference": []}

    def counted(which):
        def f(X):
            calls[which].append(len(X))
            return rosen_rows(X)
        return f
    assert_matrix_bits(fastgrad.hessian(counted("fast"), x, order=order, bounds=(lb, ub),
                                        vectorized=True), expected)
    assert_matrix_bits(reference.hessian(counted("reference"), x.tolist(), order=order,
                                         bounds=(lb, ub), vectorized=True), expected)
    assert calls["fast"] == calls["reference"]


def test_vectorized_blocks_within_bounds(monkeypatch):
    import fastgrad._contract as contract
    monkeypatch.setattr(contract, "VECTORIZED_CHUNK_BYTES", 8 * 6 * 30)  # 30 rows of n = 6
    fast, fast_sizes = counting_rows(rosen_rows)
    ref, ref_sizes = counting_rows(rosen_rows)
    x = np.linspace(-1.0, 1.3, 6)
    bounds = (x - [0, 1, 1, 1, 1, 1], x + [1, 1, 0, 1, 1, 1])
    H = fastgrad.hessian(fast, x, vectorized=True, bounds=bounds)
    assert_matrix_bits(H, reference.hessian(ref, x.tolist(), vectorized=True,
                                            bounds=bounds))
    # rows of 23, 18, 15, 10, 6, 2 points (the one-sided rows 0 and 2: one more)
    assert fast_sizes == ref_sizes == [1, 23, 18, 15 + 10, 6 + 2]


def test_workers_bit_identical():
    x = [0.3, -1.2, 0.7, 0.5]
    bounds = BOXES[0]
    expected = reference.hessian(rosen, x, order=4, bounds=bounds)
    assert_matrix_bits(fastgrad.hessian(rosen, x, order=4, bounds=bounds, workers=2), expected)
    assert_matrix_bits(reference.hessian(rosen, x, order=4, bounds=bounds, workers=2), expected)


@pytest.mark.parametrize("h", [1e-3, "auto", 0.4])
def test_full_output_bit_identical(h):
    x = [0.3, -1.2, 0.7, 0.5]
    for bounds in (BOXES[0], BOXES[2]):
        fast = fastgrad.hessian(rosen, x, h, bounds=bounds, full_output=True)
        slow = reference.hessian(rosen, x, h, bounds=bounds, full_output=True)
        assert_matrix_bits(fast.hess, slow.hess)
        assert_matrix_bits(fast.error, slow.error)
        assert (fast.nfev, fast.success, fast.message) == (slow.nfev, slow.success, slow.message)
        assert_bits_equal(np.array(fast.step, dtype=float), np.array(slow.step, dtype=float))


def test_full_output_within_bounds_covers_the_true_error(impl):
    x = [0.3, -1.2, 0.7, 0.5]
    for h in (1e-4, "auto"):
        r = impl.hessian(rosen, x, h, bounds=BOXES[0], full_output=True)
        assert r.success
        assert (np.abs(matrix(r.hess) - rosen_hess(x)) <= matrix(r.error)).all()
    # the bounds shrink the steps: 2h shrinks to the same step, nothing is known
    r = impl.hessian(rosen, x, 1e-3, bounds=BOXES[2], full_output=True)
    assert not r.success and r.message == ("no error estimate at hess[0, 0]: the bounds shrank "
                                           "its steps h and 2h to the same ones")
    assert np.isinf(matrix(r.error)[:3, :3]).all() and np.isfinite(matrix(r.error)[3, 3])


def test_float32_values_take_float32_steps_within_bounds(impl):
    def f(p):
        return np.float32(p[0] ** 2 * p[1])
    H = matrix(impl.hessian(f, [1.0, 2.0], "auto", bounds=([1.0, 0.0], [3.0, 2.0])))
    assert np.abs(H - [[4.0, 2.0], [2.0, 0.0]]).max() < 0.05
    assert_matrix_bits(H, reference.hessian(f, [1.0, 2.0], "auto",
                                            bounds=([1.0, 0.0], [3.0, 2.0])))


def test_prepared_hessian_takes_bounds(impl):
    bounds = BOXES[0]
    H = impl.Hessian(rosen, order=4, bounds=bounds)
    for x in ([0.3, -1.2, 0.7, 0.5], [0.5, -0.1, 0.0, 1.0]):
        assert_matrix_bits(H(x), reference.hessian(rosen, x, order=4, bounds=bounds))
    with pytest.raises(ValueError, match=r"^x\[0\] = 0.0 is outside the bounds \[0.3, 1.0\]$"):
        H([0.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"^lb must be a scalar or a sequence of n=2 bounds, got 4$"):
        H([0.5, 0.5])
    x = [0.3, -0.3, 0.3, 0.3]
    assert_matrix_bits(fastgrad.Hessian(Rosenbrock(), h="adaptive", bounds=bounds)(x),
                       reference.hessian(Rosenbrock(), x, "adaptive", bounds=bounds))
