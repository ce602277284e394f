"""h="adaptive" within bounds: one side per coordinate over the whole sequence."""
import math

import pytest

import fastgrad
import fastgrad.reference as reference
from fastgrad._accuracy import ADAPTIVE_BASE, adaptive_steps
from fastgrad._stencils import STENCILS

from _fgtools import bits


def smooth(p):
    return math.exp(p[0]) * math.sin(p[1] + 1.0) + p[0] * p[1] ** 3


def smooth_exact(p):
    return [math.exp(p[0]) * math.sin(p[1] + 1.0) + p[1] ** 3,
            math.exp(p[0]) * math.cos(p[1] + 1.0) + 3.0 * p[0] * p[1] ** 2]


BOX = ([0.0, -1.0], [1.0, 0.5])
POINTS = [[0.0, -1.0], [1.0, 0.5], [1e-3, 0.4999], [0.02, -0.97], [0.5, 0.0], [0.999, -0.2]]


@pytest.mark.parametrize("x", POINTS)
@pytest.mark.parametrize("method,order", [("central", 2), ("central", 4), ("forward", 1),
                                          ("backward", 2)])
def test_inside_the_box_accurate_and_bit_identical(x, method, order):
    seen = []

    def f(p):
        seen.append([float(v) for v in p])
        return smooth(p)

    r = fastgrad.gradient(f, x, "adaptive", method=method, order=order, bounds=BOX,
                          full_output=True)
    assert all(BOX[0][i] <= p[i] <= BOX[1][i] for p in seen for i in range(2))
    assert r.nfev == len(seen)
    expected = reference.gradient(smooth, x, "adaptive", method=method, order=order,
                                  bounds=BOX, full_output=True)
    for name in ("grad", "error", "step"):
        assert bits(getattr(r, name)) == bits(getattr(expected, name)), name
    assert (r.nfev, r.success, r.message) == (expected.nfev, expected.success,
                                              expected.message)
    exact = smooth_exact(x)
    assert r.success
    assert all(abs(g - e) <= err for g, e, err in zip(r.grad, exact, r.error))
    assert max(abs(g - e) / abs(e) for g, e in zip(r.grad, exact)) <= 1e-11


def test_each_coordinate_keeps_one_side_over_the_sequence():
    central = STENCILS["central", 2]
    rows, levels = adaptive_steps([0.0, 0.5, 0.02, 0.9999], central, ([0.0] * 4, [1.0] * 4))
    # at the bound: forward from the full step; inside: central, full step;
    # near the bound but with room for the finest step: central, shrunk to the room;
    # within 0.1/512 of the bound: backward, full step
    assert [(row.method, row.order) for row in rows] == [
        ("forward", 2), ("central", 2), ("central", 2), ("backward", 2)]
    assert levels[0] == [ADAPTIVE_BASE, ADAPTIVE_BASE, 0.02, ADAPTIVE_BASE]
    assert levels[9] == [v / 512.0 for v in levels[0]]
    unbounded_rows, unbounded = adaptive_steps([0.0, -3.0], central)
    assert unbounded_rows == [central, central]
    assert unbounded[3] == [ADAPTIVE_BASE / 8.0, 3.0 * ADAPTIVE_BASE / 8.0]


def test_open_bounds_change_no_value(impl):
    x = [0.3, -0.7]
    a = impl.gradient(smooth, x, "adaptive", full_output=True)
    b = impl.gradient(smooth, x, "adaptive", bounds=(-math.inf, math.inf), full_output=True)
    assert bits(a.grad) == bits(b.grad) and bits(a.error) == bits(b.error)
    assert b.nfev == a.nfev + 10  # with bounds f(x) is evaluated with every gradient


def test_no_room_names_the_coordinate(impl):
    with pytest.raises(ValueError) as raised:
        impl.gradient(smooth, [0.5, 1.0], "adaptive", bounds=([0.0, 1.0], [1.0, 1.0]))
    assert str(raised.value) == ("bounds leave no room for a stencil at x[1] = 1.0: "
                                 "lb[1] = 1.0, ub[1] = 1.0")
