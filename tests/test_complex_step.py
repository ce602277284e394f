"""method="complex": the complex step g_i = Im f(x + i h e_i) / h (fastgrad._complex)."""
import math

import numpy as np
import pytest

import fastgrad
import fastgrad.reference as reference
from fastgrad._complex import STEP
from fastgrad._contract import EPS64
from fastgrad.objectives import Rosenbrock

from _fgtools import assert_bits_equal, bits, check_matrix, check_vector, is_fast


def rosen(x):
    x = np.asarray(x)  # the reference passes a list: the same complex128 array
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosen_exact(x):
    x = [float(v) for v in x]
    g = [0.0] * len(x)
    for i in range(len(x) - 1):
        a = x[i + 1] - x[i] ** 2
        g[i] += -400.0 * x[i] * a - 2.0 * (1.0 - x[i])
        g[i + 1] += 200.0 * a
    return g


def battery(x):
    x = np.asarray(x)
    return (np.exp(x[0]) * np.sin(x[1]) * np.cos(x[2]) + 1.0 / (1.0 + 25.0 * x[1] ** 2)
            + np.log1p(x[2] ** 2) * x[0])


def battery_exact(x):
    a, b, c = (float(v) for v in x)
    return [math.exp(a) * math.sin(b) * math.cos(c) + math.log1p(c * c),
            math.exp(a) * math.cos(b) * math.cos(c) - 50.0 * b / (1.0 + 25.0 * b * b) ** 2,
            -math.exp(a) * math.sin(b) * math.sin(c) + a * 2.0 * c / (1.0 + c * c)]


def worst(g, exact):
    return max(abs(a - b) / abs(b) for a, b in zip(g, exact))


def test_rosenbrock_n10_to_rounding(impl):
    # The anchor: complex step 1.3e-15 (central h = 1e-5: ~1e-10).
    rng = np.random.default_rng(10)
    errors = []
    for _ in range(20):
        x = rng.uniform(-2.0, 2.0, 10).tolist()
        g = impl.gradient(rosen, x, "auto", method="complex")
        check_vector(impl, g, 10)
        errors.append(worst(g, rosen_exact(x)))
    assert max(errors) <= 2e-15, max(errors)
    central = impl.gradient(rosen, x, 1e-5)
    assert worst(central, rosen_exact(x)) > 1e-12  # what the complex step saves


def test_a_battery_of_smooth_functions_to_rounding(impl):
    rng = np.random.default_rng(3)
    for _ in range(50):
        x = rng.uniform(-1.5, 1.5, 3).tolist()
        g = impl.gradient(battery, x, "auto", method="complex")
        assert worst(g, battery_exact(x)) <= 1e-14, x


@pytest.mark.parametrize("magnitude", [1e-8, 1e-3, 1.0, 1e8, 1e12, 1e100])
def test_auto_is_accurate_at_every_scale(impl, magnitude):
    # sum(x_i**3): 3 x_i**2 -- no step rounds away, however large x is.
    x = [magnitude, -2.0 * magnitude]
    g = impl.gradient(lambda p: p[0] ** 3 + p[1] ** 3, x, "auto", method="complex")
    exact = [3.0 * v * v for v in x]
    assert worst(g, exact) <= 4 * EPS64


def test_the_points_and_the_division_are_exact(impl):
    # f sees x with x[i] = x_i + i h_i (h="auto": eps * max(1, |x_i|)); g_i = Im f / h_i.
    seen = []

    def f(a, b):
        seen.append((a, b))
        return a * a * b

    x = [3.0, -0.25]
    g = impl.gradient(f, x, "auto", method="complex", unpack=True)
    h = [STEP * 3.0, STEP * 1.0]
    assert STEP == EPS64
    assert seen == [(complex(3.0, h[0]), -0.25), (3.0, complex(-0.25, h[1]))]
    assert bits(g) == bits([(complex(3.0, h[0]) * complex(3.0, h[0]) * -0.25).imag / h[0],
                            (3.0 * 3.0 * complex(-0.25, h[1])).imag / h[1]])
    seen.clear()
    g = impl.gradient(f, x, [0.5, 2.0], method="complex", unpack=True)
    assert seen == [(complex(3.0, 0.5), -0.25), (3.0, complex(-0.25, 2.0))]
    # x**2 y is a cubic: the complex step with h = 0.5 errs by -h**2 y... exactly
    assert g[0] == ((3.0 + 0.5j) * (3.0 + 0.5j) * -0.25).imag / 0.5 == -1.5
    assert g[1] == 9.0


