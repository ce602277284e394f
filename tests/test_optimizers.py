"""Descent methods (SGD, Momentum, Nesterov, Adam, Armijo, L-BFGS) and stopping rules, in both implementations."""
import math

import numpy as np
import pytest

import fastgrad
import fastgrad.reference as reference
from fastgrad.objectives import Himmelblau, Rosenbrock

from _fgtools import assert_same_result

OPTIMIZERS = [None, "sgd", "momentum", "nesterov", "adam", "armijo",
              fastgrad.Momentum(0.5, dampening=0.25), fastgrad.Adam(beta1=0.8, beta2=0.99, eps=1e-6),
              fastgrad.Armijo(c=0.3, shrink=0.7, max_backtracks=10), "lbfgs",
              fastgrad.LBFGS(memory=2, c2=0.5)]


def ids(optimizer):
    return repr(optimizer)


def quadratic(x, y):
    return x * x + 10.0 * y * y + math.sin(x * y)


def rows(X):
    X = np.asarray(X, dtype=float)
    return X[:, 0] ** 2 + 10.0 * X[:, 1] ** 2 + np.sin(X[:, 0] * X[:, 1])


TIERS = {
    "python": (lambda v: v[0] * v[0] + 10.0 * v[1] * v[1] + math.sin(v[0] * v[1]), {}),
    "unpack": (quadratic, {"unpack": True}),
    "compiled": (Himmelblau(), {}),
}


def run_both(f, x0, **kwargs):
    return (fastgrad.gradient_descent(f, x0, **kwargs),
            reference.gradient_descent(f, list(x0), **kwargs))


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=ids)
@pytest.mark.parametrize("tier", sorted(TIERS))
@pytest.mark.parametrize("method", ["central", "forward"])
def test_every_optimizer_is_bit_identical_to_the_reference(optimizer, tier, method):
    f, kwargs = TIERS[tier]
    for record, ftol in [(False, None), (True, None), (False, 1e-9)]:
        fast, slow = run_both(f, [1.5, -0.5], learning_rate=0.02, max_iter=300, tol=1e-7,
                              optimizer=optimizer, method=method, record=record, ftol=ftol,
                              **kwargs)
        assert_same_result(fast, slow, f"record={record}, ftol={ftol}")


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=ids)
def test_vectorized_tier_runs_the_same_descent(optimizer):
    kwargs = dict(learning_rate=0.02, max_iter=200, tol=1e-7, optimizer=optimizer, record=True)
    fast = fastgrad.gradient_descent(rows, [1.5, -0.5], vectorized=True, **kwargs)
    slow = reference.gradient_descent(rows, [1.5, -0.5], vectorized=True, **kwargs)
    assert_same_result(fast, slow)
    # Row-wise numpy and scalar math agree here to within rounding of f.
    python = fastgrad.gradient_descent(TIERS["python"][0], [1.5, -0.5], **kwargs)
    assert np.allclose(fast.x, python.x, rtol=1e-7, atol=1e-9)


def square(x):
    return x[0] * x[0]


def test_momentum_first_updates_by_hand():
    # f = x^2, g = 2x (the central difference of a quadratic is exact up to rounding).
    # b0 = g0 = 2 (torch starts the buffer at the first gradient); x1 = 1 - 0.1 * 2
    # b1 = 0.9 * 2 + g1 = 1.8 + 1.6 = 3.4;                       x2 = 0.8 - 0.34
    r = fastgrad.gradient_descent(square, [1.0], 0.1, optimizer="momentum", max_iter=2, record=True)
    assert np.allclose(r.path[:, 0], [1.0, 0.8, 0.46], rtol=0, atol=1e-9)
    # Nesterov: d0 = g0 + 0.9 b0 = 3.8, x1 = 0.62; g1 = 1.24, b1 = 1.8 + 1.24 = 3.04,
    # d1 = 1.24 + 0.9 * 3.04 = 3.976, x2 = 0.62 - 0.3976 = 0.2224
    r = fastgrad.gradient_descent(square, [1.0], 0.1, optimizer="nesterov", max_iter=2, record=True)
    assert np.allclose(r.path[:, 0], [1.0, 0.62, 0.2224], rtol=0, atol=1e-9)
    # Dampening 0.5: b1 = 0.9 * 2 + 0.5 * 1.6 = 2.6, x2 = 0.8 - 0.26
    r = fastgrad.gradient_descent(square, [1.0], 0.1, optimizer=fastgrad.Momentum(0.9, dampening=0.5),
                                  max_iter=2, record=True)
    assert np.allclose(r.path[:, 0], [1.0, 0.8, 0.54], rtol=0, atol=1e-9)


