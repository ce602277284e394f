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


# -- higher orders: new rows, the same loops ----------------------------------------

# The orders order= offers (the table also holds one-sided rows 5-8, for bounds).
ORDER_CASES = [(m, o) for m, orders in _stencils.ORDERS.items() for o in orders]


def wavy(x):
    return math.exp(0.5 * x[0]) * math.sin(x[1]) + x[0] ** 3 * x[1]


def wavy_gradient(x):
    return [0.5 * math.exp(0.5 * x[0]) * math.sin(x[1]) + 3 * x[0] ** 2 * x[1],
            math.exp(0.5 * x[0]) * math.cos(x[1]) + x[0] ** 3]


@pytest.mark.parametrize("method,order", ORDER_CASES)
@pytest.mark.parametrize("tier", ["python", "unpack", "vectorized"])
def test_every_order_is_bit_identical_to_the_reference(method, order, tier):
    x, h = [0.7, -1.3], [1e-3, 2e-3]
    if tier == "python":
        f, kwargs = wavy, {}
    elif tier == "unpack":
        f, kwargs = (lambda a, b: wavy([a, b])), {"unpack": True}
    else:
        f, kwargs = (lambda X: np.array([wavy(row) for row in X])), {"vectorized": True}
    ref_f = (lambda X: [wavy(row) for row in X]) if tier == "vectorized" else f
    fast = fastgrad.gradient(f, x, h, method=method, order=order, **kwargs)
    ref = reference.gradient(ref_f, x, h, method=method, order=order, **kwargs)
    assert [float(v).hex() for v in fast] == [v.hex() for v in ref]
    step = fastgrad.gradient_descent_step(f, x, 0.1, h, method=method, order=order, **kwargs)
    ref_step = reference.gradient_descent_step(ref_f, x, 0.1, h, method=method, order=order,
                                               **kwargs)
    assert [float(v).hex() for v in step] == [v.hex() for v in ref_step]


@pytest.mark.parametrize("method,order", ORDER_CASES)
def test_every_order_on_the_compiled_tier_and_in_batches(method, order):
    from fastgrad.objectives import Rosenbrock
    X = [[0.5, -0.25, 1.5], [-1.2, 1.0, 0.3]]
    fast = fastgrad.gradient_batch(Rosenbrock(), X, 1e-3, method=method, order=order)
    ref = reference.gradient_batch(Rosenbrock(), X, 1e-3, method=method, order=order)
    assert fast.tobytes() == np.array(ref).tobytes()
    r = fastgrad.gradient_descent(Rosenbrock(), X[0], 1e-3, max_iter=50, method=method,
                                  order=order, optimizer="adam", record=True)
    q = reference.gradient_descent(Rosenbrock(), X[0], 1e-3, max_iter=50, method=method,
                                   order=order, optimizer="adam", record=True)
    assert r.x.tobytes() == np.array(q.x).tobytes() and r.nfev == q.nfev
    assert r.path.tobytes() == np.array(q.path).tobytes()
    assert r.nit == 50
    points = 3 * order + (method != "central")  # order points per coordinate, and f(x)
    assert r.nfev == 51 * points + 51  # gradients at x0..x50, and f at each recorded iterate


@pytest.mark.parametrize("method,order", ORDER_CASES)
def test_error_shrinks_as_h_to_the_order(method, order):
    # Against the exact gradient: halving h divides the truncation error by
    # about 2**order (h large enough that rounding is far below it).
    x = [0.7, -1.3]
    exact = wavy_gradient(x)

    def error(h):
        g = reference.gradient(wavy, x, h, method=method, order=order)
        return max(abs(a - b) for a, b in zip(g, exact))

    reach = max(abs(o) for o in STENCILS[method, order].offsets)
    h = (0.4 if method == "central" else 0.1) / reach
    ratio = error(h) / error(h / 2)
    assert 2 ** order * 0.6 < ratio < 2 ** order * 1.6, ratio


def test_higher_orders_are_more_accurate_at_their_best_step():
    x = [0.7, -1.3]
    exact = wavy_gradient(x)
    errors = {}
    for order in (2, 4, 6, 8):
        h = 2.2e-16 ** (1 / (order + 1))
        g = fastgrad.gradient(wavy, x, h, order=order)
        errors[order] = max(abs(a - b) for a, b in zip(g, exact))
    assert errors[2] > 1e-12 and errors[8] < 1e-13, errors
    assert errors[2] > errors[4] > errors[8], errors


@pytest.mark.parametrize("order,error,message", [
    (3, ValueError, r"order must be one of 2, 4, 6, 8 for method='central' \(None: 2\), got 3"),
    (0, ValueError, r"order must be one of 2, 4, 6, 8 for method='central' \(None: 2\), got 0"),
    (2.0, TypeError, r"order must be an int or None, got float 2.0"),
    (True, TypeError, r"order must be an int or None, got bool True"),
    ("2", TypeError, r"order must be an int or None, got str '2'"),
])
def test_bad_order_is_refused_before_f_is_called(impl, order, error, message):
    def f(x):
        raise AssertionError("f must not be called")

    for call in (lambda: impl.gradient(f, [1.0], order=order),
                 lambda: impl.gradient_descent(f, [1.0], order=order),
                 lambda: impl.gradient_batch(f, [[1.0]], order=order),
                 lambda: impl.gradient_descent_step(f, [1.0], order=order)):
        with pytest.raises(error, match=message):
            call()


def test_one_sided_orders_are_checked_per_method(impl):
    with pytest.raises(ValueError, match=r"one of 1, 2, 3, 4 for method='forward' \(None: 1\)"):
        impl.gradient(abs, [1.0], method="forward", order=6)
    assert list(impl.gradient(lambda x: x[0] ** 2, [1.0], 0.5, method="backward", order=2)) \
        == [2.0]  # exact for a quadratic
