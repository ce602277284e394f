"""hessian, hessian_vector and Hessian: analytic Hessians, exact symmetry, every tier
bit for bit with the reference, the table's rows, errors with their messages."""
import math
import re
import warnings
from fractions import Fraction

import numpy as np
import pytest
from scipy.optimize import rosen, rosen_hess

import fastgrad
import fastgrad.reference as reference
from fastgrad._stencils import SECOND, hessian_blocks, second_auto_step
from fastgrad.objectives import CFunction, Himmelblau, Quadratic, Rosenbrock
from _fgtools import assert_bits_equal, bits, counting_rows

EPS = 2.0 ** -52


def textbook(x, y):
    return x**2 * y + 3 * x * y**3


def textbook_hessian(x, y):
    return np.array([[2 * y, 2 * x + 9 * y**2], [2 * x + 9 * y**2, 18 * x * y]])


def himmelblau(p):
    x, y = p
    return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2


def himmelblau_hessian(p):
    x, y = p
    return np.array([[12 * x * x + 4 * y - 42, 4 * x + 4 * y],
                     [4 * x + 4 * y, 4 * x + 12 * y * y - 26]])


def matrix(H):
    return np.array(H, dtype=np.float64)


def assert_matrix_bits(a, b, what=""):
    assert_bits_equal(matrix(a).ravel(), matrix(b).ravel(), what)


# -- the table ------------------------------------------------------------------------

def test_the_second_derivative_rows_are_fornbergs():
    row = SECOND[2]
    assert row.offsets == (1, -1)
    assert row.diagonal == ((1, 1), (0, -2), (-1, 1))
    assert row.mixed == ((1, 1, Fraction(1, 4)), (1, -1, Fraction(-1, 4)),
                         (-1, 1, Fraction(-1, 4)), (-1, -1, Fraction(1, 4)))
    assert [w for _, w in SECOND[4].diagonal] == [Fraction(-1, 12), Fraction(4, 3),
                                                  Fraction(-5, 2), Fraction(4, 3),
                                                  Fraction(-1, 12)]
    for order, row in SECOND.items():
        # exact on polynomials of degree order + 1: sum w o**k = 2 (k = 2), else 0
        for k in range(order + 2):
            assert sum(w * Fraction(o) ** k for o, w in row.diagonal) == (2 if k == 2 else 0)
            for k2 in range(order + 2 - k):
                moment = sum(w * Fraction(a) ** k * Fraction(b) ** k2 for a, b, w in row.mixed)
                assert moment == (1 if (k, k2) == (1, 1) else 0), (order, k, k2)


def test_evaluations_per_hessian():
    assert [SECOND[p].points(20) for p in (2, 4, 6, 8)] == [801, 3121, 6961, 12321]
    assert SECOND[2].points(1) == 3
    calls = []
    fastgrad.hessian(lambda x: calls.append(1) or float(x @ x), np.ones(7))
    assert len(calls) == 2 * 7 ** 2 + 1


def test_auto_constant():
    assert second_auto_step(SECOND[2], EPS) == EPS ** 0.25
    assert second_auto_step(SECOND[4], EPS) == EPS ** (1 / 6)


def test_blocks():
    row = SECOND[2]
    assert hessian_blocks(4, row, 0) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    # points per row: 2 (1 + 2 (n - 1 - i)) = 14, 10, 6, 2
    assert hessian_blocks(4, row, 24) == [(0, 2), (2, 4)]
    assert hessian_blocks(4, row, 5) == [(0, 1), (1, 2), (2, 3), (3, 4)]


# -- analytic Hessians ------------------------------------------------------------------

def test_textbook_example(impl):
    H = matrix(impl.hessian(textbook, [1.0, 2.0], unpack=True))
    assert H.shape == (2, 2)
    assert np.abs(H - textbook_hessian(1.0, 2.0)).max() < 1e-6
    assert H[0, 1] == H[1, 0]
    H = matrix(impl.hessian(textbook, [1.0, 2.0], "auto", unpack=True, order=4))
    assert H.round(6).tolist() == [[4.0, 38.0], [38.0, 36.0]]


