"""bounds= in gradient_descent_step and gradient_descent: projected gradient descent."""
import math

import numpy as np
import pytest

import fastgrad
import fastgrad.reference as reference
from fastgrad.objectives import Rosenbrock

from _fgtools import assert_same_result, bits, check_vector

TARGET = [2.0, -3.0, 0.5]
BOX = ([0.0, -1.0, 0.0], [1.0, 1.0, 1.0])  # the constrained minimum: (1, -1, 0.5)


def bowl(p):
    return sum((float(v) - t) ** 2 for v, t in zip(p, TARGET))


def inside(points, box):
    return all(box[0][i] <= p[i] <= box[1][i] for p in points for i in range(len(p)))


def recording(f, seen):
    def g(p):
        seen.append([float(v) for v in p])
        return f(p)
    return g


def test_step_is_the_projected_update_and_stays_inside(impl):
    seen = []
    x = [1.0, -1.0, 0.25]  # on two bounds
    x_new = impl.gradient_descent_step(recording(bowl, seen), x, 0.4, bounds=BOX)
    check_vector(impl, x_new, 3)
    assert inside(seen, BOX)
    g = impl.gradient(bowl, x, bounds=BOX)
    expected = [min(max(v - 0.4 * gv, lo), hi) for v, gv, lo, hi in zip(x, g, *BOX)]
    assert bits(x_new) == bits(expected)
    assert list(x_new)[:2] == [1.0, -1.0]  # pushed out, clipped back


def test_step_bit_identical_to_the_reference():
    x = [0.9, -0.95, 1.0]
    for h in (1e-5, "auto"):
        for method in ("central", "forward", "backward"):
            a = fastgrad.gradient_descent_step(bowl, x, 0.3, h, method=method, bounds=BOX)
            b = reference.gradient_descent_step(bowl, x, 0.3, h, method=method, bounds=BOX)
            assert bits(a) == bits(b), (h, method)


@pytest.mark.parametrize("optimizer", [None, "momentum", "adam", "armijo"])
def test_descent_converges_to_the_constrained_minimum(impl, optimizer):
    seen = []
    r = impl.gradient_descent(recording(bowl, seen), [0.5, 0.0, 0.9], 0.1, bounds=BOX,
                              optimizer=optimizer, tol=1e-8, max_iter=5000)
    assert r.converged and r.message.startswith("converged: gradient norm")
    assert inside(seen, BOX)  # no stencil point, iterate or trial leaves the box
    assert list(r.x)[:2] == [1.0, -1.0] and abs(r.x[2] - 0.5) < 1e-8
    # result.grad is the gradient; the projected norm (what tol tests) ignores
    # the entries pushing x out through its bounds
    assert abs(r.grad[0] + 2.0) < 1e-6 and abs(r.grad[1] - 4.0) < 1e-6


@pytest.mark.parametrize("optimizer", [None, "nesterov", "adam", "armijo"])
@pytest.mark.parametrize("h", [1e-5, "auto"])
def test_descent_bit_identical_to_the_reference(optimizer, h):
    kwargs = dict(bounds=BOX, optimizer=optimizer, h=h, max_iter=200, record=True)
    assert_same_result(fastgrad.gradient_descent(bowl, [0.5, 0.0, 0.9], 0.1, **kwargs),
                       reference.gradient_descent(bowl, [0.5, 0.0, 0.9], 0.1, **kwargs),
                       f"{optimizer} {h}")


def test_compiled_descent_with_bounds_agrees_with_the_python_tier():
    # Rosenbrock's minimum (1, 1) lies outside x <= 0.5: the constrained one is on it.
    box = ([-2.0, -2.0], [0.5, 2.0])
    fast = fastgrad.gradient_descent(Rosenbrock(), [-1.0, 1.0], 1e-3, bounds=box,
                                     max_iter=20000, tol=1e-6)
    slow = reference.gradient_descent(lambda p: Rosenbrock()(np.asarray(p)), [-1.0, 1.0],
                                      1e-3, bounds=box, max_iter=20000, tol=1e-6)
    assert fast.converged and fast.x[0] <= 0.5
    assert fast.nit == slow.nit and np.allclose(fast.x, slow.x, rtol=1e-12, atol=0.0)
    assert abs(fast.x[0] - 0.5) < 1e-6 and abs(fast.x[1] - 0.25) < 1e-5


def test_sqrt_at_its_bound_gives_no_nan(impl):
    # d/dx (sqrt(x) + (x - 1)**2) at x = 0 is +inf-ish: one-sided steps keep it real,
    # and the iterates stay >= 0.
    f = lambda p: math.sqrt(p[0]) + (p[0] - 1.0) ** 2  # noqa: E731
    r = impl.gradient_descent(f, [0.0], 0.05, bounds=(0.0, math.inf), max_iter=50)
    assert all(math.isfinite(v) for v in r.x) and r.x[0] >= 0.0
    x = impl.gradient_descent_step(f, [0.0], 0.05, bounds=(0.0, math.inf))
    assert x[0] == 0.0  # the slope at 0 pushes out: clipped


@pytest.mark.parametrize("call", ["gradient_descent_step", "gradient_descent"])
def test_bad_bounds_name_the_coordinate_before_f_is_called(impl, call):
    def never(p):
        raise AssertionError("f must not be called")

    for bounds, message in [
            (([0.0, 0.0], [1.0, 1.0]), "x[1] = 2.0 is outside the bounds [0.0, 1.0]"),
            ((1.0, 0.0), "bounds: lb[0] = 1.0 > ub[0] = 0.0")]:
        with pytest.raises(ValueError) as raised:
            getattr(impl, call)(never, [0.5, 2.0], bounds=bounds)
        with pytest.raises(ValueError) as expected:
            impl.gradient(never, [0.5, 2.0], bounds=bounds)
        assert str(raised.value) == str(expected.value) == message
