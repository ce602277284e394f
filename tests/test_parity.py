"""fastgrad against fastgrad.reference.

Python-callable tier: bit-identical results (DESIGN.md "Exact arithmetic") for
random smooth functions, points, steps, methods, unpack and args; compared on
exact float identity (float.hex: -0.0 differs from 0.0; NaNs are equal).
Vectorized tier: equal within the rounding of f, and equal to the Python tier
for a row-wise f within the same bound.
"""
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import fastgrad
import fastgrad.reference as reference
from _fgtools import EPS, METHODS, assert_bits_equal, assert_same_result, bits, floats

# -- random smooth functions ----------------------------------------------------------
#
# f(x) = sum_i c_i sin(a_i x_i) + q_i x_i**2 + sum_i b_i x_i x_{i+1} + d * x_0**3
# evaluated on Python floats (float(v) first), so the same f computes the same
# value bit for bit whether it gets an ndarray (fastgrad) or a list (reference).


def smooth(p, c, a, q, b, d):
    p = [float(v) for v in p]
    total = d * p[0] ** 3
    for i, v in enumerate(p):
        total += c[i] * math.sin(a[i] * v) + q[i] * v * v
    for i in range(len(p) - 1):
        total += b[i] * p[i] * p[i + 1]
    return total


def smooth_unpacked(*values):
    return smooth(values[:-5], *values[-5:])


def smooth_rows(X, c, a, q, b, d):
    X = np.asarray(X, dtype=float)
    c, a, q = np.asarray(c), np.asarray(a), np.asarray(q)
    total = d * X[:, 0] ** 3 + (c * np.sin(a * X) + q * X * X).sum(axis=1)
    if X.shape[1] > 1:
        total = total + (np.asarray(b) * X[:, :-1] * X[:, 1:]).sum(axis=1)
    return total


def smooth_columns(*values):
    columns = [np.asarray(v, dtype=float) for v in values[:-5]]
    return smooth_rows(np.column_stack(columns), *values[-5:])


def smooth_scale(p, c, a, q, b, d, h):
    """Sum of |terms| of f near p (for the rounding bound of the vectorized tier)."""
    p = [abs(float(v)) + hi for v, hi in zip(p, h)]
    return (abs(d) * p[0] ** 3 + sum(abs(ci) + abs(qi) * v * v for ci, qi, v in zip(c, q, p))
            + sum(abs(b[i]) * p[i] * p[i + 1] for i in range(len(p) - 1)))


coefficient = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
point_value = st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False)
step_value = st.floats(1e-8, 1e-1, allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw, max_n=5):
    n = draw(st.integers(1, max_n))
    vec = st.lists(coefficient, min_size=n, max_size=n)
    args = (tuple(draw(vec)), tuple(draw(vec)),
            tuple(draw(st.lists(st.floats(0.0, 3.0), min_size=n, max_size=n))),
            tuple(draw(st.lists(coefficient, min_size=max(n - 1, 0), max_size=max(n - 1, 0)))),
            draw(st.floats(-0.5, 0.5)))
    x = draw(st.lists(point_value, min_size=n, max_size=n))
    if draw(st.booleans()):
        h = draw(step_value)
    else:
        h = draw(st.lists(step_value, min_size=n, max_size=n))
        if draw(st.booleans()):
            h = np.array(h)
    method = draw(st.sampled_from(METHODS))
    unpack = draw(st.booleans())
    as_array = draw(st.booleans())
    return dict(n=n, args=args, x=np.array(x) if as_array else x, h=h, method=method,
                unpack=unpack)


def python_f(problem):
    return smooth_unpacked if problem["unpack"] else smooth


@settings(max_examples=200, deadline=None)
@given(problem=problems())
def test_gradient_bit_identical(problem):
    kw = dict(method=problem["method"], args=problem["args"], unpack=problem["unpack"])
    f = python_f(problem)
    fast = fastgrad.gradient(f, problem["x"], problem["h"], **kw)
    ref = reference.gradient(f, problem["x"], problem["h"], **kw)
    assert_bits_equal(fast, ref, "gradient")


@settings(max_examples=150, deadline=None)
@given(problem=problems(), lr=st.floats(1e-3, 2.0))
def test_step_bit_identical(problem, lr):
    kw = dict(method=problem["method"], args=problem["args"], unpack=problem["unpack"])
    f = python_f(problem)
    fast = fastgrad.gradient_descent_step(f, problem["x"], lr, problem["h"], **kw)
    ref = reference.gradient_descent_step(f, problem["x"], lr, problem["h"], **kw)
    assert_bits_equal(fast, ref, "step")