@pytest.mark.parametrize("order,tolerance", [(2, 2e-5), (4, 1e-7), (6, 1e-8), (8, 1e-8)])
def test_rosenbrock_against_rosen_hess(impl, order, tolerance):
    x = np.linspace(-1.2, 1.5, 20)
    H = matrix(impl.hessian(rosen, x.tolist(), "auto", order=order))
    exact = rosen_hess(x)
    assert np.abs(H - exact).max() / np.abs(exact).max() < tolerance
    assert (H == H.T).all()


def test_himmelblau(impl):
    for p in ([3.0, 2.0], [-0.27, -0.92], [1.5, -2.5]):
        H = matrix(impl.hessian(himmelblau, p, order=4, h="auto"))
        assert np.abs(H - himmelblau_hessian(p)).max() < 1e-7
        assert H[0, 1] == H[1, 0]


def test_quadratic_is_exact_up_to_rounding(impl):
    A = np.array([[4.0, 1.0, -2.0], [1.0, 3.0, 0.5], [-2.0, 0.5, 5.0]])

    def q(x):
        x = np.asarray(x)
        return 0.5 * float(x @ A @ x) + float(x.sum())

    # h = 2**-6: the points are exact, the differences of a quadratic exact but for rounding
    H = matrix(impl.hessian(q, [0.5, -1.0, 2.0], 2.0 ** -6))
    assert np.abs(H - A).max() < 1e-10
    assert (H == H.T).all()


def test_one_dimension(impl):
    H = impl.hessian(lambda x: x[0] ** 3, [2.0])
    assert matrix(H).shape == (1, 1)
    assert abs(matrix(H)[0, 0] - 12.0) < 1e-6


def test_symmetry_bit_for_bit_for_an_asymmetric_sum(impl):
    # f's mixed stencil read in the other order would round differently
    def f(x):
        return math.exp(x[0]) * math.sin(3 * x[1]) + x[2] * x[0] ** 3 / (1 + x[1] ** 2)
    for order in (2, 4):
        H = matrix(impl.hessian(f, [0.3, -0.7, 1.1], order=order))
        assert (H == H.T).all()


# -- hessian_vector -------------------------------------------------------------------

def test_hessian_vector_textbook(impl):
    hv = impl.hessian_vector(textbook, [1.0, 2.0], [1.0, 0.5], unpack=True)
    assert np.abs(np.array(hv) - textbook_hessian(1.0, 2.0) @ [1.0, 0.5]).max() < 1e-4


@pytest.mark.parametrize("order", [2, 4])
def test_hessian_vector_rosenbrock(impl, order):
    x = np.linspace(-1.2, 1.5, 20)
    v = np.cos(np.arange(20.0))
    hv = np.array(impl.hessian_vector(rosen, x.tolist(), v.tolist(), "auto", order=order))
    exact = rosen_hess(x) @ v
    assert np.abs(hv - exact).max() / np.abs(exact).max() < (1e-6 if order == 2 else 1e-8)


def test_hessian_vector_of_zero_is_zero_without_evaluating(impl):
    def f(x):
        raise AssertionError("evaluated")
    assert list(impl.hessian_vector(f, [1.0, 2.0], [0.0, 0.0])) == [0.0, 0.0]


def test_hessian_vector_evaluations(impl):
    calls = []

    def f(x):
        calls.append(1)
        return float(sum(t * t for t in x))
    impl.hessian_vector(f, [1.0, 2.0, 3.0], [1.0, 0.0, 2.0])
    assert len(calls) == 4 * 3
    calls.clear()
    impl.hessian_vector(f, [1.0, 2.0, 3.0], [1.0, 0.0, 2.0], "auto", order=4)
    assert len(calls) == 16 * 3 + 1


# -- every tier, bit for bit with the reference ---------------------------------------------

def rosen_rows(X):
    X = np.asarray(X)
    return (100.0 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1 - X[:, :-1]) ** 2).sum(axis=1)