def test_adam_first_update_is_a_unit_step_by_learning_rate():
    # After one update m_hat = g and v_hat = g^2, so x1 = x0 - lr * g / (|g| + eps).
    r = fastgrad.gradient_descent(square, [1.0], 0.1, optimizer="adam", max_iter=1, record=True)
    assert abs(r.path[1, 0] - (1.0 - 0.1 * 2.0 / (2.0 + 1e-8))) < 1e-9
    # Second update by hand: g1 = 2 * x1
    x1 = r.path[1, 0]
    g0, g1 = 2.0, 2.0 * x1
    m = 0.9 * (0.1 * g0) + 0.1 * g1
    v = 0.999 * (0.001 * g0 * g0) + 0.001 * g1 * g1
    x2 = x1 - 0.1 * (m / (1 - 0.9 ** 2)) / (math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8)
    r2 = fastgrad.gradient_descent(square, [1.0], 0.1, optimizer="adam", max_iter=2, record=True)
    assert abs(r2.path[2, 0] - x2) < 1e-9


def test_armijo_backtracks_until_sufficient_decrease(impl):
    # f = x^2 from 1 with lr = 1: s = 1 gives x = -1, f = 1 > 1 - 1e-4 * 1 * 4 (rejected);
    # s = 0.5 gives x = 0, f = 0 (accepted).  Then the gradient at 0 is 0: converged.
    r = impl.gradient_descent(square, [1.0], 1.0, optimizer="armijo", record=True)
    assert r.converged and r.nit == 1
    assert abs(float(r.path[1][0])) < 1e-9
    # f(x0) once, 2 trial points, 2 gradients of 2 points each.
    assert r.nfev == 1 + 2 + 2 * 2


def spike(x):
    # The finite-difference gradient at 1 says "go left", but f jumps up for steps >= 1e-3.
    return x[0] if abs(x[0] - 1.0) < 1e-3 else 100.0


def test_failed_line_search_stops_at_the_last_iterate(impl):
    r = impl.gradient_descent(spike, [1.0], 1.0, optimizer=fastgrad.Armijo(max_backtracks=5))
    assert not r.converged and r.nit == 0
    assert list(r.x) == [1.0]
    assert r.message == ("stopped at iteration 0: no step satisfied the Armijo condition "
                         "after 5 backtracks")
    # With enough backtracks the step shrinks below 1e-3 and is accepted.
    r = impl.gradient_descent(spike, [1.0], 1.0, optimizer="armijo", max_iter=1)
    assert r.nit == 1 and 1.0 - 1e-3 < float(r.x[0]) < 1.0


def test_ftol_stops_converged_with_its_message(impl):
    r = impl.gradient_descent(quadratic, [1.0, -1.0], 0.01, unpack=True, tol=0.0, ftol=1e-3,
                              record=True)
    assert r.converged
    assert r.message.startswith(f"converged: the relative change of f in update {r.nit} is <= ftol 0.001")
    f = list(r.path_fun)
    assert abs(f[-2] - f[-1]) <= 1e-3 * max(abs(f[-2]), abs(f[-1]), 1.0)
    assert all(abs(a - b) > 1e-3 * max(abs(a), abs(b), 1.0) for a, b in zip(f[:-2], f[1:-1]))


def test_recorded_values_are_f_at_the_recorded_iterates(impl):
    for optimizer in ("adam", "armijo", "momentum"):
        r = impl.gradient_descent(quadratic, [1.0, -1.0], 0.01, unpack=True, max_iter=20,
                                  optimizer=optimizer, record=True)
        assert len(r.path) == r.nit + 1 == len(r.path_fun)
        assert [quadratic(*p) for p in r.path] == list(r.path_fun)
        assert r.fun == r.path_fun[-1]


