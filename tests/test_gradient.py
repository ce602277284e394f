"""Analytic gradients: every method, per-coordinate h, args, unpack, vectorized.

Tolerances come from fd_bound() in _fgtools.py: truncation error (central
O(h**2): h**2/6*max|f'''|; forward/backward O(h): h/2*max|f''|) plus the
rounding of f amplified by 1/step.  Each test states the numbers.
"""
import functools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastgrad._contract
from _fgtools import EPS, METHODS, check_vector, fd_bound, floats, is_fast

coord = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)


def sum_of_squares(x, y):
    return x**2 + y**2


# -- x**2 + y**2 at (1, -1): the textbook example -------------------------------

def test_sum_of_squares_textbook_example(impl):
    g = impl.gradient(sum_of_squares, [1.0, -1.0], unpack=True)
    check_vector(impl, g, 2)
    # Central differences are exact for a quadratic (f''' = 0), so only rounding
    # remains: |f| <= 2 + 1e-4 near (1, -1), 16 roundings at most, h = 1e-5:
    # 2*16*EPS*2/(2e-5) ~ 7.1e-10.
    bound = fd_bound("central", 1e-5, d2=2.0, d3=0.0, scale=2.0 + 1e-4)
    assert bound < 1e-9
    g = floats(g)
    assert abs(g[0] - 2.0) <= bound
    assert abs(g[1] + 2.0) <= bound


def test_array_argument_gives_the_same_as_unpack(impl):
    g_unpacked = floats(impl.gradient(sum_of_squares, [1.0, -1.0], unpack=True))
    g_array = impl.gradient(lambda p: p[0] ** 2 + p[1] ** 2, [1.0, -1.0])
    check_vector(impl, g_array, 2)
    assert floats(g_array) == g_unpacked


@pytest.mark.parametrize("method,sign", [("forward", 1.0), ("backward", -1.0)])
def test_one_sided_differences_carry_their_order_h_error(impl, method, sign):
    h = 1e-3
    g = impl.gradient(sum_of_squares, [1.0, -1.0], h, method=method, unpack=True)
    check_vector(impl, g, 2)
    # For t**2 the one-sided quotient is exactly 2*t + sign*s, with s the realised
    # step (x+h)-x or x-(x-h): the O(h) truncation error h/2*f'' = h is present,
    # not cancelled as in central differences.  Only rounding remains on top:
    # 2*16*EPS*2.01/h ~ 1.4e-11, far below h = 1e-3.
    if method == "forward":
        s0, s1 = (1.0 + h) - 1.0, (-1.0 + h) - (-1.0)
    else:
        s0, s1 = 1.0 - (1.0 - h), -1.0 - (-1.0 - h)
    rounding = 2 * 16 * EPS * 2.01 / h
    g = floats(g)
    assert abs(g[0] - (2.0 + sign * s0)) <= rounding
    assert abs(g[1] - (-2.0 + sign * s1)) <= rounding
    # ... and the error is within the O(h) bound h/2*max|f''| = h.
    bound = fd_bound(method, h, d2=2.0, d3=0.0, scale=2.01)
    assert abs(g[0] - 2.0) <= bound and abs(g[1] + 2.0) <= bound


# -- x**2*y + 3*x*y**3 ----------------------------------------------------------

def cubic(x, y):
    return x**2 * y + 3 * x * y**3


def cubic_array(p):
    return cubic(p[0], p[1])


def cubic_exact(x, y):
    return 2 * x * y + 3 * y**3, x**2 + 9 * x * y**2


def cubic_bounds(method, x, y, hx, hy):
    """Per-coordinate error bounds for the cubic.

    d2f/dx2 = 2y, d2f/dy2 = 18xy; d3f/dx3 = 0 (exact up to rounding for central),
    d3f/dy3 = 18x.  Maxima over the stencil: |x| -> |x|+hx, |y| -> |y|+hy.
    Terms: |x**2 y| + 3|x y**3|.
    """
    ax, ay = abs(x) + hx, abs(y) + hy
    scale = ax * ax * ay + 3 * ax * ay**3 + 1e-300
    return (fd_bound(method, hx, d2=2 * ay, d3=0.0, scale=scale),
            fd_bound(method, hy, d2=18 * ax * ay, d3=18 * ax, scale=scale))