TIERS = {
    "python": ({}, rosen, rosen),
    "unpack": ({"unpack": True}, lambda *p: rosen(list(p)), lambda *p: rosen(list(p))),
    "vectorized": ({"vectorized": True},
                   lambda X: np.sum(100.0 * (X[:, 1:] - X[:, :-1] ** 2) ** 2
                                    + (1.0 - X[:, :-1]) ** 2, axis=1),
                   lambda X: [rosen(r) for r in X]),
}


@pytest.mark.parametrize("h", ["auto", 1e-7, [1e-3, 1e-20, 2.0, 1e-200, 1e-10]])
@pytest.mark.parametrize("tier", sorted(TIERS))
def test_bit_identical_to_the_reference_on_every_tier(tier, h):
    extra, fast_f, ref_f = TIERS[tier]
    x = [0.3, -1.2, 2.5, 1e3, -4e-7]
    g = fastgrad.gradient(fast_f, x, h, method="complex", **extra)
    assert_bits_equal(g, reference.gradient(ref_f, x, h, method="complex", **extra), tier)
    full = fastgrad.gradient(fast_f, x, h, method="complex", full_output=True, **extra)
    expected = reference.gradient(ref_f, x, h, method="complex", full_output=True, **extra)
    assert_bits_equal(full.grad, g)
    assert_bits_equal(full.error, expected.error)
    assert_bits_equal(full.step, expected.step)
    assert (full.nfev, full.success, full.message) == (expected.nfev, expected.success,
                                                       expected.message) == (10, True, full.message)


def test_full_output_is_honest_and_counts_2n(impl):
    rng = np.random.default_rng(5)
    for _ in range(20):
        x = rng.uniform(-2.0, 2.0, 10).tolist()
        r = impl.gradient(rosen, x, "auto", method="complex", full_output=True)
        assert r.nfev == 20 and r.success
        exact = rosen_exact(x)
        assert all(abs(g - e) <= err for g, e, err in zip(r.grad, exact, r.error))
        assert all(err <= 1e-13 * max(1.0, abs(g)) for g, err in zip(r.grad, r.error))
        assert list(r.step) == [STEP * max(1.0, abs(v)) for v in x]
    # A large h: the truncation h**2 f''' / 6 shows in g(h) - g(2h), and is inside.
    r = impl.gradient(lambda p: np.exp(np.asarray(p)).sum(), [0.5], 0.01, method="complex",
                      full_output=True)
    assert abs(r.grad[0] - math.exp(0.5)) <= r.error[0] <= 20 * abs(r.grad[0] - math.exp(0.5))


def test_full_output_flags_a_value_that_is_not_finite(impl):
    r = impl.gradient(lambda p: np.log(np.asarray(p)).sum() * np.inf, [2.0], method="complex",
                      full_output=True)
    assert not r.success
    assert r.message == "f is not finite at x or near it: the gradient is not reliable"


def test_batch_and_descent_step_are_row_by_row(impl):
    X = [[0.5, 1.5, -0.3], [2.0, -1.0, 0.0]]
    G = impl.gradient_batch(rosen, X, "auto", method="complex")
    check_matrix(impl, G, 2, 3)
    for r, row in enumerate(X):
        assert bits(G[r]) == bits(impl.gradient(rosen, row, "auto", method="complex"))
    x = impl.gradient_descent_step(rosen, X[0], 1e-3, "auto", method="complex")
    g = impl.gradient(rosen, X[0], "auto", method="complex")
    assert bits(x) == bits([v - 1e-3 * gv for v, gv in zip(X[0], g)])


def test_batch_and_step_bit_identical_to_the_reference():
    X = [[0.5, 1.5, -0.3], [2.0, -1.0, 0.0], [1e5, -3.0, 7.0]]
    for extra, fast_f, ref_f in TIERS.values():
        G = fastgrad.gradient_batch(fast_f, X, 1e-9, method="complex", **extra)
        expected = reference.gradient_batch(ref_f, X, 1e-9, method="complex", **extra)
        assert_bits_equal(G.ravel(), [v for row in expected for v in row])
        assert_bits_equal(
            fastgrad.gradient_descent_step(fast_f, X[2], 0.1, "auto", method="complex", **extra),
            reference.gradient_descent_step(ref_f, X[2], 0.1, "auto", method="complex",
                                            **extra))


def test_bounds_hold_x_and_change_nothing(impl):
    # The complex step moves no coordinate in the reals: any box that holds x is kept.
    x = [0.0, 1.0]
    g = impl.gradient(rosen, x, "auto", method="complex", bounds=([0.0, 0.0], [0.0, 1.0]))
    assert bits(g) == bits(impl.gradient(rosen, x, "auto", method="complex"))
    with pytest.raises(ValueError) as error:
        impl.gradient(rosen, x, method="complex", bounds=(0.5, 2.0))
    with pytest.raises(ValueError) as expected:
        impl.gradient(rosen, x, bounds=(0.5, 2.0))
    assert str(error.value) == str(expected.value)