def test_callback_stops_every_optimizer(impl):
    for optimizer in ("momentum", "adam", "armijo"):
        seen = []
        r = impl.gradient_descent(quadratic, [1.0, -1.0], 0.01, unpack=True, optimizer=optimizer,
                                  callback=lambda x: seen.append(list(x)) or len(seen) == 3)
        assert r.nit == 3 and len(seen) == 3
        assert r.message == "stopped by callback after 3 updates"
        assert list(r.x) == seen[-1]


def test_compiled_descent_with_every_optimizer_converges_on_rosenbrock():
    results = {o: fastgrad.gradient_descent(Rosenbrock(), [-1.2, 1.0], lr, max_iter=100000, tol=1e-5,
                                            optimizer=o)
               for o, lr in [("adam", 0.01), ("nesterov", 5e-4), ("armijo", 1.0)]}
    for optimizer, r in results.items():
        assert r.converged, (optimizer, r.message)
        assert np.allclose(r.x, [1.0, 1.0], atol=1e-3), (optimizer, r.x)


@pytest.mark.parametrize("bad,error,words", [
    ("rmsprop", ValueError, "optimizer must be one of 'sgd', 'momentum', 'nesterov', 'adam', 'armijo'"),
    (3, ValueError, "optimizer must be one of"),
])
def test_bad_optimizer(impl, bad, error, words):
    with pytest.raises(error, match=words):
        impl.gradient_descent(square, [1.0], optimizer=bad)


@pytest.mark.parametrize("make,error,words", [
    (lambda: fastgrad.Momentum(1.0), ValueError, r"momentum must be in \[0, 1\), got 1.0"),
    (lambda: fastgrad.Momentum(-0.1), ValueError, r"momentum must be in \[0, 1\)"),
    (lambda: fastgrad.Momentum("0.5"), TypeError, "momentum must be a real number"),
    (lambda: fastgrad.Momentum(0.9, dampening=1.5), ValueError, "dampening must be in"),
    (lambda: fastgrad.Momentum(0.9, nesterov=1), TypeError, "nesterov must be True or False"),
    (lambda: fastgrad.Momentum(0.9, dampening=0.1, nesterov=True), ValueError, "Nesterov momentum requires"),
    (lambda: fastgrad.Adam(beta1=1.0), ValueError, r"beta1 must be in \[0, 1\)"),
    (lambda: fastgrad.Adam(beta2=-1), ValueError, "beta2 must be in"),
    (lambda: fastgrad.Adam(eps=0.0), ValueError, "eps must be positive and finite"),
    (lambda: fastgrad.Armijo(c=0.0), ValueError, r"c must be in \(0, 1\)"),
    (lambda: fastgrad.Armijo(shrink=1.0), ValueError, r"shrink must be in \(0, 1\)"),
    (lambda: fastgrad.Armijo(max_backtracks=-1), ValueError, "max_backtracks must be a non-negative int"),
    (lambda: fastgrad.Armijo(max_backtracks=2.5), ValueError, "max_backtracks must be a non-negative int"),
])
def test_bad_optimizer_parameters(make, error, words):
    with pytest.raises(error, match=words):
        make()


@pytest.mark.parametrize("ftol", [-1.0, float("nan"), "1e-3"])
def test_bad_ftol(impl, ftol):
    with pytest.raises(ValueError, match="ftol must be None or a real number >= 0"):
        impl.gradient_descent(square, [1.0], ftol=ftol)


def test_optimizers_are_immutable_and_shared():
    m = fastgrad.Momentum()
    with pytest.raises(AttributeError, match="cannot assign to field 'momentum'"):
        m.momentum = 0.5
    assert fastgrad.Momentum is reference.Momentum and fastgrad.Adam is reference.Adam