def test_cubic_at_a_fixed_point(impl):
    x, y, h = 1.5, -0.7, 1e-5
    g = floats(impl.gradient(cubic, [x, y], h, unpack=True))
    ex, ey = cubic_exact(x, y)
    bx, by = cubic_bounds("central", x, y, h, h)
    # bx = 2*16*EPS*S/(2h) with S ~ 3.3: ~1.2e-9; by adds h**2/6*18*1.5 = 4.5e-10.
    assert bx < 2e-9 and by < 3e-9
    assert abs(g[0] - ex) <= bx
    assert abs(g[1] - ey) <= by


@settings(max_examples=60, deadline=None)
@given(x=coord, y=coord, method=st.sampled_from(METHODS),
       h=st.sampled_from([1e-3, 1e-4, 1e-5, 1e-6]), unpack=st.booleans())
def test_cubic_every_method(impl, x, y, method, h, unpack):
    f = cubic if unpack else cubic_array
    g = impl.gradient(f, [x, y], h, method=method, unpack=unpack)
    assert_cubic_gradient(impl, g, method, x, y, h)


def assert_cubic_gradient(impl, g, method, x, y, h):
    """g is the cubic's exact gradient at (x, y), within the finite-difference bound."""
    check_vector(impl, g, 2)
    g = floats(g)
    ex, ey = cubic_exact(x, y)
    bx, by = cubic_bounds(method, x, y, h, h)
    assert abs(g[0] - ex) <= bx
    assert abs(g[1] - ey) <= by


@pytest.mark.parametrize("h", [[1e-3, 1e-6], (1e-3, 1e-6), np.array([1e-3, 1e-6]),
                               np.array([1e-3, 1e-6], dtype=np.float32)])
@pytest.mark.parametrize("method", METHODS)
def test_per_coordinate_h(impl, h, method):
    x, y = 0.8, 1.3
    g = floats(impl.gradient(cubic, [x, y], h, method=method, unpack=True))
    hx, hy = float(h[0]), float(h[1])
    ex, ey = cubic_exact(x, y)
    bx, by = cubic_bounds(method, x, y, hx, hy)
    assert abs(g[0] - ex) <= bx
    assert abs(g[1] - ey) <= by


@pytest.mark.parametrize("method,sign", [("forward", 1.0), ("backward", -1.0)])
def test_per_coordinate_h_reaches_its_coordinate(impl, method, sign):
    # On x**2 + y**2 the one-sided quotient is 2*t + sign*s_i (see above), so each
    # coordinate shows its own step: h[0] = 1e-3 and h[1] = 1e-2 must not mix.
    h = [1e-3, 1e-2]
    g = floats(impl.gradient(sum_of_squares, [1.0, -1.0], h, method=method, unpack=True))
    rounding = 2 * 16 * EPS * 2.1 / 1e-3  # ~1.4e-11
    assert abs(g[0] - (2.0 + sign * 1e-3)) <= 1e-12 + rounding
    assert abs(g[1] - (-2.0 + sign * 1e-2)) <= 1e-12 + rounding


# -- n-dimensional Rosenbrock ---------------------------------------------------

def rosenbrock(x):
    p = [float(v) for v in x]
    return sum(100.0 * (p[i + 1] - p[i] ** 2) ** 2 + (1.0 - p[i]) ** 2 for i in range(len(p) - 1))


def rosenbrock_rows(X):
    X = np.asarray(X, dtype=float)
    return np.sum(100.0 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1.0 - X[:, :-1]) ** 2, axis=1)


