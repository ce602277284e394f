"""Step rules: h="auto" (relative steps sized for f's precision) and the float32 warning."""
import math
import warnings

import numpy as np
import pytest

import fastgrad
import fastgrad.reference as reference
from fastgrad._contract import PrecisionWarning
from fastgrad._stencils import EPS32, EPS64, STENCILS, auto_step
from fastgrad.objectives import Rosenbrock

from _fgtools import assert_same_result, bits


def cubes(x):
    return sum(v ** 3 for v in x)


def wavy(x):
    return math.exp(0.5 * x[0]) * math.sin(x[1]) + x[0] ** 3 * x[1]


@pytest.mark.parametrize("magnitude", [1e-8, 1e-3, 1.0, 1e3, 1e8, 1e12])
@pytest.mark.parametrize("method", ["central", "forward", "backward"])
def test_auto_steps_are_accurate_at_every_scale(impl, magnitude, method):
    # sum(x_i**3): exact gradient 3 x_i**2.  A fixed h = 1e-5 is useless at 1e12
    # (the realised step rounds to 0) and loses digits from 1e8 on.
    x = [magnitude, -2.0 * magnitude, 0.5 * magnitude]
    g = impl.gradient(cubes, x, "auto", method=method)
    exact = [3.0 * v * v for v in x]
    worst = max(abs(a - b) / abs(b) for a, b in zip(g, exact))
    # central order 2: ~ c**2 + eps / c with c = eps**(1/3); one-sided: ~ c
    bound = 1e-8 if method == "central" else 1e-6
    if magnitude < 1.0:  # h = c * max(1, |x|) is absolute there: the error is
        # against the scale of f, not of a tiny gradient
        worst = max(abs(a - b) for a, b in zip(g, exact)) / max(1.0, max(map(abs, exact)))
    assert worst <= bound, (magnitude, method, worst)


def test_a_fixed_h_fails_where_auto_works(impl):
    with pytest.raises(ValueError, match=r"h\[0\] = 1e-05 gives no usable step at x\[0\] = 1000000000000.0"):
        impl.gradient(cubes, [1e12, 1.0])
    g = impl.gradient(cubes, [1e12, 1.0], "auto")
    assert abs(g[0] / 3e24 - 1.0) < 1e-8


@pytest.mark.parametrize("method,order", sorted(STENCILS))
def test_auto_uses_the_optimal_constant_per_row(method, order):
    # The points f receives: x_i + offset * c * max(1, |x_i|), c = eps**(1/(order+1))
    seen = []

    def f(p):
        seen.append(list(p))
        return wavy(p)

    x = [0.5, -3.0]
    reference.gradient(f, x, "auto", method=method, order=order)
    c = EPS64 ** (1.0 / (order + 1))
    assert c == auto_step(STENCILS[method, order], EPS64)
    assert seen[0] == x  # the probe of f's precision comes first
    row = STENCILS[method, order]
    first = 2 if row.needs_center else 1  # the probe, then f(x) if the row needs it
    expected = [x[0] + o * (c * 1.0) for o in row.point_offsets]
    assert [p[0] for p in seen[first:first + len(expected)]] == expected


TIERS = {
    "python": ({}, wavy, wavy),
    "unpack": ({"unpack": True}, lambda a, b: wavy([a, b]), lambda a, b: wavy([a, b])),
    "vectorized": ({"vectorized": True}, lambda X: np.array([wavy(r) for r in X]),
                   lambda X: [wavy(r) for r in X]),
}


@pytest.mark.parametrize("tier", sorted(TIERS))
@pytest.mark.parametrize("method,order", [("central", 2), ("forward", 1), ("backward", 2),
                                          ("central", 6)])