# The first six iterates of torch.optim.SGD (torch 2.13.0, float64) on
# f(x, y) = x^2 + 10 y^2 + sin(x y) from (1.5, -0.5), lr = 0.02, each step fed
# the gradient fastgrad.reference.gradient computes at the current iterate.
# torch's kernels fuse multiply-adds, so the iterates differ in the last bits, and a
# finite-difference gradient turns an ulp of x into noise of about eps |f| / h ~ 5e-11
# (times lr per step): agreement to 1e-9 is rounding; a wrong rule is off by ~1e-2.
TORCH_SGD = {
    "momentum": (fastgrad.Momentum(0.9), [
        (1.447316888687777, -0.3219506660654013),
        (1.3477619539589891, -0.058786326838646034),
        (1.2054240727651766, 0.17470543013307843),
        (1.0256861039045337, 0.291389989242075),
        (0.8173250434212064, 0.2602457798838311),
        (0.592019472907531, 0.1121395736781992),
    ]),
    "nesterov": (fastgrad.Momentum(0.9, nesterov=True), [
        (1.3999020885067763, -0.16170626552426248),
        (1.2568242736977449, 0.05357138061574454),
        (1.078064519393049, 0.12529699960714147),
        (0.8767376964146886, 0.09588833222956195),
        (0.6663257271610724, 0.027682344857025483),
        (0.45854490076454885, -0.029812352953857875),
    ]),
    "dampened": (fastgrad.Momentum(0.5, dampening=0.25), [
        (1.447316888687777, -0.3219506660654013),
        (1.3818702321208252, -0.15573604508388963),
        (1.3099729502529467, -0.04615782415088249),
        (1.2354162228850718, 0.0028649485781555915),
        (1.1610323985549857, 0.00798572310031211),
        (1.0888897337354773, -0.009264343998557988),
    ]),
}


@pytest.mark.parametrize("name", sorted(TORCH_SGD))
def test_momentum_follows_torch_sgd(impl, name):
    optimizer, torch_path = TORCH_SGD[name]
    r = impl.gradient_descent(quadratic, [1.5, -0.5], 0.02, unpack=True, optimizer=optimizer,
                              max_iter=6, tol=0.0, record=True)
    assert np.allclose(np.asarray(r.path)[1:], torch_path, rtol=0, atol=1e-9)


def test_ftol_and_armijo_stop_where_f_is_not_finite(impl):
    # f is inf for x < 0.5: with ftol, |f_k - inf| <= ftol * inf would pass for
    # "converged"; the run stops instead, at the last x where f is finite.
    def f(p):
        return p[0] * p[0] if p[0] >= 0.5 else math.inf

    r = impl.gradient_descent(f, [3.0], 0.3, max_iter=100, ftol=1e-3)
    assert not r.converged and r.nit == 1  # 3 -> 1.2 -> (-0.48: f = inf)
    assert r.message == "stopped at iteration 1: f is not finite at the next x"
    assert abs(float(r.x[0]) - 1.2) < 1e-9 and r.fun == float(r.x[0]) ** 2
    # Armijo backtracks out of the inf region (inf fails its test) and never steps into it.
    r = impl.gradient_descent(f, [3.0], 0.3, max_iter=100, optimizer="armijo")
    assert not r.converged and float(r.x[0]) >= 0.5 and math.isfinite(r.fun)


def test_optimizer_subclasses_keep_their_rule(impl):
    class MyAdam(fastgrad.Adam):
        pass

    mine = impl.gradient_descent(quadratic, [1.0, -1.0], 0.05, unpack=True, max_iter=30,
                                 optimizer=MyAdam())
    adam = impl.gradient_descent(quadratic, [1.0, -1.0], 0.05, unpack=True, max_iter=30,
                                 optimizer="adam")
    assert_same_result(mine, adam)


def test_compiled_descent_with_a_callback(impl):
    seen = []
    r = impl.gradient_descent(Rosenbrock(), [-1.2, 1.0], 1e-3, max_iter=50, optimizer="nesterov",
                              callback=lambda x: seen.append(list(x)))
    assert r.nit == 50 and len(seen) == 50 and seen[-1] == list(r.x)
    slow = reference.gradient_descent(Rosenbrock(), [-1.2, 1.0], 1e-3, max_iter=50,
                                      optimizer="nesterov")
    assert_same_result(r, slow)  # a callback that returns None changes nothing


def test_armijo_with_unlimited_backtracks(impl):
    import sys
    o = fastgrad.Armijo(max_backtracks=sys.maxsize)
    r = impl.gradient_descent(quadratic, [1.0, 1.0], 10.0, unpack=True, optimizer=o, max_iter=20)
    assert r.nit == 20 and r.message.startswith("max_iter reached")
    big = fastgrad.Armijo(max_backtracks=sys.maxsize + 1)
    assert_same_result(impl.gradient_descent(quadratic, [1.0, 1.0], 10.0, unpack=True,
                                             optimizer=big, max_iter=20), r)