def rosenbrock_exact(x):
    n = len(x)
    g = [0.0] * n
    for i in range(n - 1):
        g[i] += -400.0 * x[i] * (x[i + 1] - x[i] ** 2) - 2.0 * (1.0 - x[i])
        g[i + 1] += 200.0 * (x[i + 1] - x[i] ** 2)
    return g


def rosenbrock_bounds(method, x, h):
    """Per-coordinate bounds.

    d2f/dxj2 = 1200 xj**2 - 400 x(j+1) + 2 (if j < n-1) + 200 (if j > 0);
    d3f/dxj3 = 2400 xj (if j < n-1), else 0.
    Rounding: a term 100*(a - b)**2 is computed with an absolute error of a few
    EPS*100*(|a| + |b|)**2, so S sums those magnitudes; summing n terms adds n
    roundings: ops = 16 + 4n.
    """
    n = len(x)
    a = [abs(v) + h for v in x]
    scale = sum(100.0 * (a[i + 1] + a[i] ** 2) ** 2 + (1.0 + a[i]) ** 2 for i in range(n - 1))
    bounds = []
    for j in range(n):
        d2 = (1200.0 * a[j] ** 2 + 400.0 * a[j + 1] + 2.0 if j < n - 1 else 0.0) \
            + (200.0 if j > 0 else 0.0)
        d3 = 2400.0 * a[j] if j < n - 1 else 0.0
        bounds.append(fd_bound(method, h, d2, d3, scale, ops=16 + 4 * n))
    return bounds


def test_rosenbrock_2d_at_a_fixed_point(impl):
    x = [-1.2, 1.0]
    g = floats(impl.gradient(rosenbrock, x))
    exact = rosenbrock_exact(x)  # (-215.6, -88.0)
    bounds = rosenbrock_bounds("central", x, 1e-5)
    # bound[0] = 1e-10/6*2400*1.2 + 2*24*EPS*~630/(2e-5) ~ 3.4e-7
    assert max(bounds) < 1e-6
    assert len(g) == 2
    for gi, ei, bi in zip(g, exact, bounds):
        assert abs(gi - ei) <= bi


@settings(max_examples=60, deadline=None)
@given(x=st.lists(st.floats(-2.0, 2.0), min_size=2, max_size=6),
       method=st.sampled_from(METHODS), vectorized=st.booleans(),
       h=st.sampled_from([1e-4, 1e-5, 1e-6]))
def test_rosenbrock_nd(impl, x, method, vectorized, h):
    f = rosenbrock_rows if vectorized else rosenbrock
    g = impl.gradient(f, x, h, method=method, vectorized=vectorized)
    check_vector(impl, g, len(x))
    for gi, ei, bi in zip(floats(g), rosenbrock_exact(x), rosenbrock_bounds(method, x, h)):
        assert abs(gi - ei) <= bi


# -- args -----------------------------------------------------------------------

def test_args_are_passed_after_x(impl):
    def f(p, a, b):
        return a * p[0] ** 2 * p[1] + b * p[1]

    x0, x1, a, b = 1.5, -2.0, 3.0, 0.25
    g = floats(impl.gradient(f, [x0, x1], args=(a, b)))
    exact = (2 * a * x0 * x1, a * x0**2 + b)
    # quadratic in x0, linear in x1: f''' = 0, rounding only, S ~ 14:
    # 2*16*EPS*14/(2e-5) ~ 5e-9
    bound = fd_bound("central", 1e-5, d2=0.0, d3=0.0, scale=14.0)
    assert abs(g[0] - exact[0]) <= bound and abs(g[1] - exact[1]) <= bound


def test_args_with_unpack_and_arbitrary_objects(impl):
    seen = []

    def f(x, y, tag, k):
        seen.append((type(x), type(y), tag, k))
        return k * (x * x + y * y)

    g = floats(impl.gradient(f, [1.0, -1.0], args=("label", 2.0), unpack=True))
    assert seen and all(s == (float, float, "label", 2.0) for s in seen)
    bound = fd_bound("central", 1e-5, d2=0.0, d3=0.0, scale=4.1)
    assert abs(g[0] - 4.0) <= bound and abs(g[1] + 4.0) <= bound