@pytest.mark.parametrize("order", [2, 4, 8])
@pytest.mark.parametrize("h", [1e-4, "auto", [1e-3, 2e-4, 3e-4, 1e-4, 5e-4]])
def test_python_tier_bit_identical(order, h):
    x = [0.3, -1.1, 2.5, 1e-3, -7.0]
    assert_matrix_bits(fastgrad.hessian(rosen, x, h, order=order),
                       reference.hessian(rosen, x, h, order=order))
    v = [1.0, -2.0, 0.0, 0.5, 3.0]
    assert_bits_equal(fastgrad.hessian_vector(rosen, x, v, h, order=order),
                      reference.hessian_vector(rosen, x, v, h, order=order))


def test_unpack_and_args_bit_identical():
    def f(x, y, z, scale):
        return scale * (x * y * z + math.cos(x * z))
    x = [0.5, 1.5, -0.25]
    for impl_args in ((3.0,),):
        assert_matrix_bits(fastgrad.hessian(f, x, unpack=True, args=impl_args),
                           reference.hessian(f, x, unpack=True, args=impl_args))
        assert_bits_equal(fastgrad.hessian_vector(f, x, [1, 2, 3], unpack=True, args=impl_args),
                          reference.hessian_vector(f, x, [1, 2, 3], unpack=True, args=impl_args))


@pytest.mark.parametrize("n", [1, 2, 9])
def test_vectorized_tier_bit_identical(n):
    x = np.linspace(-1.0, 1.3, n + 1)
    calls = {"fast": 0, "reference": 0}

    def counted(which):
        def f(X):
            calls[which] += 1
            return rosen_rows(X)
        return f
    H = fastgrad.hessian(counted("fast"), x, vectorized=True)
    assert_matrix_bits(H, reference.hessian(counted("reference"), x.tolist(), vectorized=True))
    assert_matrix_bits(H, fastgrad.hessian(rosen, x))
    assert calls["fast"] == calls["reference"] == 2  # f(x), then every block in one call
    v = np.sin(np.arange(n + 1.0)) + 0.5
    assert_bits_equal(fastgrad.hessian_vector(rosen_rows, x, v, vectorized=True),
                      reference.hessian_vector(rosen_rows, x.tolist(), v.tolist(),
                                               vectorized=True))


def test_vectorized_blocks_split_large_hessians(monkeypatch):
    import fastgrad._contract as contract
    monkeypatch.setattr(contract, "VECTORIZED_CHUNK_BYTES", 8 * 6 * 30)  # 30 rows of n = 6
    fast, fast_sizes = counting_rows(rosen_rows)
    ref, ref_sizes = counting_rows(rosen_rows)
    x = np.linspace(-1.0, 1.3, 6)
    H = fastgrad.hessian(fast, x, vectorized=True)
    assert_matrix_bits(H, reference.hessian(ref, x.tolist(), vectorized=True))
    # rows of 22, 18, 14, 10, 6, 2 points; f(x) alone first
    assert fast_sizes == ref_sizes == [1, 22, 18, 14 + 10 + 6, 2]


@pytest.mark.parametrize("order", [2, 4])
def test_compiled_tier_bit_identical(order):
    x = np.linspace(-1.2, 1.5, 12)
    objective = Rosenbrock()
    H = fastgrad.hessian(objective, x, order=order)
    assert_matrix_bits(H, reference.hessian(objective, x.tolist(), order=order))
    assert np.abs(H - rosen_hess(x)).max() < 1e-3
    v = np.arange(12.0) - 5
    assert_bits_equal(fastgrad.hessian_vector(objective, x, v, order=order),
                      reference.hessian_vector(objective, x.tolist(), v.tolist(), order=order))
    for f, p in ((Himmelblau(), [3.0, 2.0]),
                 (Quadratic([[4.0, 1.0], [1.0, 3.0]], [1.0, -1.0]), [0.5, 2.0])):
        assert_matrix_bits(fastgrad.hessian(f, p, "auto", order=order),
                           reference.hessian(f, p, "auto", order=order))


def test_c_callback_bit_identical(c_library):
    from scipy import LowLevelCallable
    callback = LowLevelCallable(c_library.rosen)
    x = np.linspace(-1.2, 1.5, 8)
    H = fastgrad.hessian(callback, x)
    assert_matrix_bits(H, reference.hessian(CFunction(callback), x.tolist()))
    assert_matrix_bits(H, fastgrad.hessian(Rosenbrock(), x))
    v = np.ones(8)
    assert_bits_equal(fastgrad.hessian_vector(callback, x, v),
                      reference.hessian_vector(CFunction(callback), x.tolist(), v.tolist()))


