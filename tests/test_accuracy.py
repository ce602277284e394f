"""Step rules: h="auto" (relative steps sized for f's precision) and the float32 warning."""
import math
import warnings

import numpy as np
import pytest

import fastgrad
import fastgrad.reference as reference
from fastgrad._contract import PrecisionWarning
from fastgrad._stencils import EPS32, EPS64, ORDERS, STENCILS, auto_step
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


PUBLIC_ROWS = [(m, o) for m, orders in ORDERS.items() for o in orders]


@pytest.mark.parametrize("method,order", PUBLIC_ROWS)
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


# -- bounds: no stencil point leaves the box ------------------------------------------

def recording(f):
    seen = []

    def g(p):
        seen.append([float(v) for v in p])
        return f(p)
    return g, seen


def sqrt_sum(p):
    return math.sqrt(p[0]) + math.sqrt(1.0 - p[1])


BOX_CASES = [
    ([0.0, 0.5], (0.0, 1.0)),           # at the lower bound
    ([0.5, 1.0], (0.0, 1.0)),           # at the upper bound
    ([1e-9, 1.0 - 1e-9], (0.0, 1.0)),   # just inside both
    ([0.3, 0.7], ([0.3 - 1e-7, 0.7 - 1e-7], [0.3 + 2e-7, 0.7 + 1e-7])),  # tight boxes: shrunk
    ([0.25, 0.75], (-math.inf, math.inf)),  # open box: the plain stencil
]


@pytest.mark.parametrize("x,bounds", BOX_CASES)
@pytest.mark.parametrize("method,order", [("central", 2), ("central", 4), ("forward", 1),
                                          ("backward", 2), ("central", 8)])
def test_no_point_leaves_the_box_and_both_agree(impl, x, bounds, method, order):
    f, seen = recording(sqrt_sum)
    g = impl.gradient(f, x, 1e-5, method=method, order=order, bounds=bounds)
    lb, ub = bounds
    lb = lb if isinstance(lb, list) else [lb] * 2
    ub = ub if isinstance(ub, list) else [ub] * 2
    assert all(lb[i] <= p[i] <= ub[i] for p in seen for i in range(2)), seen
    other = reference if impl is fastgrad else fastgrad
    f2, seen2 = recording(sqrt_sum)
    assert bits(other.gradient(f2, x, 1e-5, method=method, order=order, bounds=bounds)) == \
        bits(g)
    assert seen2 == seen  # the same points, in the same order
    if x[0] >= 0.1 and x[1] <= 0.9:  # h well inside sqrt's smooth part: check the value
        exact = [0.5 / math.sqrt(x[0]), -0.5 / math.sqrt(1.0 - x[1])]
        assert all(abs(a - b) <= 1e-3 * abs(b) for a, b in zip(g, exact)), (g, exact)


def test_at_a_bound_the_stencil_turns_one_sided_of_the_same_order(impl):
    f, seen = recording(lambda p: p[0] ** 3)
    g = impl.gradient(f, [0.0], 0.01, bounds=(0.0, 1.0))  # central order 2 at lb
    # f(x) first, then the forward order-2 points x + h, x + 2h
    assert seen == [[0.0], [0.01], [0.02]]
    # forward order 2 on x**3 at 0: (2 f(h) - f(2h)/2 - 3/2 f(0)) / h = -2 h**2
    assert abs(g[0] - (-2e-4)) < 1e-15
    seen.clear()
    impl.gradient(f, [1.0], 0.01, bounds=(0.0, 1.0))
    assert seen == [[1.0], [1.0 - 0.01], [1.0 + (-2) * 0.01]]


def test_central_with_bounds_evaluates_f_at_x_too(impl):
    calls = []
    impl.gradient(lambda p: calls.append(1) or p[0] ** 2 + p[1] ** 2, [0.5, 0.5],
                  bounds=(-1.0, 1.0))
    assert len(calls) == 2 * 2 + 1