# -- vectorized -----------------------------------------------------------------

def cubic_rows(X):
    X = np.asarray(X, dtype=float)
    return X[:, 0] ** 2 * X[:, 1] + 3 * X[:, 0] * X[:, 1] ** 3


def cubic_columns(x, y):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    return x**2 * y + 3 * x * y**3


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("unpack", [False, True])
def test_vectorized_cubic(impl, method, unpack):
    x, y, h = -1.1, 0.6, 1e-5
    f = cubic_columns if unpack else cubic_rows
    g = impl.gradient(f, [x, y], h, method=method, vectorized=True, unpack=unpack)
    assert_cubic_gradient(impl, g, method, x, y, h)


@pytest.mark.parametrize("method", METHODS)
def test_vectorized_f_gets_the_whole_stencil_as_rows(impl, method):
    calls = []

    def f(X):
        calls.append(X)
        return np.asarray(X, dtype=float).sum(axis=1)

    n = 3
    impl.gradient(f, [1.0, 2.0, 3.0], method=method, vectorized=True)
    k = 2 * n if method == "central" else n + 1
    assert len(calls) == 1  # the whole stencil in one call (it is far below 512 KiB)
    X = calls[0]
    if is_fast(impl):
        assert isinstance(X, np.ndarray) and X.dtype == np.float64 and X.shape == (k, n)
    else:
        assert isinstance(X, list) and len(X) == k and all(len(r) == n for r in X)


def test_vectorized_unpack_gets_columns(impl):
    calls = []

    def f(*columns):
        calls.append(columns)
        return np.asarray(columns[0], dtype=float) * 0.0

    impl.gradient(f, [1.0, 2.0, 3.0], vectorized=True, unpack=True)
    assert len(calls) == 1
    columns = calls[0]
    assert len(columns) == 3
    for j, col in enumerate(columns):
        assert len(col) == 6
        if is_fast(impl):
            assert isinstance(col, np.ndarray) and col.dtype == np.float64 and col.ndim == 1
        values = [float(v) for v in col]
        # column j holds x[j] except at its own two stencil points
        expected = [1.0 + j] * 6
        expected[2 * j] = (1.0 + j) + 1e-5
        expected[2 * j + 1] = (1.0 + j) - 1e-5
        assert values == expected


@pytest.mark.filterwarnings("ignore::fastgrad.PrecisionWarning")  # f returns low-precision values on purpose
@pytest.mark.parametrize("scalar", [float, np.float64, np.float32, lambda v: np.array(v), Fraction],
                         ids=["float", "float64", "float32", "0-d-array", "Fraction"])
@pytest.mark.parametrize("container", [list, tuple, np.array])
def test_vectorized_f_may_return_a_sequence_of_real_scalars(impl, scalar, container):
    # Real scalars are what the Python tier accepts from f (0-d arrays included);
    # k of them in a sequence of length k is the right shape for the vectorized tier.
    def f(X):
        return container([scalar(2.0 * float(r[0])) for r in X])

    g = floats(impl.gradient(f, [1.0], vectorized=True))
    # The same values one point at a time give the same gradient, bit for bit
    # (float32 rounding included: both tiers read the same float32 values).
    expected = floats(impl.gradient(lambda p: scalar(2.0 * float(p[0])), [1.0]))
    assert g == expected
    if scalar is not np.float32:
        # f = 2x is linear: the rounding bound alone, 2*16*EPS*2.1/(2e-5) ~ 7e-10
        assert abs(g[0] - 2.0) <= fd_bound("central", 1e-5, 0.0, 0.0, scale=2.1)


