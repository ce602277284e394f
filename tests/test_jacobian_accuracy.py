"""jacobian(..., full_output=True): a JacobianResult whose error rows are gradient's.

Row r's estimate is, bit for bit, what gradient(f_r, x, full_output=True) gives;
fastgrad and fastgrad.reference agree bit for bit on every field; nfev counts every
call of f; the same result with workers= and from the prepared Jacobian.
"""
import concurrent.futures
import math

import numpy as np
import pytest

import fastgrad
import fastgrad.reference

from _fgtools import nested_bits as bits

IMPLS = [fastgrad, fastgrad.reference]
IDS = ["fast", "reference"]


def system(x, a=1.0):
    return [x[0] * x[0] + x[1] * x[2] - a, np.sin(x[0]) * x[1] - x[2] ** 3,
            np.exp(0.5 * x[2]) + x[0] * x[1] * x[2]]


def system_rows(X, a=1.0):
    X = np.asarray(X, dtype=np.float64)
    return np.stack([X[:, 0] ** 2 + X[:, 1] * X[:, 2] - a, np.sin(X[:, 0]) * X[:, 1] - X[:, 2] ** 3,
                     np.exp(0.5 * X[:, 2]) + X[:, 0] * X[:, 1] * X[:, 2]], axis=1)


X3 = [0.7, -1.3, 2.1]


def fields(r):
    return (bits(r.jac), bits(r.error), r.nfev, r.success, r.message, bits(r.step))


CASES = [({}, system), ({"h": "auto"}, system), ({"method": "forward", "order": 3}, system),
         ({"h": [1e-3, 1e-4, 1e-6], "method": "backward"}, system),
         ({"bounds": ([0.7, -2.0, 2.0], [1.0, 0.0, 2.1]), "h": 1e-3}, system),
         ({"vectorized": True, "order": 4}, system_rows), ({"args": (3.0,)}, system)]


