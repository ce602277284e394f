"""method="complex" for jacobian, Jacobian and derivative (gradient's: test_complex_step.py).

The values go through fastgrad._complex as gradient's do: row r of the Jacobian is,
bit for bit, the complex-step gradient of output r; fastgrad and fastgrad.reference
agree bit for bit on every tier; a compiled f, workers= and an f that cannot take
complex input are refused with the gradient's messages.
"""
import cmath

import numpy as np
import pytest

import fastgrad
import fastgrad.reference
from fastgrad.objectives import Rosenbrock

from _fgtools import nested_bits as bits

IMPLS = [fastgrad, fastgrad.reference]
IDS = ["fast", "reference"]


def system(x, a=1.0):
    """A 3x3 nonlinear system, analytic (complex input gives complex values)."""
    return [x[0] * x[0] + x[1] * x[2] - a, cmath.sin(x[0]) * x[1] - x[2] ** 3,
            cmath.exp(0.5 * x[2]) + x[0] * x[1] * x[2]]


def system_jacobian(x, a=1.0):
    x0, x1, x2 = x
    return [[2 * x0, x2, x1], [np.cos(x0) * x1, np.sin(x0), -3 * x2 ** 2],
            [x1 * x2, x0 * x2, 0.5 * np.exp(0.5 * x2) + x0 * x1]]


def system_unpacked(x0, x1, x2, a=1.0):
    return np.array(system([x0, x1, x2], a))


def system_rows(X, a=1.0):
    X = np.asarray(X)
    return np.stack([X[:, 0] ** 2 + X[:, 1] * X[:, 2] - a, np.sin(X[:, 0]) * X[:, 1] - X[:, 2] ** 3,
                     np.exp(0.5 * X[:, 2]) + X[:, 0] * X[:, 1] * X[:, 2]], axis=1)


X3 = [0.7, -1.3, 2.1]


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
@pytest.mark.parametrize("h", [1e-5, "auto", [1e-10, 1e-12, 1e-20]])
def test_jacobian_rows_are_the_complex_step_gradients(impl, h):
    J = impl.jacobian(system, X3, h, method="complex", args=(0.5,))
    assert np.array(J).shape == (3, 3)
    for r in range(3):
        g = impl.gradient(lambda x: system(x, 0.5)[r], X3, h, method="complex")
        assert bits(J[r]) == bits(g)
    if h != 1e-5:  # no cancellation: analytic to rounding
        assert np.allclose(J, system_jacobian(X3, 0.5), rtol=2e-15, atol=0)


@pytest.mark.parametrize("options,f", [({}, system), ({"unpack": True}, system_unpacked),
                                       ({"vectorized": True}, system_rows),
                                       ({"bounds": (0.7, [1.0, 2.0, 3.0])}, system)])
def test_jacobian_both_implementations_and_every_tier_agree(options, f):
    x = [0.7, 1.3, 2.1]
    expected = fastgrad.reference.jacobian(system, x, "auto", method="complex", args=(2.0,))
    for impl in IMPLS:
        J = impl.jacobian(f, x, "auto", method="complex", args=(2.0,), **options)
        assert bits(J) == bits(expected)
        prepared = impl.Jacobian(f, "auto", method="complex", args=(2.0,), **options)(x)
        assert bits(prepared) == bits(expected)


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_jacobian_shapes_and_evaluations(impl):
    calls = []

    def f(x):
        calls.append(list(x))
        return [x[0] * x[1] ** 2]
    J = impl.jacobian(f, [2.0, 3.0], method="complex")
    assert np.array(J).shape == (1, 2) and len(calls) == 2  # n evaluations, no f(x)
    assert [sum(isinstance(v, complex) and v.imag != 0 for v in p) for p in calls] == [1, 1]
    J = impl.jacobian(lambda x: np.array([x[0], x[0] ** 2, np.exp(x[0])]), [0.5],
                      method="complex", h=1e-20)
    assert bits(J[:2]) == bits([[1.0], [1.0]]) and abs(J[2][0] / np.exp(0.5) - 1) < 3e-16


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_derivative(impl):
    for x, h in [(1.5, 1e-5), (1.5, "auto"), ([[0.5, -1.0], [2.0, 3.0]], "auto"),
                 ([0.25, 4.0], 1e-8)]:
        d = impl.derivative(lambda t, c: t ** 3 + c * np.sin(t), x, h, method="complex",
                            args=(0.5,))
        flat = np.reshape(x, -1).tolist()
        expected = [impl.gradient(lambda p: p[0] ** 3 + 0.5 * cmath.sin(p[0]), [v], h,
                                  method="complex")[0] for v in flat]
        if isinstance(x, float):
            assert type(d) is float and bits(d) == bits(expected[0])
        else:
            assert np.shape(d) == np.shape(x) and bits(np.reshape(d, -1)) == bits(expected)
        other = fastgrad.reference if impl is fastgrad else fastgrad
        assert bits(np.reshape(d, -1)) == bits(np.reshape(
            other.derivative(lambda t, c: t ** 3 + c * np.sin(t), x, h, method="complex",
                             args=(0.5,)), -1))


def test_derivative_calls_f_once_per_offset_on_the_whole_array():
    calls = []

    def f(t):
        calls.append(t.copy())
        return t ** 2
    d = fastgrad.derivative(f, [[1.0, 2.0, 3.0]], method="complex", h=1e-10)
    assert len(calls) == 1 and calls[0].dtype == np.complex128 and calls[0].shape == (1, 3)
    assert bits(d) == bits([[2.0, 4.0, 6.0]])


COMPILED = ("method='complex' evaluates f at complex points, and f is a compiled objective "
            "(fastgrad.objectives or a C callback), which takes real input only: use "
            "method='central' (or h=\"adaptive\") for it")
WORKERS = ('workers= does not take method="complex": the complex step runs in this process '
           "(its evaluations are cheap next to a real f's: use method=\"central\" to spread "
           "an expensive f)")


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_refusals(impl):
    for call in (lambda: impl.jacobian(Rosenbrock(), X3, method="complex"),
                 lambda: impl.Jacobian(Rosenbrock(), method="complex"),
                 lambda: impl.derivative(Rosenbrock(), 1.0, method="complex")):
        with pytest.raises(TypeError) as raised:
            call()
        assert str(raised.value) == COMPILED
    for call in (lambda: impl.jacobian(system, X3, method="complex", workers=map),
                 lambda: impl.Jacobian(system, method="complex", workers=map),
                 lambda: impl.derivative(np.sin, 1.0, method="complex", workers=map)):
        with pytest.raises(ValueError) as raised:
            call()
        assert str(raised.value) == WORKERS
    with pytest.raises(TypeError, match=r"^method='complex' evaluates f at complex points, "
                                        r"and f cannot take complex input: it raised "
                                        r"TypeError: .*complex"):
        impl.jacobian(lambda a, b: [float(a), b], [1.0, 2.0], method="complex", unpack=True)
    with pytest.raises(TypeError, match=r"^method='complex' needs f to return a complex value "
                                        r"at complex points, got float 2.0"):
        impl.jacobian(lambda x: [x[0], 2.0], [1.0, 2.0], method="complex")
    with pytest.raises(ValueError, match=r"^f must return shape \(3,\) \(m = 3, the length of "
                                         r"f\(x\)\), got shape \(2,\)$"):
        impl.jacobian(lambda x: [x[0], x[1]] if x[1].imag else [x[0]] * 3, [1.0, 2.0],
                      method="complex")