def test_auto_is_bit_identical_to_the_reference(tier, method, order):
    kwargs, fast_f, ref_f = TIERS[tier]
    x = [0.7, -130.0]
    opts = dict(method=method, order=order, **kwargs)
    assert bits(fastgrad.gradient(fast_f, x, "auto", **opts)) == \
        bits(reference.gradient(ref_f, x, "auto", **opts))
    assert bits(fastgrad.gradient_descent_step(fast_f, x, 0.01, "auto", **opts)) == \
        bits(reference.gradient_descent_step(ref_f, x, 0.01, "auto", **opts))
    X = [x, [2.0, 1e6], [-1e-9, 3.0]]
    assert [bits(r) for r in fastgrad.gradient_batch(fast_f, X, "auto", **opts)] == \
        [bits(r) for r in reference.gradient_batch(ref_f, X, "auto", **opts)]


@pytest.mark.parametrize("optimizer", [None, "adam", "armijo"])
def test_auto_in_descents_bit_identical_and_counts_the_probe(optimizer):
    x0 = [-1.2, 1.0]
    r = fastgrad.gradient_descent(Rosenbrock(), x0, 1e-3, h="auto", max_iter=40,
                                  optimizer=optimizer, record=True)
    q = reference.gradient_descent(Rosenbrock(), x0, 1e-3, h="auto", max_iter=40,
                                   optimizer=optimizer, record=True)
    assert_same_result(r, q)
    fixed = fastgrad.gradient_descent(Rosenbrock(), x0, 1e-3, h=1e-5, max_iter=40,
                                      optimizer=optimizer, record=True)
    if optimizer != "armijo":  # the same number of updates: one more evaluation, the probe
        assert r.nit == fixed.nit and r.nfev == fixed.nfev + 1


def float32_square(x):
    return np.float32(np.float32(x[0]) * np.float32(x[0]) + np.float32(x[1]))


def test_a_fixed_h_with_float32_values_warns_in_both(impl):
    for call in (lambda: impl.gradient(float32_square, [1.5, 2.0]),
                 lambda: impl.gradient_descent_step(float32_square, [1.5, 2.0]),
                 lambda: impl.gradient_batch(float32_square, [[1.5, 2.0]]),
                 lambda: impl.gradient_descent(float32_square, [1.5, 2.0], max_iter=2),
                 lambda: impl.gradient(lambda X: np.array([float32_square(r) for r in X],
                                                          dtype=np.float32),
                                       [1.5, 2.0], vectorized=True)):
        with pytest.warns(PrecisionWarning, match=r'h="auto" sizes the steps') as record:
            call()
        assert len(record) == 1


def test_no_warning_for_double_precision_or_auto(impl):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        impl.gradient(wavy, [1.5, 2.0])
        impl.gradient(float32_square, [1.5, 2.0], "auto")
        impl.gradient(lambda x: np.float64(x[0]), [1.5])


def test_auto_sizes_the_steps_for_float32(impl):
    # A float32 f: h = 1e-5 loses ~3 digits; "auto" takes eps32**(1/3) steps.
    exact = [3.0, 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrecisionWarning)
        fixed = impl.gradient(float32_square, [1.5, 2.0])
    auto = impl.gradient(float32_square, [1.5, 2.0], "auto")
    err_fixed = max(abs(a - b) for a, b in zip(fixed, exact))
    err_auto = max(abs(a - b) for a, b in zip(auto, exact))
    assert err_fixed > 1e-3 and err_auto < 1e-4, (err_fixed, err_auto)
    seen = []

    def f(p):
        seen.append(float(p[0]))
        return float32_square(p)

    impl.gradient(f, [1.5, 2.0], "auto")
    c32 = EPS32 ** (1.0 / 3.0)
    assert seen[:3] == [1.5, 1.5 + c32 * 1.5, 1.5 + (-1.0) * (c32 * 1.5)]


def test_auto_step_too_large_for_x_is_named(impl):
    # x near the float limit: x + c * |x| overflows; named before f is called.
    def f(p):
        raise AssertionError("f must not be called")

    with pytest.raises(ValueError, match=r"gives no usable step at x\[1\] = 1.79769e\+308"):
        impl.gradient(f, [1.0, 1.79769e308], "auto")