@pytest.mark.parametrize("options,f", CASES)
def test_both_implementations_agree_and_rows_are_gradients_estimates(options, f):
    results = [impl.jacobian(f, X3, full_output=True, **options) for impl in IMPLS]
    assert isinstance(results[0], fastgrad.JacobianResult)
    assert isinstance(results[1], fastgrad.reference.JacobianResult)
    assert fields(results[0]) == fields(results[1])
    r = results[0]
    assert r.jac.shape == r.error.shape == (3, 3) and r.step.shape == (3,)
    plain = fastgrad.jacobian(f, X3, **options)
    assert bits(r.jac) == bits(plain)
    n, offsets = 3, {"central": 2 * (options.get("order", 2) // 2),
                     "forward": options.get("order", 1)}.get(options.get("method",
                                                                          "central"), 1)
    assert r.nfev == 2 * (1 + n * offsets)
    for row in range(3):
        scalar = {k: v for k, v in options.items() if k != "vectorized"}
        g = fastgrad.gradient(lambda x, *a: system(x, *a)[row], X3, full_output=True, **scalar)
        assert bits(r.error[row]) == bits(g.error) and bits(r.step) == bits(g.step)
        assert bits(r.jac[row]) == bits(g.grad)


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_nfev_counts_every_call_and_prepared_and_workers_agree(impl):
    for options in ({}, {"h": "auto"}, {"method": "forward"}, {"order": 6}):
        calls = []

        def f(x):
            calls.append(1)
            return system(x)
        r = impl.jacobian(f, X3, full_output=True, **options)
        assert r.nfev == len(calls)
        prepared = impl.Jacobian(system, full_output=True, **options)(X3)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            spread = impl.jacobian(system, X3, full_output=True, workers=pool, **options)
        assert fields(prepared) == fields(spread) == fields(
            impl.jacobian(system, X3, full_output=True, **options))


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_success_and_messages(impl):
    r = impl.jacobian(system, X3, full_output=True)
    assert r.success and r.message == "ok: every entry's error estimate is below its scale"

    def kink(x):  # output 1 jumps between x + h and x + 2h: the estimate exceeds its scale
        return [x[0] + x[1], (1e6 if x[0] > 0.7015 else 0.0) + x[1], x[1]]
    r = impl.jacobian(kink, X3[:2], 1e-3, full_output=True)
    assert not r.success
    assert r.message.startswith("1 of 3 outputs failed; first f(x)[1]: the error estimate "
                                "exceeds")

    def blows_up(x):
        return [x[0], x[0] if x[0] < 0.700005 else math.inf]
    r = impl.jacobian(blows_up, [0.7], full_output=True)
    assert not r.success and r.message == (
        "1 of 2 outputs failed; first f(x)[1]: f is not finite at x or near it: the gradient "
        "is not reliable")


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_no_estimate_where_the_doubled_step_has_no_stencil(impl):
    calls = []

    def f(x):
        calls.append(1)
        return [x[0] * 0.5, x[0]]
    r = impl.jacobian(f, [1.7e308], 6e306, full_output=True)  # x + 2h overflows
    assert not r.success and r.nfev == len(calls) == 3  # f(x), x +- h
    assert r.message == "no error estimate: the doubled step has no usable stencil at x[0]"
    assert bits(r.error) == bits([[math.inf], [math.inf]]) and bits(r.jac) == bits(impl.jacobian(f, [1.7e308], 6e306))


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_complex_step_refuses_full_output(impl):
    message = ("full_output=True is not offered by this function yet (gradient() has it); "
               "leave full_output at its default")
    for call in (lambda: impl.jacobian(system, X3, method="complex", full_output=True),
                 lambda: impl.Jacobian(system, method="complex", full_output=True)):
        with pytest.raises(ValueError) as raised:
            call()
        assert str(raised.value) == message


# -- h="adaptive": Richardson per entry ----------------------------------------------

ADAPTIVE = [({}, system), ({"method": "forward", "order": 2}, system),
            ({"bounds": ([0.6, -1.35, 2.0], [0.75, 0.0, 2.2])}, system),
            ({"vectorized": True}, system_rows), ({"order": 4, "args": (3.0,)}, system)]


@pytest.mark.parametrize("options,f", ADAPTIVE)
def test_adaptive_rows_are_gradients_and_the_implementations_agree(options, f):
    results = [impl.jacobian(f, X3, "adaptive", full_output=True, **options) for impl in IMPLS]
    assert fields(results[0]) == fields(results[1])
    r = results[0]
    assert r.jac.shape == r.error.shape == r.step.shape == (3, 3)
    assert bits(fastgrad.jacobian(f, X3, "adaptive", **options)) == bits(r.jac)
    assert bits(fastgrad.reference.jacobian(f, X3, "adaptive", **options)) == bits(r.jac)
    scalar = {k: v for k, v in options.items() if k != "vectorized"}
    for row in range(3):
        g = fastgrad.gradient(lambda x, *a: system(x, *a)[row], X3, "adaptive",
                              full_output=True, **scalar)
        assert (bits(r.jac[row]), bits(r.error[row]), bits(r.step[row])) == \
               (bits(g.grad), bits(g.error), bits(g.step))
    assert np.abs(r.jac - fastgrad.jacobian(f, X3, "auto", **options)).max() < 1e-6


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_adaptive_nfev_prepared_and_workers(impl):
    calls = []

    def f(x):
        calls.append(1)
        return system(x)
    r = impl.jacobian(f, X3, "adaptive", full_output=True)
    assert r.nfev == len(calls) == 10 * (1 + 2 * 3) and r.success  # 10 steps, f(x) each
    prepared = impl.Jacobian(system, "adaptive", full_output=True)(X3)
    spread = impl.jacobian(system, X3, "adaptive", full_output=True, workers=map)
    assert fields(prepared) == fields(spread) == fields(r)
    with pytest.raises(ValueError) as raised:
        impl.jacobian(system, X3, "adaptive", method="complex")
    assert str(raised.value) == ('h="adaptive" extrapolates real stencils; method=\'complex\' '
                                 'has no cancellation and is accurate to rounding with '
                                 'h="auto" or a fixed h')
