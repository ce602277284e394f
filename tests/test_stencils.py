"""The stencil table both implementations read, and the loops over it."""
import math
from fractions import Fraction

import numpy as np
import pytest

import fastgrad
import fastgrad.reference as reference
from fastgrad import _stencils
from fastgrad._stencils import STENCILS, fornberg_weights


def test_fornberg_gives_the_textbook_weights():
    assert fornberg_weights([-1, 0, 1], 1) == (Fraction(-1, 2), 0, Fraction(1, 2))
    assert fornberg_weights([-2, -1, 0, 1, 2], 1) == (
        Fraction(1, 12), Fraction(-2, 3), 0, Fraction(2, 3), Fraction(-1, 12))
    assert fornberg_weights([-1, 0, 1], 2) == (1, -2, 1)
    assert fornberg_weights([0, 1, 2], 1) == (Fraction(-3, 2), 2, Fraction(-1, 2))


@pytest.mark.parametrize("key", sorted(STENCILS))
def test_each_row_has_its_order_exactly(key):
    # sum_t w_t o_t^k / (hi - lo) is the k-th derivative's coefficient of a
    # polynomial: 1 for k = 1, 0 for every other k up to the order.
    row = STENCILS[key]
    method, order = key
    assert row.method == method and row.order == order
    span = row.span[0] - row.span[1]
    for k in range(order + 1):
        moment = sum(w * Fraction(o) ** k for o, w in zip(row.offsets, row.weights)) / span
        assert moment == (1 if k == 1 else 0), (key, k)
    # ...and not one order more (the truncation term is really there)
    k = order + 1
    assert sum(w * Fraction(o) ** k for o, w in zip(row.offsets, row.weights)) != 0


def test_the_default_rows_are_the_textbook_formulas():
    assert STENCILS["central", 2].offsets == (1, -1) and STENCILS["central", 2].weights == (1, -1)
    assert STENCILS["forward", 1].offsets == (1, 0) and STENCILS["forward", 1].weights == (1, -1)
    assert STENCILS["backward", 1].offsets == (0, -1) and STENCILS["backward", 1].weights == (1, -1)
    assert [_stencils.stencil(m).order for m in _stencils.METHODS] == [2, 1, 1]
    assert not STENCILS["central", 2].needs_center and STENCILS["forward", 1].needs_center


def test_every_row_fits_the_compiled_stencil():
    from fastgrad import _stencil
    for key, row in STENCILS.items():
        assert repr(_stencil.StencilRow(row)) == f"StencilRow({key[0]!r}, order={key[1]})"


def textbook(f, x, h, method):
    g = []
    for i in range(len(x)):
        xp, xm = list(x), list(x)
        xp[i] += h
        xm[i] -= h
        if method == "central":
            g.append((f(xp) - f(xm)) / (xp[i] - xm[i]))
        elif method == "forward":
            g.append((f(xp) - f(x)) / (xp[i] - x[i]))
        else:
            g.append((f(x) - f(xm)) / (x[i] - xm[i]))
    return g


@pytest.mark.parametrize("method", ["central", "forward", "backward"])
def test_table_rows_give_the_textbook_bits(impl, method):
    def f(x):
        return math.sin(x[0]) * math.exp(x[1]) - x[0] * x[1] ** 3

    x = [0.3, -1.7]
    expected = textbook(f, x, 1e-5, method)
    got = list(impl.gradient(f, x, method=method))
    assert [v.hex() for v in map(float, got)] == [v.hex() for v in expected]


def test_signed_zero_survives_the_sum(impl):
    # f = -0.0 at x + h and 0.0 at x - h: (-0.0) - 0.0 is -0.0; a sum started
    # at 0.0 would give +0.0.
    def f(x):
        return -0.0 if x[0] > 0 else 0.0

    g = impl.gradient(f, [0.0], method="central")
    assert math.copysign(1.0, g[0]) == -1.0


def test_dimension_and_step_checked_in_the_same_order(impl):
    # The stencil is checked before f is first called -- where a compiled
    # objective checks x's length -- in both implementations.
    from fastgrad.objectives import Himmelblau
    with pytest.raises(ValueError, match=r"h\[0\] = 1e-05 gives no usable step at x\[0\] = 1e\+20"):
        impl.gradient(Himmelblau(), [1e20, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"Himmelblau takes x of length 2, got 3"):
        impl.gradient(Himmelblau(), [1.0, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"X\[1, 0\] = 1e\+20"):
        impl.gradient_batch(Himmelblau(), [[1.0, 1.0, 2.0], [1e20, 1.0, 2.0]])
    with pytest.raises(ValueError, match=r"Himmelblau takes x of length 2, got 3"):
        impl.gradient_descent(Himmelblau(), [1.0, 1.0, 2.0])