def test_batch_with_bounds_agrees_with_each_row(impl):
    X = [[0.0, 0.5], [0.5, 1.0], [0.2, 0.3]]
    G = impl.gradient_batch(sqrt_sum, X, bounds=(0.0, 1.0))
    for r, x in enumerate(X):
        assert bits(G[r]) == bits(impl.gradient(sqrt_sum, x, bounds=(0.0, 1.0)))
    from fastgrad.objectives import Sphere
    assert [bits(r) for r in fastgrad.gradient_batch(Sphere(), X, bounds=(0.0, 1.0))] == \
        [bits(r) for r in reference.gradient_batch(Sphere(), X, bounds=(0.0, 1.0))]


@pytest.mark.parametrize("bounds,error,message", [
    ((0.5, 0.5), ValueError, r"bounds leave no room for a stencil at x\[0\] = 0\.5: "
                             r"lb\[0\] = 0\.5, ub\[0\] = 0\.5"),
    ((0.6, 1.0), ValueError, r"x\[0\] = 0\.5 is outside the bounds \[0\.6, 1\.0\]"),
    ((1.0, 0.0), ValueError, r"bounds: lb\[0\] = 1\.0 > ub\[0\] = 0\.0"),
    (([0.0], [1.0]), ValueError, r"lb must be a scalar or a sequence of n=2 bounds, got 1"),
    ((0.0, math.nan), ValueError, r"ub\[0\] must not be nan"),
    ((0.0,), TypeError, r"bounds must be a pair \(lb, ub\)"),
    (("a", 1.0), TypeError, r"lb must be a real number or a sequence of 2 of them"),
])
def test_bad_bounds_are_named_before_f_is_called(impl, bounds, error, message):
    def f(p):
        raise AssertionError("f must not be called")

    with pytest.raises(error, match=message):
        impl.gradient(f, [0.5, 0.5], bounds=bounds)
    with pytest.raises(error, match=message.replace(r"x\[0\]", r"X\[0, 0\]")):
        impl.gradient_batch(f, [[0.5, 0.5]], bounds=bounds)


def test_batch_names_the_row_outside_the_bounds(impl):
    with pytest.raises(ValueError, match=r"X\[2, 1\] = 2\.0 is outside the bounds \[0\.0, 1\.0\]"):
        impl.gradient_batch(sqrt_sum, [[0.5, 0.5], [0.1, 0.1], [0.5, 2.0]], bounds=(0.0, 1.0))


@pytest.mark.parametrize("tier", sorted(TIERS))
def test_bounds_bit_identical_on_every_tier(tier):
    kwargs, fast_f, ref_f = TIERS[tier]
    for x in ([0.0, -1.0], [1.0, -0.3], [0.4, 0.0]):
        opts = dict(bounds=([0.0, -1.0], [1.0, 0.0]), **kwargs)
        assert bits(fastgrad.gradient(fast_f, x, **opts)) == \
            bits(reference.gradient(ref_f, x, **opts))
        assert bits(fastgrad.gradient(fast_f, x, "auto", **opts)) == \
            bits(reference.gradient(ref_f, x, "auto", **opts))
    assert bits(fastgrad.gradient(Rosenbrock(), [0.0, 1.0], bounds=(0.0, 1.0))) == \
        bits(reference.gradient(Rosenbrock(), [0.0, 1.0], bounds=(0.0, 1.0)))


# -- full_output: an honest error estimate ------------------------------------------

FUNCTIONS = {
    "exp": (lambda x: math.exp(x[0]) * math.exp(0.3 * x[1]),
            lambda x: [math.exp(x[0]) * math.exp(0.3 * x[1]),
                       0.3 * math.exp(x[0]) * math.exp(0.3 * x[1])]),
    "trig": (lambda x: math.sin(x[0]) * math.cos(2 * x[1]),
             lambda x: [math.cos(x[0]) * math.cos(2 * x[1]),
                        -2 * math.sin(x[0]) * math.sin(2 * x[1])]),
    "runge": (lambda x: 1 / (1 + 25 * x[0] ** 2) + x[1],
              lambda x: [-50 * x[0] / (1 + 25 * x[0] ** 2) ** 2, 1.0]),
    "rosenbrock": (lambda x: 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2,
                   lambda x: [-400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0]),
                              200 * (x[1] - x[0] ** 2)]),
    "log1p": (lambda x: math.log1p(x[0] ** 2) * x[1],
              lambda x: [2 * x[0] / (1 + x[0] ** 2) * x[1], math.log1p(x[0] ** 2)]),
}