def test_prepared_hessian_checks_its_options_once(impl):
    with pytest.raises(ValueError, match="method must be 'central' for second derivatives"):
        impl.Hessian(rosen, method="forward")
    with pytest.raises(ValueError, match="h must be positive and finite, got 0.0"):
        impl.Hessian(rosen, h=0.0)
    H = impl.Hessian(rosen, h=[1e-3, 1e-3])
    with pytest.raises(ValueError, match="h must be a scalar or a sequence of n=3 steps, got 2"):
        H([1.0, 2.0, 3.0])
    assert_matrix_bits(H([1.0, 2.0]), reference.hessian(rosen, [1.0, 2.0], [1e-3, 1e-3]))


def test_prepared_hessian_is_hessian():
    for options in ({}, {"order": 4}, {"h": "auto"}, {"h": [1e-3, 1e-4, 2e-4]}):
        H = fastgrad.Hessian(rosen, **options)
        for x in ([0.3, -1.1, 2.5], [1.0, 1.0, 1.0]):
            assert_matrix_bits(H(x), fastgrad.hessian(rosen, x, **options))
    H = fastgrad.Hessian(Rosenbrock())
    assert_matrix_bits(H(np.ones(4) * 0.5), fastgrad.hessian(Rosenbrock(), np.ones(4) * 0.5))


def test_the_caller_data_is_not_modified(impl):
    x, v = np.array([0.5, 1.5]), np.array([1.0, 2.0])
    impl.hessian(textbook, x, unpack=True)
    impl.hessian_vector(textbook, x, v, unpack=True)
    assert x.tolist() == [0.5, 1.5] and v.tolist() == [1.0, 2.0]