optimizers = st.one_of(
    st.sampled_from([None, "sgd", "momentum", "nesterov", "adam", "armijo", "lbfgs"]),
    st.builds(fastgrad.Momentum, st.floats(0.0, 0.99), st.floats(0.0, 0.9)),
    st.builds(fastgrad.Adam, st.floats(0.0, 0.99), st.floats(0.0, 0.9999),
              st.floats(1e-12, 1e-2)),
    st.builds(fastgrad.Armijo, st.floats(1e-6, 0.9), st.floats(0.05, 0.95), st.integers(0, 60)),
    st.builds(fastgrad.LBFGS, st.integers(1, 12), st.floats(1e-6, 0.4), st.floats(0.45, 0.99),
              st.integers(1, 30)))


@settings(max_examples=150, deadline=None)
@given(problem=problems(max_n=4), lr=st.floats(1e-3, 0.6), max_iter=st.integers(0, 40),
       tol=st.sampled_from([0.0, 1e-8, 1e-4, 1e-2, 0.5]), record=st.booleans(),
       stop_after=st.one_of(st.none(), st.integers(1, 10)), optimizer=optimizers,
       ftol=st.sampled_from([None, 0.0, 1e-9, 1e-3]))
def test_descent_bit_identical(problem, lr, max_iter, tol, record, stop_after, optimizer, ftol):
    f = python_f(problem)
    results, seen = [], []
    for impl in (fastgrad, reference):
        calls = []

        def callback(x):
            calls.append(bits(x))
            return stop_after is not None and len(calls) >= stop_after

        results.append(impl.gradient_descent(
            f, problem["x"], lr, max_iter=max_iter, tol=tol, h=problem["h"],
            method=problem["method"], args=problem["args"], unpack=problem["unpack"],
            callback=callback, record=record, optimizer=optimizer, ftol=ftol))
        seen.append(calls)
    assert_same_result(*results, "descent")
    assert seen[0] == seen[1]
    assert (results[0].path is None) == (not record)


# Deterministic runs through every stop rule, compared field by field.
STOP_CASES = {
    "converged": (lambda x, y: x**2 + y**2, [1.0, -1.0], dict(unpack=True)),
    "max_iter": (lambda p: float(p[0]) ** 4, [2.0], dict(max_iter=25, learning_rate=0.01)),
    "gradient-not-finite": (lambda p: float(p[0]) ** 2 if float(p[0]) >= 0.5 else math.nan,
                            [3.0], {}),
    "step-not-finite": (lambda p: float(p[0]) ** 2, [1e10], dict(learning_rate=1e300)),
    "step-lost": (lambda p: -float(p[0]), [2.0**51 - 1], dict(learning_rate=0.25, h=1.0,
                                                              tol=0.0)),
    "stencil-lost": (lambda p: -float(p[1]), [1.0, 1.0, 1.0], dict(learning_rate=1e12)),
    "diverging": (lambda p: float(p[0]) ** 2, [1.0], dict(learning_rate=1.5)),
    "callback": (lambda p: float(p[0]) ** 2, [1.0], dict(callback=lambda x: True)),
}


def test_every_stop_rule_bit_identical():
    for name, (f, x0, kw) in STOP_CASES.items():
        for record in (False, True):
            fast = fastgrad.gradient_descent(f, x0, record=record, **kw)
            ref = reference.gradient_descent(f, x0, record=record, **kw)
            assert_same_result(fast, ref, f"{name}, record={record}")


def test_nan_and_signed_zero_results_bit_identical():
    # -0.0 and nan in gradients: compared deliberately (0.0 != -0.0 here).
    def f(p):
        t = float(p[0])
        return -0.0 if t > 0 else (math.nan if t < -5 else 0.0)

    for x in ([1.0], [-10.0], [0.0]):
        for method in METHODS:
            assert_bits_equal(fastgrad.gradient(f, x, method=method),
                              reference.gradient(f, x, method=method), f"{x} {method}")


def test_step_kinds_bit_identical():
    # h as numpy/int/0-d scalars and as sequences of them: the same steps in both.
    f = lambda p: smooth(p, (1.0, -2.0), (0.3, 1.7), (0.5, 0.25), (0.75,), 0.1)  # noqa: E731
    x = [0.3, -1.1]
    for h in (np.float32(1e-3), np.float64(1e-4), 1, np.array(1e-5), [np.float32(1e-3), 1],
              (1e-4, np.float16(1e-2)), np.array([1e-3, 1e-6], dtype=np.float32)):
        for method in METHODS:
            assert_bits_equal(fastgrad.gradient(f, x, h, method=method),
                              reference.gradient(f, x, h, method=method), f"h={h!r}")