def test_the_error_estimate_is_honest_and_not_loose():
    # A random battery of smooth functions, points, steps (truncation- and
    # rounding-dominated) and stencils, against the exact gradients.
    import random
    rng = random.Random(20261202)
    inside, ratios = 0, []
    for _ in range(300):
        name = rng.choice(sorted(FUNCTIONS))
        f, exact = FUNCTIONS[name]
        x = [rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5)]
        h = rng.choice([1e-5, "auto", 1e-3, 1e-8, 1e-2])
        method, order = rng.choice([("central", 2), ("central", 4), ("forward", 1),
                                    ("backward", 2), ("central", 8), ("forward", 3)])
        r = reference.gradient(f, x, h, method=method, order=order, full_output=True)
        for g, e, t in zip(r.grad, r.error, exact(x)):
            inside += abs(g - t) <= e
            if g != t:
                ratios.append(e / abs(g - t))
    assert inside >= 0.95 * 600, inside
    ratios.sort()
    assert ratios[len(ratios) // 2] < 100, ratios[len(ratios) // 2]  # not absurdly loose


@pytest.mark.parametrize("h", [1e-5, "auto", [1e-4, 2e-6]])
@pytest.mark.parametrize("tier", sorted(TIERS))
def test_full_output_bit_identical_with_the_reference(h, tier):
    kwargs, fast_f, ref_f = TIERS[tier]
    x = [0.7, -1.3]
    for extra in ({}, {"bounds": ([0.7, -1.3], 5.0)}, {"method": "forward", "order": 3}):
        r = fastgrad.gradient(fast_f, x, h, full_output=True, **extra, **kwargs)
        q = reference.gradient(ref_f, x, h, full_output=True, **extra, **kwargs)
        assert isinstance(r, fastgrad.GradientResult) and isinstance(q, fastgrad.GradientResult)
        assert bits(r.grad) == bits(q.grad) and bits(r.error) == bits(q.error)
        assert bits(r.step) == bits(q.step)
        assert (r.nfev, r.success, r.message) == (q.nfev, q.success, q.message)
        assert bits(r.grad) == bits(fastgrad.gradient(fast_f, x, h, **extra, **kwargs))


@pytest.mark.parametrize("h,extra,k,probe", [(1e-5, {}, 4, 0), ("auto", {}, 4, 1),
                                              (1e-5, {"method": "forward"}, 3, 0),
                                              (1e-5, {"bounds": (0.0, 1.0)}, 5, 0)])
def test_full_output_counts_every_evaluation(impl, h, extra, k, probe):
    calls = []

    def f(p):
        calls.append(1)
        return wavy(p)

    r = impl.gradient(f, [0.5, 0.5], h, full_output=True, **extra)
    # two gradients (h, 2h) and f(x); h="auto" probes f's precision once, before
    # the first (the second takes twice the steps the probe chose)
    assert r.nfev == len(calls) == 2 * k + 1 + probe


@pytest.mark.parametrize("x0", [1.782e308, 1.785e308, 1e308])
def test_full_output_counts_when_the_doubled_float32_step_overflows(impl, x0):
    # float32 values: h="auto" takes float32's larger constant (4.9e-3 |x|) after
    # its probe; at x ~ 1.78e308 x + h fits and x + 2h overflows: no estimate,
    # and nfev is still every call of f (it once missed a second probe here).
    calls = []

    def f(p):
        calls.append(list(p))
        return np.float32(p[0] * 1e-300)

    r = impl.gradient(f, [x0], "auto", full_output=True)
    c = EPS32 ** (1.0 / 3.0)
    assert r.nfev == len(calls)
    if x0 > 1.78e308:
        assert not r.success and r.nfev == 4  # probe, x +- h, f(x)
        assert r.message == ("no error estimate: the doubled step has no usable stencil "
                             "at x[0]")
        assert [p[0] for p in calls] == [x0, x0 + c * x0, x0 - c * x0, x0]
    else:
        assert r.nfev == 6  # probe, x +- h, x +- 2h, f(x)
        assert [p[0] for p in calls] == [x0, x0 + c * x0, x0 - c * x0, x0 + 2.0 * (c * x0),
                                         x0 - 2.0 * (c * x0), x0]


def test_full_output_flags_what_it_cannot_trust(impl):
    r = impl.gradient(lambda p: math.sin(1e6 * p[0]), [0.0], full_output=True)
    assert not r.success and r.message.startswith("the error estimate exceeds the gradient")
    r = impl.gradient(lambda p: math.nan, [0.0], full_output=True)
    assert not r.success and r.message.startswith("f is not finite")
    r = impl.gradient(wavy, [0.7, -1.3], full_output=True)
    assert r.success and r.message.startswith("ok")
    exact = wavy_gradient_exact([0.7, -1.3])
    assert all(abs(g - t) <= e for g, e, t in zip(r.grad, r.error, exact))


def wavy_gradient_exact(x):
    return [0.5 * math.exp(0.5 * x[0]) * math.sin(x[1]) + 3 * x[0] ** 2 * x[1],
            math.exp(0.5 * x[0]) * math.cos(x[1]) + x[0] ** 3]


def test_full_output_is_checked(impl):
    with pytest.raises(TypeError, match=r"full_output must be True or False, got int 1"):
        impl.gradient(wavy, [0.5, 0.5], full_output=1)


# -- h="adaptive": Richardson over a sequence of steps ----------------------------------

def test_adaptive_reaches_1e_12_with_an_honest_estimate():
    import random
    rng = random.Random(5)
    inside = total = 0
    for _ in range(120):
        name = rng.choice(sorted(FUNCTIONS))
        f, exact = FUNCTIONS[name]
        x = [rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5)]
        r = reference.gradient(f, x, "adaptive", full_output=True)
        e = exact(x)
        scale = max(abs(v) for v in e)
        assert max(abs(a - b) for a, b in zip(r.grad, e)) <= 1e-12 * scale, (name, x)
        assert r.success
        for g, est, t in zip(r.grad, r.error, e):
            total += 1
            inside += abs(g - t) <= est
    assert inside >= 0.95 * total, (inside, total)


