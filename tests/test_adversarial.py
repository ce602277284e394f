"""Defects found by adversarial testing of the accuracy options (order, h="auto",
h="adaptive", bounds, full_output, PrecisionWarning).  Each test states what the
README / docstrings promise and fails while the defect is there."""
import math
import warnings

import numpy as np
import pytest

import fastgrad
import fastgrad.optimize
import fastgrad.reference


def honest_or_flagged(result, exact):
    """The full_output contract: the true error lies inside `error`, or success
    is False (README: "success=False when it cannot be trusted")."""
    for g, e, t in zip(result.grad, result.error, exact):
        if result.success:
            assert abs(g - t) <= e, (
                f"success=True but |grad - exact| = {abs(g - t):.3g} > error = {e:.3g} "
                f"(grad {g!r}, exact {t!r})")


# -- 1. h="adaptive" reports success=True with an error estimate of 1e-10 for a
#       gradient that is wrong in every digit (aliasing of the step sequence) ------

@pytest.mark.parametrize("w, x", [(1000.0, 0.0), (1000.0, 0.1), (5.0, 100.0), (1.0, 502.5627057247523)])
def test_adaptive_sine_is_honest_or_flagged(impl, w, x):
    # gradient(sin(1000 x), 0, h="adaptive") -> -5.31 (exact 1000), error 2.2e-10, success True
    r = impl.gradient(lambda p: math.sin(w * p[0]), [x], h="adaptive", full_output=True)
    honest_or_flagged(r, [w * math.cos(w * x)])


# -- 2. h="adaptive" within bounds: sqrt with bounds=(0, inf) (the README's own
#       example) at x = 1e-4 gives 8.3 (exact 50), error 6, success True ---------

@pytest.mark.parametrize("x", [1e-8, 1e-4, 1e-2, 0.5])
def test_adaptive_bounded_sqrt_is_honest_or_flagged(impl, x):
    # h="adaptive" within bounds keeps one side per coordinate over its whole
    # sequence (fastgrad._accuracy.adaptive_steps): near 0 the forward side,
    # whose steps dwarf x: flagged; farther, central shrunk to the room: exact.
    r = impl.gradient(lambda p: math.sqrt(p[0]), [x], h="adaptive", bounds=(0.0, math.inf),
                      full_output=True)
    honest_or_flagged(r, [0.5 / math.sqrt(x)])
    assert r.success == (x >= 1e-2)


# -- 3. bounds that shrink the step: g(h) and g(2h) are the same shrunk gradient,
#       so the Richardson term is 0 and the estimate is only the rounding term of
#       the nominal h; `step` reports the nominal h, not the step used ------------

def test_bounded_shrunk_step_error_is_honest_or_flagged(impl):
    # exact error 8.3e-10, estimate 1.8e-12
    r = impl.gradient(lambda p: math.exp(p[0]), [0.0], h=1e-3, bounds=(0.0, 1e-4),
                      full_output=True)
    honest_or_flagged(r, [1.0])


def test_bounded_tiny_room_is_honest_or_flagged(impl):
    # room 1e-9: the step shrinks to 5e-10, exact error 8.3e-8, estimate 1.8e-10
    r = impl.gradient(lambda p: math.exp(p[0]), [0.0], h=1e-5, bounds=(0.0, 1e-9),
                      full_output=True)
    honest_or_flagged(r, [1.0])


def test_bounded_step_reports_the_step_used(impl):
    # GradientResult.step: "the step h_i used per coordinate".  Central order 2
    # turns forward order 2 (points x + h, x + 2h) and, with room 1e-4, h = 5e-5.
    r = impl.gradient(lambda p: math.exp(p[0]), [0.0], h=1e-3, bounds=(0.0, 1e-4),
                      full_output=True)
    assert list(r.step) == [5e-05]


# -- 4. the rounding term is scaled by |f(x)|: where f(x) = 0 (f at a root, a
#       residual), the estimate is 0.0 exactly while the gradient carries f's
#       rounding (eps * |f near x| / h) ---------------------------------------------

@pytest.mark.parametrize("x, h, method", [(3.0, 1e-8, "central"), (2.0, 1e-9, "forward"),
                                          (2.5, 1e-9, "central")])