def test_float32_values_warn_with_a_fixed_h(impl):
    def f(x):
        return np.float32(x[0] ** 2 * x[1])
    with pytest.warns(fastgrad.PrecisionWarning, match='h="auto"'):
        impl.hessian(f, [1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        H = matrix(impl.hessian(f, [1.0, 2.0], "auto"))
    assert np.abs(H - [[4.0, 2.0], [2.0, 0.0]]).max() < 0.05  # float32's constant


# -- errors, with the reference's messages ---------------------------------------------------

def raised(impl, function, *args, **kwargs):
    with pytest.raises(Exception) as info:
        getattr(impl, function)(*args, **kwargs)
    return type(info.value), str(info.value)


@pytest.mark.parametrize("function,args,kwargs,kind,message", [
    ("hessian", (rosen, [1.0, 2.0]), {"method": "forward"}, ValueError,
     "method must be 'central' for second derivatives (hessian, hessian_vector), "
     "got 'forward'"),
    ("hessian", (rosen, [1.0, 2.0]), {"method": "sideways"}, ValueError,
     "method must be one of 'central', 'forward', 'backward', 'complex', got 'sideways'"),
    ("hessian_vector", (rosen, [1.0, 2.0], [1.0, 1.0], "adaptive"), {}, ValueError,
     'h="adaptive" is not offered for hessian_vector(): it takes a fixed h or h="auto"'),
    ("hessian", (rosen, [1.7e308, 2.0], "adaptive"), {}, ValueError,
     "h[0] = 1.7000000000000001e+307 gives no usable step at x[0] = 1.7e+308: the "
     "realised step (x[i] + h) - (x[i] - h) rounds to 0 or is not finite"),
    ("hessian_vector", (rosen, [1.0, 2.0], [1.0, 1.0]), {"method": "complex"}, ValueError,
     "method must be 'central' for second derivatives (hessian, hessian_vector), "
     "got 'complex'"),
    ("hessian", (rosen, [1.0, 2.0]), {"order": 3}, ValueError,
     "order must be one of 2, 4, 6, 8 for method='central' (None: 2), got 3"),
    ("hessian", (rosen, [1.0, 2.0], -1.0), {}, ValueError,
     "h must be positive and finite, got -1.0"),
    ("hessian", (rosen, [1e20, 2.0]), {}, ValueError,
     "h[0] = 0.0001 gives no usable step at x[0] = 1e+20: the realised step "
     "(x[i] + h) - (x[i] - h) rounds to 0 or is not finite"),
    ("hessian", (rosen, []), {}, ValueError, "x must not be empty"),
    ("hessian_vector", (rosen, [1.0, 2.0], [1.0]), {}, ValueError,
     "v must have x's length n=2, got 1"),
    ("hessian_vector", (rosen, [1.0, 2.0], [1.0, math.nan]), {}, ValueError,
     "v must be finite, but v[1] = nan"),
    ("hessian_vector", (rosen, [1.0, 2.0], [1.0, "a"]), {}, TypeError,
     "v must hold real numbers, but v[1] is str 'a'"),
    ("hessian_vector", (rosen, [1.0, 2.0], 3.0), {}, TypeError,
     "v must be a 1-D sequence of n=2 real numbers, got float 3.0"),
    ("hessian_vector", (rosen, [1.0, 2.0], np.ones((2, 1))), {}, ValueError,
     "v must be 1-D, got shape (2, 1)"),
    ("hessian_vector", (rosen, [1.0, 2.0], [[1.0], [2.0]]), {}, ValueError,
     "v must be 1-D, but v[0] is list [1.0]"),
    ("hessian_vector", (rosen, [1.7e308, 2.0], [1.0, 0.0], 1e308), {}, ValueError,
     "the step 1e+308 along v gives no usable point at x[0] = 1.7e+308 (v[0] = 1.0): "
     "x[0] + s * v[0] is not finite"),
    ("hessian_vector", (rosen, [1e300, 2.0], [1e300, 0.0], 1e-5), {}, ValueError,
     "h[0] = 1e-05 gives no usable step at x[0] = 1e+300: the realised step "
     "(x[i] + h) - (x[i] - h) rounds to 0 or is not finite"),
    ("hessian", (rosen, [1.0, 2.0]), {"unpack": 1}, TypeError,
     "unpack must be True or False, got int 1"),
    ("hessian", (rosen, [1.0, 2.0]), {"full_output": 1}, TypeError,
     "full_output must be True or False, got int 1"),
    ("hessian", (rosen, [1.0, 2.0]), {"bounds": (0, 1.5)}, ValueError,
     "x[1] = 2.0 is outside the bounds [0.0, 1.5]"),
    ("hessian", (rosen, [1.0, 2.0]), {"bounds": ([0, 3], [2, 1])}, ValueError,
     "bounds: lb[1] = 3.0 > ub[1] = 1.0"),
    ("hessian", (rosen, [1.0, 2.0]), {"bounds": ([0, 2], [2, 2])}, ValueError,
     "bounds leave no room for a stencil at x[1] = 2.0: lb[1] = 2.0, ub[1] = 2.0"),
    ("hessian", (rosen, [1.0, 2.0], "adaptive"), {"bounds": ([0, 2], [2, 2])}, ValueError,
     "bounds leave no room for a stencil at x[1] = 2.0: lb[1] = 2.0, ub[1] = 2.0"),
    ("hessian", (rosen, [1.0, 2.0]), {"bounds": ([0, 2], [2, 2 + 4e-16])}, ValueError,
     "bounds [2.0, 2.0000000000000004] shrink the step at x[1] = 2.0 from 0.0001 to "
     "1.4802973661668753e-16, which gives no usable step: the realised step rounds to 0 "
     "or is not finite"),
    ("hessian", (rosen, [1.0, 2.0]), {"bounds": [0, 1, 2]}, TypeError,
     "bounds must be a pair (lb, ub) of numbers or sequences of n, got list [0, 1, 2]"),
])
def test_errors_name_the_parameter(impl, function, args, kwargs, kind, message):
    def f(*a):
        raise AssertionError("f was called")
    got_kind, got_message = raised(impl, function, f, *args[1:], **kwargs)
    assert (got_kind, got_message) == (kind, message)


def test_exceptions_of_f_propagate(impl):
    def f(x):
        if x[1] != 2.0:
            raise KeyError("inside f")
        return 0.0
    with pytest.raises(KeyError, match="inside f"):
        impl.hessian(f, [1.0, 2.0])
    with pytest.raises(KeyError, match="inside f"):
        impl.hessian_vector(f, [1.0, 2.0], [0.0, 1.0])


# -- reliability: f writing its argument, Ctrl-C -------------------------------------------

from test_reliability import WORK_LIMIT, WRITERS, interrupted_at, quartic, ticks  # noqa: E402,F401


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_f_writing_its_argument_changes_no_point(writer):
    seen = []

    def f(p):
        seen.append(np.array(p, dtype=float).ravel().tolist())
        value = quartic(p)
        WRITERS[writer](p)
        return value
    x = np.array([0.7, -1.3])
    H = fastgrad.hessian(f, x)
    assert x.tolist() == [0.7, -1.3]
    expected = []
    reference.hessian(lambda p: expected.append(list(p)) or quartic(p), x.tolist())
    assert seen == expected
    assert_matrix_bits(H, reference.hessian(quartic, x.tolist()))
    seen.clear()
    assert_bits_equal(fastgrad.hessian_vector(f, x, [1.0, 2.0]),
                      reference.hessian_vector(quartic, x.tolist(), [1.0, 2.0]))


def test_a_compiled_hessian_stops_within_0_1_s_of_work(ticks):
    from scipy import LowLevelCallable
    f = LowLevelCallable(ticks.tick)
    x = np.zeros(200)  # 2 * 200**2 + 1 calls of 10 us: 0.8 s of work
    calls = interrupted_at(ticks, 1000, 1e-5, lambda: fastgrad.hessian(f, x))
    assert 1000 <= calls <= 1000 + WORK_LIMIT, calls


def test_a_python_tier_hessian_of_an_f_in_c_stops_within_0_1_s(ticks):
    x = np.zeros(100)  # 20001 calls of 1 ms
    for call in (lambda: fastgrad.hessian(ticks.tick_py, x),
                 lambda: fastgrad.hessian_vector(ticks.tick_py, np.zeros(10**4), np.ones(10**4))):
        assert 30 <= interrupted_at(ticks, 30, 1e-3, call) <= 130


# -- hypothesis: parity at random points, steps and orders ----------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def wavy(p):
    total = 0.0
    for i, t in enumerate(p):
        total += math.sin((i + 1) * t) * math.exp(0.1 * t) + t * p[0] ** 2 / (1 + i)
    return total


@settings(max_examples=60, deadline=None)
@given(x=st.lists(st.floats(-1e3, 1e3, allow_subnormal=False), min_size=1, max_size=4),
       h=st.one_of(st.floats(1e-8, 1e-1), st.just("auto")),
       order=st.sampled_from([2, 4, 6, 8]),
       v=st.lists(st.floats(-10, 10, allow_subnormal=False), min_size=4, max_size=4))
def test_parity_at_random_points(x, h, order, v):
    try:
        expected = reference.hessian(wavy, x, h, order=order)
    except ValueError as error:
        with pytest.raises(ValueError, match=f"^{re.escape(str(error))}$"):
            fastgrad.hessian(wavy, x, h, order=order)
        return
    H = fastgrad.hessian(wavy, x, h, order=order)
    assert_matrix_bits(H, expected)
    assert (H == H.T).all() or np.isnan(H).any()
    v = v[:len(x)]
    try:
        expected = reference.hessian_vector(wavy, x, v, h, order=order)
    except ValueError as error:
        with pytest.raises(ValueError, match=f"^{re.escape(str(error))}$"):
            fastgrad.hessian_vector(wavy, x, v, h, order=order)
        return
    assert_bits_equal(fastgrad.hessian_vector(wavy, x, v, h, order=order), expected)


def test_vectorized_unpack_and_args_bit_identical():
    def f(x, y, z, scale):  # columns: arrays in fastgrad, lists in the reference
        x, y, z = np.asarray(x), np.asarray(y), np.asarray(z)
        return scale * (x * y * z + np.cos(x * z))
    f_ref = f
    x = [0.5, 1.5, -0.25]
    H = fastgrad.hessian(f, x, unpack=True, vectorized=True, args=(3.0,))
    assert_matrix_bits(H, reference.hessian(f_ref, x, unpack=True, vectorized=True,
                                            args=(3.0,)))
    assert_bits_equal(
        fastgrad.hessian_vector(f, x, [1.0, 0.0, -1.0], unpack=True, vectorized=True, args=(3.0,)),
        reference.hessian_vector(f_ref, x, [1.0, 0.0, -1.0], unpack=True, vectorized=True,
                                 args=(3.0,)))



# -- full_output: the error estimate -----------------------------------------------------------

def result_fields(result):
    return (matrix(result.hess).ravel().tolist(), matrix(result.error).ravel().tolist(),
            result.nfev, result.success, result.message, [float(v) for v in result.step])


@pytest.mark.parametrize("h,order", [(1e-4, 2), ("auto", 2), ("auto", 4), (1e-2, 6)])
def test_full_output_bit_identical(h, order):
    x = np.linspace(-1.2, 1.5, 6)
    for f in (rosen, Rosenbrock()):
        fast = fastgrad.hessian(f, x, h, order=order, full_output=True)
        slow = reference.hessian(f, x.tolist(), h, order=order, full_output=True)
        assert isinstance(fast, fastgrad.HessianResult) and isinstance(slow, reference.HessianResult)
        assert [bits(v) for v in result_fields(fast)[:2]] == \
            [bits(v) for v in result_fields(slow)[:2]]
        assert result_fields(fast)[2:] == result_fields(slow)[2:]
        assert fast.nfev == 2 * SECOND[order].points(6)
        assert_matrix_bits(fast.hess, fastgrad.hessian(f, x, h, order=order))


def test_full_output_estimate_covers_the_true_error(impl):
    start = np.linspace(-1.2, 1.5, 6)
    for f, x, exact in ((rosen, start, rosen_hess(start)),
                        (himmelblau, np.array([3.0, 2.0]), himmelblau_hessian([3.0, 2.0])),
                        (lambda p: textbook(*p), np.array([1.0, 2.0]),
                         textbook_hessian(1.0, 2.0))):
        for h, order in ((1e-4, 2), ("auto", 2), ("auto", 4), (1e-2, 2)):
            r = impl.hessian(f, x.tolist(), h, order=order, full_output=True)
            true = np.abs(matrix(r.hess) - exact)
            assert (true <= matrix(r.error)).all(), (h, order)
            assert r.success and r.message == "ok: every entry's error estimate is below its scale"
            assert (matrix(r.error) == matrix(r.error).T).all()


def test_full_output_flags_a_step_that_is_too_large(impl):
    r = impl.hessian(lambda p: math.sin(10 * p[0]) * p[1] ** 2, [0.3, 1.0], 0.3,
                     full_output=True)
    assert not r.success
    assert r.message.startswith("the error estimate exceeds the Hessian at 2 of 4 entries "
                                "(first: hess[0, 1] = ")
    r = impl.hessian(lambda p: math.sin(p[0]), [1.0], 6e307, full_output=True)
    assert (r.success, r.message, r.nfev) == (
        False, "no error estimate: the doubled step has no usable stencil at x[0]", 3)
    assert matrix(r.error).tolist() == [[math.inf]]
    r = impl.hessian(lambda p: math.log(p[0]) if p[0] > 0 else math.nan, [1e-5], 1e-4,
                     full_output=True)
    assert (r.success, r.message) == (
        False, "f is not finite at x or near it: the Hessian is not reliable")


@pytest.mark.filterwarnings("error")  # numpy's overflow warning was the bug
@pytest.mark.parametrize("impl", [fastgrad, reference], ids=["fast", "reference"])
def test_a_direction_too_small_for_its_step_is_a_value_error_without_overflow_warnings(impl):
    # s = steps / |v| overflows to inf (found by test_parity_at_random_points)
    message = ("the step inf along v gives no usable point at x[0] = 1000.0 "
               "(v[0] = 2.3e-308): x[0] + s * v[0] is not finite")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        impl.hessian_vector(lambda p: p[0] ** 2 * p[1], [1e3, 1.0], [2.3e-308, 0.0], "auto",
                            order=8)