@pytest.mark.parametrize("tier", sorted(TIERS))
@pytest.mark.parametrize("extra", [{}, {"method": "forward"}, {"order": 4}])
def test_adaptive_bit_identical_and_counted(tier, extra):
    kwargs, fast_f, ref_f = TIERS[tier]
    x = [0.7, -1.3]
    r = fastgrad.gradient(fast_f, x, "adaptive", full_output=True, **extra, **kwargs)
    q = reference.gradient(ref_f, x, "adaptive", full_output=True, **extra, **kwargs)
    assert bits(r.grad) == bits(q.grad) and bits(r.error) == bits(q.error)
    assert bits(r.step) == bits(q.step) and (r.nfev, r.message) == (q.nfev, q.message)
    assert bits(fastgrad.gradient(fast_f, x, "adaptive", **extra, **kwargs)) == bits(r.grad)
    calls = []
    reference.gradient(lambda p: calls.append(1) or wavy(p), x, "adaptive", **extra)
    assert r.nfev == len(calls)


@pytest.mark.parametrize("call", ["gradient_descent_step", "gradient_descent"])
def test_adaptive_is_for_gradient_and_batch_only(impl, call):
    with pytest.raises(ValueError) as raised:
        getattr(impl, call)(wavy, [0.5, 0.5], h="adaptive")
    assert str(raised.value) == (
        f'h="adaptive" is for gradient() and gradient_batch() (Richardson extrapolation '
        f'over {call}\'s every gradient would multiply its cost tenfold): use h="auto" here')


def test_auto_names_the_float32_step_that_failed(impl):
    # The double-precision step fits; f's float32 values switch to float32's
    # larger step, which overflows: the message names that step, in both.
    def f32(p):
        return np.float32(p[1])

    import re
    step = EPS32 ** (1.0 / 3.0) * 1.79e308
    message = re.escape(f"h[0] = {step!r} gives no usable step at x[0] = 1.79e+308")
    with pytest.raises(ValueError, match=message):
        impl.gradient(f32, [1.79e308, 1.0], "auto")
    with pytest.raises(ValueError, match=message):
        impl.gradient_descent(f32, [1.79e308, 1.0], h="auto")