def test_error_estimate_where_f_is_zero(impl, x, h, method):
    c = math.exp(x)
    r = impl.gradient(lambda p: math.exp(p[0]) - c, [x], h=h, method=method, full_output=True)
    # today: error == [0.0], success True, true error 1.2e-8 .. 2.3e-7
    honest_or_flagged(r, [c])


# -- 5. fastgrad.reference's PrecisionWarning points one frame too far up (at the
#       caller of the caller; at module level, at <sys>); fastgrad's at the caller -

def _f32(x):
    return np.float32(x[0] ** 2 + x[1])


@pytest.mark.parametrize("name, kwargs", [
    ("gradient", {}),
    ("gradient", {"full_output": True}),
    ("gradient", {"bounds": (0.0, 5.0)}),
    ("gradient_descent_step", {}),
    ("gradient_descent", {"max_iter": 1}),
])
def test_precision_warning_points_at_the_caller(impl, name, kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        getattr(impl, name)(_f32, [1.0, 2.0], **kwargs)
    assert [w.category for w in caught] == [fastgrad.PrecisionWarning]
    assert caught[0].filename == __file__


def test_precision_warning_of_gradient_batch_points_at_the_caller(impl):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        impl.gradient_batch(_f32, [[1.0, 2.0]])
    assert [w.category for w in caught] == [fastgrad.PrecisionWarning]
    assert caught[0].filename == __file__


def _v32(x):
    return np.array([x[0] ** 2 + x[1], x[0]], dtype=np.float32)


def _e32(t):
    """Elementwise, in float32 (derivative's f: an array or a float in, alike out)."""
    return np.float32(t) ** 2


#: Every call that warns of f's precision (a fixed h), by whatever path it goes:
#: workers= (map: spread, then back), the prepared callables, check_grad's
#: gradient, gradient_batch's row-by-row loop; (impl, workers) -> the warnings.
PRECISION_WARNINGS = {
    "gradient": (1, lambda m, w: m.gradient(_f32, [1.0, 2.0], workers=w)),
    "gradient full_output": (1, lambda m, w: m.gradient(_f32, [1.0, 2.0], full_output=True,
                                                        workers=w)),
    "gradient bounds": (1, lambda m, w: m.gradient(_f32, [1.0, 2.0], bounds=(0.0, 5.0),
                                                   workers=w)),
    "gradient_batch": (1, lambda m, w: m.gradient_batch(_f32, [[1.0, 2.0]] * 2, workers=w)),
    "gradient_batch full_output": (2, lambda m, w: m.gradient_batch(
        _f32, [[1.0, 2.0]] * 2, full_output=True, workers=w)),
    "gradient_descent_step": (1, lambda m, w: m.gradient_descent_step(_f32, [1.0, 2.0],
                                                                      workers=w)),
    "gradient_descent": (1, lambda m, w: m.gradient_descent(_f32, [1.0, 2.0], max_iter=1,
                                                            workers=w)),
    "Gradient": (1, lambda m, w: m.Gradient(_f32, workers=w)([1.0, 2.0])),
    "Gradient full_output": (1, lambda m, w: m.Gradient(_f32, full_output=True,
                                                        workers=w)([1.0, 2.0])),
    "hessian": (1, lambda m, w: m.hessian(_f32, [1.0, 2.0], workers=w)),
    "hessian full_output": (1, lambda m, w: m.hessian(_f32, [1.0, 2.0], full_output=True,
                                                      workers=w)),
    "hessian_vector": (1, lambda m, w: m.hessian_vector(_f32, [1.0, 2.0], [1.0, 0.0],
                                                        workers=w)),
    "Hessian": (1, lambda m, w: m.Hessian(_f32, workers=w)([1.0, 2.0])),
    "jacobian": (1, lambda m, w: m.jacobian(_v32, [1.0, 2.0], workers=w)),
    "jacobian full_output": (1, lambda m, w: m.jacobian(_v32, [1.0, 2.0], full_output=True,
                                                        workers=w)),
    "Jacobian": (1, lambda m, w: m.Jacobian(_v32, workers=w)([1.0, 2.0])),
    "derivative": (1, lambda m, w: m.derivative(_e32, [1.0, 2.0], workers=w)),
    "derivative scalar": (1, lambda m, w: m.derivative(_e32, 2.0, h=1e-3, workers=w)),
    "derivative forward": (1, lambda m, w: m.derivative(_e32, [[1.0], [2.0]], method="forward",
                                                        order=2, workers=w)),
    "check_grad": (1, lambda m, w: m.check_grad(_f32, lambda x: [2.0, 1.0], [1.0, 2.0],
                                                h=1e-5, workers=w)),
}


@pytest.mark.parametrize("workers", [None, map], ids=["serial", "workers"])
@pytest.mark.parametrize("name", sorted(PRECISION_WARNINGS))
def test_every_precision_warning_points_at_the_caller(impl, name, workers):
    count, call = PRECISION_WARNINGS[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(impl, workers)
    assert [w.category for w in caught] == [fastgrad.PrecisionWarning] * count
    assert [w.filename for w in caught] == [__file__] * count


@pytest.mark.parametrize("call", [
    lambda: fastgrad.optimize.approx_fprime(np.array([1.0, 2.0]), _f32),
    lambda: fastgrad.optimize.approx_fprime(np.array([1.0, 2.0]), _v32),
    lambda: fastgrad.optimize.check_grad(_f32, lambda x: [2.0, 1.0], np.array([1.0, 2.0])),
], ids=["approx_fprime", "approx_fprime jacobian", "check_grad"])
def test_the_precision_warnings_of_fastgrad_optimize_point_at_the_caller(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    assert [w.category for w in caught] == [fastgrad.PrecisionWarning]
    assert caught[0].filename == __file__


# -- 6. h=numpy.str_("auto"): the reference takes it (a str), fastgrad raises a
#       TypeError that does not name h ("Cannot convert numpy.str_ to numpy.ndarray")

@pytest.mark.parametrize("rule", ["auto", "adaptive"])
def test_numpy_str_step_rule(rule):
    f = lambda p: p[0] ** 3  # noqa: E731
    expected = fastgrad.reference.gradient(f, [2.0], h=rule)
    assert fastgrad.gradient(f, [2.0], h=np.str_(rule)).tolist() == expected


def test_numpy_str_step_rule_descent_and_batch():
    f = lambda p: p[0] ** 3  # noqa: E731
    assert fastgrad.gradient_batch(f, [[2.0]], h=np.str_("auto")).tolist() == \
        fastgrad.reference.gradient_batch(f, [[2.0]], h="auto")
    assert fastgrad.gradient_descent_step(f, [2.0], h=np.str_("auto")).tolist() == \
        fastgrad.reference.gradient_descent_step(f, [2.0], h="auto")


# -- 7. at a stationary point (f(x) != 0) the gradient is exactly 0 and its error
#       estimate the rounding term, which "exceeds the gradient's scale" (0): every
#       minimum of 1 + |x|^2 gets success=False, even with h="adaptive" (error
#       1.4e-13), and the message suggests h="auto" when h="auto" was given --------

@pytest.mark.parametrize("h", [1e-5, "auto", "adaptive"])
def test_stationary_point_is_a_success(impl, h):
    r = impl.gradient(lambda p: 1.0 + p[0] ** 2 + p[1] ** 2, [0.0, 0.0], h=h, full_output=True)
    assert list(r.grad) == [0.0, 0.0]
    assert r.success, r.message


# -- 8. bounds that shrink the step: a step that then rounds away is reported as
#       the user's h ("h[0] = 1.0 gives no usable step") though h was 4.0 or "auto",
#       and the message does not say the bounds shrank it --------------------------

@pytest.mark.parametrize("h", [4.0, "auto"])
def test_shrunk_step_error_names_the_bounds(impl, h):
    with pytest.raises(ValueError) as caught:
        impl.gradient(lambda p: p[0], [1e16], h=h, bounds=(1e16, 1e16 + 2))
    assert "bound" in str(caught.value), str(caught.value)


# -- 10. order= refuses numpy integers (max_iter and num_threads take them) --------

def test_order_takes_a_numpy_integer(impl):
    f = lambda p: math.exp(p[0])  # noqa: E731
    assert list(impl.gradient(f, [0.5], order=np.int64(4))) == list(impl.gradient(f, [0.5], order=4))