def never(*p):
    raise AssertionError("f must not be called")


RAISED = ("method='complex' evaluates f at complex points, and f cannot take complex "
          "input: it raised TypeError: must be real number, not complex; use a real method "
          "(method='central') for such an f")


def real_message(got):
    return (f"method='complex' needs f to return a complex value at complex points, got "
            f"{got}: f drops the imaginary part of its input (float(), np.real, a real-only "
            "function), which would silently give a zero gradient; use a real method "
            "(method='central') for such an f")


@pytest.mark.parametrize("f,extra,message", [
    (math.sin, {"unpack": True}, RAISED),
    (lambda a, b: math.exp(a) * b, {"unpack": True}, RAISED),
    (lambda p: float(abs(p[0])), {}, real_message("float 1.0")),
    (lambda p: np.real(np.sum(np.asarray(p) ** 2)), {}, real_message("float64 np.float64(5.0)")),
    (lambda X: np.real(np.asarray(X)[:, 0]), {"vectorized": True},
     real_message("float64 np.float64(1.0)")),
    (lambda p: "one", {}, "f must return a complex scalar with method='complex', got str 'one'"),
])
def test_an_f_that_cannot_take_complex_input_is_named(impl, f, extra, message):
    x = [1.0] if f is math.sin else [1.0, 2.0]
    with pytest.raises(TypeError) as error:
        impl.gradient(f, x, "auto", method="complex", **extra)
    assert str(error.value) == message


def test_an_f_raising_something_else_propagates_unchanged(impl):
    def f(p):
        raise ZeroDivisionError("inside f")
    with pytest.raises(ZeroDivisionError, match="^inside f$"):
        impl.gradient(f, [1.0], method="complex")


COMPILED = ("method='complex' evaluates f at complex points, and f is a compiled objective "
            "(fastgrad.objectives or a C callback), which takes real input only: use "
            "method='central' (or h=\"adaptive\") for it")


@pytest.mark.parametrize("call,args,error,message", [
    ("gradient", {"method": "complex", "order": 4}, ValueError,
     "order must be one of 2 for method='complex' (None: 2), got 4"),
    ("gradient", {"method": "complex", "h": "adaptive"}, ValueError,
     "h=\"adaptive\" extrapolates real stencils; method='complex' has no cancellation and "
     "is accurate to rounding with h=\"auto\" or a fixed h"),
    ("gradient_descent", {"method": "complex"}, ValueError,
     "method='complex' is for gradient, gradient_batch and gradient_descent_step: "
     "gradient_descent runs its loop in the compiled core, which evaluates f at real "
     "points; use h=\"auto\" there"),
    ("gradient", {"method": "Complex"}, ValueError,
     "method must be one of 'central', 'forward', 'backward', 'complex', got 'Complex'"),
])
def test_bad_arguments_raise_before_f_is_called(impl, call, args, error, message):
    with pytest.raises(error) as raised:
        getattr(impl, call)(never, [1.0, 2.0], **args)
    assert str(raised.value) == message


@pytest.mark.parametrize("call", ["gradient", "gradient_batch", "gradient_descent_step"])
def test_compiled_objectives_are_refused(impl, call, c_library):
    from scipy import LowLevelCallable
    for f in (Rosenbrock(), LowLevelCallable(c_library.rosen)):
        x = [[1.0, 2.0]] if call == "gradient_batch" else [1.0, 2.0]
        with pytest.raises(TypeError) as raised:
            getattr(impl, call)(f, x, method="complex")
        assert str(raised.value) == COMPILED


def test_order_2_is_the_default():
    g = fastgrad.gradient(rosen, [0.5, 0.7], method="complex", order=2)
    assert bits(g) == bits(fastgrad.gradient(rosen, [0.5, 0.7], method="complex"))


def test_the_callers_data_is_not_modified_and_f_gets_its_own_array():
    kept = []

    def f(p):
        kept.append(p)
        value = np.sum(p ** 2)
        p[:] = 7.0  # f may write to its argument
        return value

    x = np.array([1.0, 2.0])
    g = fastgrad.gradient(f, x, 0.5, method="complex")
    assert list(x) == [1.0, 2.0] and list(g) == [2.0, 4.0]
    assert len({id(p) for p in kept}) == 2 and all(p.dtype == np.complex128 for p in kept)