def test_nested_gradients_bit_identical():
    # f calling the library itself (re-entrant use) gives the same bits too.
    def make(impl):
        def inner(p):
            return smooth(p, (1.0, -2.0), (0.3, 1.7), (0.5, 0.25), (0.75,), 0.1)

        def outer(a, b):
            return float(impl.gradient(inner, [a, b], 1e-5)[1])

        return outer

    for method in METHODS:
        assert_bits_equal(fastgrad.gradient(make(fastgrad), [0.4, -0.9], 1e-3, method=method,
                                            unpack=True),
                          reference.gradient(make(reference), [0.4, -0.9], 1e-3, method=method,
                                             unpack=True), method)


# -- vectorized tier ---------------------------------------------------------------------
#
# Both implementations hand numpy the same points; numpy may round a row's value
# differently from the scalar Python f (SIMD sin, pairwise sums), by at most a few
# ulps of the terms: |df| <= K*EPS*S with S the sum of |terms| and K = 8*(n + 4)
# (one sin/multiply/add per term and the summation of 3n terms).  A difference
# quotient carries twice that over its realised step.


def rounding_bound(problem, x):
    n = problem["n"]
    h = problem["h"]
    h = [float(h)] * n if np.ndim(h) == 0 else [float(v) for v in h]
    scale = smooth_scale(x, *problem["args"], h)
    steps = [2 * hi if problem["method"] == "central" else hi for hi in h]
    k = 8 * (n + 4)
    return [2 * k * EPS * scale / s for s in steps]


def vectorized_f(problem):
    return smooth_columns if problem["unpack"] else smooth_rows


@settings(max_examples=120, deadline=None)
@given(problem=problems())
def test_vectorized_fast_matches_reference(problem):
    kw = dict(method=problem["method"], args=problem["args"], unpack=problem["unpack"],
              vectorized=True)
    f = vectorized_f(problem)
    fast = floats(fastgrad.gradient(f, problem["x"], problem["h"], **kw))
    ref = floats(reference.gradient(f, problem["x"], problem["h"], **kw))
    assert len(fast) == len(ref) == problem["n"]  # zip below must not cut anything short
    for a, b, bound in zip(fast, ref, rounding_bound(problem, problem["x"])):
        assert abs(a - b) <= bound


@settings(max_examples=120, deadline=None)
@given(problem=problems())
def test_vectorized_tier_matches_python_tier(problem):
    kw = dict(method=problem["method"], args=problem["args"], unpack=problem["unpack"])
    for impl in (fastgrad, reference):
        vec = floats(impl.gradient(vectorized_f(problem), problem["x"], problem["h"],
                                   vectorized=True, **kw))
        py = floats(impl.gradient(python_f(problem), problem["x"], problem["h"], **kw))
        assert len(vec) == len(py) == problem["n"]
        for a, b, bound in zip(vec, py, rounding_bound(problem, problem["x"])):
            assert abs(a - b) <= bound


@settings(max_examples=60, deadline=None)
@given(problem=problems(max_n=4), lr=st.floats(1e-3, 0.5))
def test_vectorized_step_matches(problem, lr):
    kw = dict(method=problem["method"], args=problem["args"], unpack=problem["unpack"])
    fast = floats(fastgrad.gradient_descent_step(vectorized_f(problem), problem["x"], lr,
                                                 problem["h"], vectorized=True, **kw))
    ref = floats(reference.gradient_descent_step(vectorized_f(problem), problem["x"], lr,
                                                 problem["h"], vectorized=True, **kw))
    py = floats(fastgrad.gradient_descent_step(python_f(problem), problem["x"], lr,
                                               problem["h"], **kw))
    assert len(fast) == len(ref) == len(py) == problem["n"]
    for a, b, c, bound in zip(fast, ref, py, rounding_bound(problem, problem["x"])):
        assert abs(a - b) <= lr * bound and abs(a - c) <= lr * bound


def quadratic_rows(X, q):
    X = np.asarray(X, dtype=float)
    return (np.asarray(q) * X * X).sum(axis=1)


def test_vectorized_descent_fast_matches_reference():
    # A convex quadratic with well-separated stopping: both tiers stop at the same
    # iteration, with the same counts, at the same x within rounding.
    q = (1.0, 2.0, 0.5)
    for method in METHODS:
        for record in (False, True):
            kw = dict(args=(q,), method=method, vectorized=True, record=record, max_iter=500)
            fast = fastgrad.gradient_descent(quadratic_rows, [1.0, -2.0, 3.0], 0.1, **kw)
            ref = reference.gradient_descent(quadratic_rows, [1.0, -2.0, 3.0], 0.1, **kw)
            assert (fast.nit, fast.nfev, fast.converged, fast.message) == \
                (ref.nit, ref.nfev, ref.converged, ref.message)
            assert np.allclose(floats(fast.x), floats(ref.x), rtol=1e-12, atol=1e-12)
            assert abs(fast.fun - ref.fun) <= 1e-12
