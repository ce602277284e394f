"""gradient_batch with full_output=True and h="adaptive": row r is gradient(f, X[r], ...)."""
import math

import numpy as np
import pytest

import fastgrad
import fastgrad.reference as reference
from fastgrad._accuracy import GradientResult
from fastgrad.objectives import Rosenbrock

from _fgtools import bits, check_matrix


def wavy(x):
    return math.exp(0.5 * x[0]) * math.sin(x[1]) + x[0] ** 3 * x[1]


X = [[0.5, -3.0], [1.5, 0.25], [-2.0, 7.0]]


def flat(rows):
    return [v for row in rows for v in (row.tolist() if hasattr(row, "tolist") else row)]


@pytest.mark.parametrize("h,extra", [(1e-5, {}), ("auto", {}), ("auto", {"order": 4}),
                                     ([1e-3, 1e-4], {"method": "forward"}),
                                     ("auto", {"bounds": ([-2.0, -3.0], [2.0, 8.0])}),
                                     ("adaptive", {}), ("adaptive", {"method": "backward"}),
                                     ("auto", {"method": "complex"})])
def test_full_output_rows_are_the_rows_gradients(impl, h, extra):
    f = wavy if extra.get("method") != "complex" else (
        lambda p: np.exp(0.5 * p[0]) * np.sin(p[1]) + p[0] ** 3 * p[1])
    r = impl.gradient_batch(f, X, h, full_output=True, **extra)
    assert isinstance(r, GradientResult)
    rows = [impl.gradient(f, x, h, full_output=True, **extra) for x in X]
    for name in ("grad", "error", "step"):
        check_matrix(impl, getattr(r, name), 3, 2)
        assert bits(flat(getattr(r, name))) == bits(flat([getattr(q, name) for q in rows]))
    assert r.nfev == sum(q.nfev for q in rows)
    assert r.success and r.message == rows[0].message
    plain = impl.gradient_batch(f, X, h, **extra)
    assert bits(flat(plain)) == bits(flat(r.grad))


def test_full_output_counts_every_evaluation(impl):
    calls = []

    def f(p):
        calls.append(1)
        return wavy(p)

    r = impl.gradient_batch(f, X, "auto", full_output=True)
    assert r.nfev == len(calls) == 3 * (2 * 4 + 1 + 1)  # per row: h, 2h, f(x), the probe


def test_the_message_names_the_first_row_that_failed(impl):
    rows = [[0.0], [1.0], [0.0]]
    r = impl.gradient_batch(lambda p: math.sin(1e6 * p[0]), rows, full_output=True)
    first = impl.gradient(lambda p: math.sin(1e6 * p[0]), rows[0], full_output=True)
    assert not r.success
    assert r.message == f"3 of 3 rows failed; first X[0]: {first.message}"


@pytest.mark.parametrize("extra", [{}, {"vectorized": True}, {"unpack": True}])
def test_bit_identical_to_the_reference(extra):
    if extra.get("vectorized"):
        fast_f, ref_f = (lambda P: np.array([wavy(p) for p in P])), (lambda P: [wavy(p) for p in P])
    elif extra.get("unpack"):
        fast_f = ref_f = lambda a, b: wavy([a, b])
    else:
        fast_f = ref_f = wavy
    for h in ("adaptive", "auto", 1e-6):
        a = fastgrad.gradient_batch(fast_f, X, h, full_output=True, **extra)
        b = reference.gradient_batch(ref_f, X, h, full_output=True, **extra)
        for name in ("grad", "error", "step"):
            assert bits(flat(getattr(a, name))) == bits(flat(getattr(b, name))), (h, name)
        assert (a.nfev, a.success, a.message) == (b.nfev, b.success, b.message)
        assert bits(flat(fastgrad.gradient_batch(fast_f, X, h, **extra))) == \
            bits(flat(reference.gradient_batch(ref_f, X, h, **extra)))


def test_adaptive_batch_is_accurate_on_a_compiled_objective():
    G = fastgrad.gradient_batch(Rosenbrock(), [[0.3, 0.7, -1.1], [1.2, 1.0, 0.4]], "adaptive")
    for x, g in zip([[0.3, 0.7, -1.1], [1.2, 1.0, 0.4]], G):
        exact = [-400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0]),
                 200 * (x[1] - x[0] ** 2) - 400 * x[1] * (x[2] - x[1] ** 2) - 2 * (1 - x[1]),
                 200 * (x[2] - x[1] ** 2)]
        assert max(abs(a - b) / abs(b) for a, b in zip(g, exact)) < 1e-12


def never(*p):
    raise AssertionError("f must not be called")


def test_every_row_is_checked_before_f_is_called(impl):
    # Row 1's step rounds away at 1e12 (h = 1e-5): raised, naming the row, before
    # row 0 is evaluated.
    with pytest.raises(ValueError) as raised:
        impl.gradient_batch(never, [[1.0, 2.0], [1e12, 1.0]], full_output=True)
    assert str(raised.value) == (
        "h[0] = 1e-05 gives no usable step at X[1, 0] = 1000000000000.0: "
        "the realised step (x[i] + h) - (x[i] - h) rounds to 0 or is not finite")
    with pytest.raises(ValueError) as raised:
        impl.gradient_batch(never, [[1.0], [1.7e308]], "adaptive")
    assert "X[1, 0] = 1.7e+308" in str(raised.value)
    with pytest.raises(ValueError) as raised:  # the same within (open) bounds
        impl.gradient_batch(never, [[1.0], [1.7e308]], "adaptive",
                            bounds=(-math.inf, math.inf))
    assert "X[1, 0] = 1.7e+308" in str(raised.value)
    with pytest.raises(TypeError) as raised:
        impl.gradient_batch(never, X, full_output=1)
    assert str(raised.value) == "full_output must be True or False, got int 1"