@pytest.mark.parametrize("method", METHODS)
def test_vectorized_stencil_is_chunked(impl, method, monkeypatch):
    # Bounded memory: f gets at most VECTORIZED_CHUNK_BYTES of points per call.
    # Shrink the budget to 3 rows of n = 4 so the chunking shows at small n.
    n = 4
    x = [0.5, -1.0, 2.0, 1.5]
    expected = floats(impl.gradient(rosenbrock_rows, x, method=method, vectorized=True))
    monkeypatch.setattr(fastgrad._contract, "VECTORIZED_CHUNK_BYTES", 3 * n * 8)
    rows = []

    def f(X):
        rows.append(len(X))
        return rosenbrock_rows(X)

    g = impl.gradient(f, x, method=method, vectorized=True)
    k = 2 * n if method == "central" else n + 1
    assert rows == [3] * (k // 3) + ([k % 3] if k % 3 else [])
    assert floats(g) == expected


def recorded_shapes(impl, n, method="central"):
    """The shapes of the blocks a vectorized f gets for one gradient at n (f: x[0] + x[-1])."""
    sizes = []

    def f(X):
        X = np.asarray(X)  # the reference's list of rows; complex numbers for "complex"
        sizes.append(X.shape)
        return X[:, 0] + X[:, -1]

    g = floats(impl.gradient(f, np.zeros(n), method=method, vectorized=True))
    assert g[0] == 1.0 and g[-1] == 1.0 and g[1:-1] == [0.0] * (n - 2)
    return sizes


@pytest.mark.parametrize("n, shapes", [
    # 512 KiB: the central stencil of n = 181 (362 x 181 float64, 524 176 bytes) fits
    (181, [(362, 181)]),
    # n = 182: 364 x 182 float64 is 529 984 bytes; 524 288 // (8 * 182) = 360 rows a call
    (182, [(360, 182), (4, 182)]),
    # n = 1500: 524 288 // 12 000 = 43 rows a call, 3000 = 69 * 43 + 33
    (1500, [(43, 1500)] * 69 + [(33, 1500)]),
])
def test_vectorized_chunks_are_sized_for_the_cache(impl, n, shapes):
    # f gets about VECTORIZED_CACHE_BYTES = 512 KiB of points a call (its temporaries
    # stay in cache), the whole stencil in one call when it fits.
    assert fastgrad._contract.VECTORIZED_CACHE_BYTES == 512 * 2**10
    assert recorded_shapes(impl, n) == shapes


def test_vectorized_forward_and_complex_stencils_fit_one_call_up_to_the_chunk(impl):
    # forward: n + 1 points; n = 255 -> 256 x 255 float64 = 522 240 bytes, one call;
    # n = 256 -> 257 x 256 = 526 336 bytes: 256 rows a call
    assert recorded_shapes(impl, 255, "forward") == [(256, 255)]
    assert recorded_shapes(impl, 256, "forward") == [(256, 256), (1, 256)]
    # complex: n points of 16-byte numbers; n = 181 -> 524 176 bytes, one call;
    # n = 182 -> 529 984 bytes: 524 288 // (16 * 182) = 180 rows a call
    assert recorded_shapes(impl, 181, "complex") == [(181, 181)]
    assert recorded_shapes(impl, 182, "complex") == [(180, 182), (2, 182)]


def test_vectorized_chunks_stay_within_32_mib(impl, monkeypatch):
    # The ceiling holds whatever the cache chunk says: asked for 64 MiB chunks, n = 1500
    # (its central stencil is 3000 x 1500 float64 = 36 MB) gets 2**25 // 12 000 = 2796
    # rows a call, each <= 32 MiB, then the other 204.
    monkeypatch.setattr(fastgrad._contract, "VECTORIZED_CACHE_BYTES", 64 * 2**20)
    assert recorded_shapes(impl, 1500) == [(2796, 1500), (204, 1500)]
    assert 2796 * 1500 * 8 <= 32 * 2**20 < 2797 * 1500 * 8


# -- f returning nan or inf: propagated, not hidden -----------------------------

def test_nan_from_f_propagates_into_that_coordinate(impl):
    def f(p):
        p = [float(v) for v in p]
        return math.nan if p[1] > 2.0 else p[0] ** 2 + p[1] ** 2

    g = floats(impl.gradient(f, [1.0, 2.0]))
    assert math.isnan(g[1])
    assert abs(g[0] - 2.0) <= fd_bound("central", 1e-5, 0.0, 0.0, scale=5.1)


def test_inf_from_f_propagates(impl):
    def f(p):
        return math.inf if float(p[0]) > 1.0 else float(p[0])

    g = floats(impl.gradient(f, [1.0], method="forward"))
    assert g == [math.inf]
    # backward never leaves t <= 1: (1 - xm) / (1 - xm) == 1 exactly
    g = floats(impl.gradient(f, [1.0], method="backward"))
    assert g == [1.0]


# -- any callable; re-entrant use ------------------------------------------------------

class Scaled:
    """A callable object (not a function) with state."""

    def __init__(self, k):
        self.k = k

    def __call__(self, p):
        return self.k * (float(p[0]) ** 2 + float(p[1]) ** 2)

    def method(self, p):
        return self(p)


def weighted(p, w):
    return w * (float(p[0]) ** 2 + float(p[1]) ** 2)


@pytest.mark.parametrize("f", [Scaled(3.0), Scaled(3.0).method, functools.partial(weighted, w=3.0)],
                         ids=["callable-object", "bound-method", "partial"])
def test_any_python_callable(impl, f):
    g = floats(impl.gradient(f, [1.0, -1.0]))
    # 3(x**2 + y**2): quadratic, rounding only: 2*16*EPS*6.1/(2e-5) ~ 2.2e-9
    bound = fd_bound("central", 1e-5, 0.0, 0.0, scale=6.1)
    assert abs(g[0] - 6.0) <= bound and abs(g[1] + 6.0) <= bound


def test_builtin_callable_with_unpack(impl):
    g = floats(impl.gradient(math.hypot, [3.0, 4.0], unpack=True))
    # d/dx hypot = x/r: (0.6, 0.8).  Third derivatives of hypot near (3, 4) are
    # below 3/r**2 = 0.12, so truncation <= 1e-10/6*0.12; rounding 2*16*EPS*5/(2e-5)
    bound = fd_bound("central", 1e-5, d2=1.0, d3=0.12, scale=5.0)
    assert abs(g[0] - 0.6) <= bound and abs(g[1] - 0.8) <= bound


def test_nested_gradients_second_derivatives(impl):
    # f may itself call the library (re-entrant use): the outer gradient of
    # d f/dx for the cubic gives the Hessian row (2y, 2x + 9y**2).
    def dfdx(x, y):
        return float(impl.gradient(cubic, [x, y], 1e-5, unpack=True)[0])

    x, y = 0.7, -1.3
    row = floats(impl.gradient(dfdx, [x, y], 1e-3, unpack=True))
    # inner: d f/dx is exact up to rounding (d3/dx3 = 0), error ~ 16*EPS*S/h_in with
    # S ~ 7: ~2.5e-9; the outer quotient divides that by 2e-3: ~1.3e-6, plus the
    # outer truncation h_out**2/6 * d3(df/dx)/dy3 = 0 (df/dx is cubic in y: 18)
    # -> 1e-6/6*18 = 3e-6.  Bound 1e-5.
    assert abs(row[0] - 2 * y) <= 1e-5
    assert abs(row[1] - (2 * x + 9 * y * y)) <= 1e-5


def test_vectorized_results_in_any_byte_order(impl):
    f = lambda X: (np.asarray(X) ** 2).sum(axis=1).astype(">f8")  # big-endian float64
    g = floats(impl.gradient(f, [1.0, 2.0], vectorized=True))
    assert abs(g[0] - 2.0) < 1e-9 and abs(g[1] - 4.0) < 1e-9


def test_args_may_be_a_namedtuple(impl):
    import collections
    Scale = collections.namedtuple("Scale", "a")
    g = floats(impl.gradient(lambda x, a: float(x[0]) * a, [1.0], args=Scale(2.0)))
    assert abs(g[0] - 2.0) < 1e-9
