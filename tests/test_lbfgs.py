"""L-BFGS (optimizer="lbfgs", fastgrad.LBFGS) in both implementations: parity bit for
bit on every tier, convergence counts on Rosenbrock, the line search's exact
behaviour on quadratics, its failure, and the parameters' messages."""
import math

import numpy as np
import pytest

import fastgrad
import fastgrad.reference as reference
from fastgrad.objectives import Himmelblau, Rosenbrock

from _fgtools import assert_same_result


def rosen_py(x):
    total = 0.0
    for i in range(len(x) - 1):
        total += 100.0 * (x[i + 1] - x[i] * x[i]) ** 2 + (1.0 - x[i]) ** 2
    return total


def rosen_rows(X):
    X = np.asarray(X, dtype=float)
    return np.sum(100.0 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1.0 - X[:, :-1]) ** 2, axis=1)


def rosen2(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def himmelblau_py(x):
    return (x[0] ** 2 + x[1] - 11.0) ** 2 + (x[0] + x[1] ** 2 - 7.0) ** 2


def bowl(x):
    return x[0] * x[0] + 10.0 * x[1] * x[1] + math.sin(x[0] * x[1])


def standard_start(n):
    """(-1.2, 1, -1.2, 1, ...)."""
    return [-1.2 if i % 2 == 0 else 1.0 for i in range(n)]


SCIPY_START = [1.3, 0.7, 0.8, 1.9, 1.2] * 2  # scipy's tutorial start, twice (n = 10)

# (f, x0, kwargs): pure-Python, unpack, compiled objectives and a vectorized f.
CASES = {
    "rosen2-unpack": (rosen2, [-1.2, 1.0], {"unpack": True}),
    "rosen-py-n5": (rosen_py, standard_start(5), {}),
    "rosen-compiled-n2": (Rosenbrock(), [-1.2, 1.0], {}),
    "rosen-compiled-n10": (Rosenbrock(), SCIPY_START, {}),
    "rosen-vectorized-n4": (rosen_rows, standard_start(4), {"vectorized": True}),
    "himmelblau-py": (himmelblau_py, [0.3, -2.5], {}),
    "himmelblau-compiled": (Himmelblau(), [-4.0, 4.5], {}),
    "bowl": (bowl, [1.5, -0.5], {}),
}
OPTIMIZERS = ["lbfgs", fastgrad.LBFGS(memory=1), fastgrad.LBFGS(memory=3, c1=0.2, c2=0.3,
                                                                max_linesearch=8)]


def run_both(f, x0, **kwargs):
    return (fastgrad.gradient_descent(f, x0, **kwargs),
            reference.gradient_descent(f, list(x0), **kwargs))


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("method", ["central", "forward"])
def test_bit_identical_to_the_reference(case, optimizer, method):
    f, x0, kwargs = CASES[case]
    updates = []
    for learning_rate, record, ftol, h in [(0.1, True, None, 1e-5), (1.0, False, 1e-10, "auto"),
                                           (1e-3, True, None, 1e-6)]:
        fast, slow = run_both(f, x0, learning_rate=learning_rate, max_iter=200, tol=1e-6,
                              optimizer=optimizer, method=method, record=record, ftol=ftol,
                              h=h, **kwargs)
        assert_same_result(fast, slow, f"lr={learning_rate}, record={record}, ftol={ftol}")
        updates.append(fast.nit)
    assert max(updates) > 1


def test_a_c_callback_runs_the_compiled_tier_bit_identically(c_library):
    # conftest's C Rosenbrock sums as fastgrad.objectives.Rosenbrock does.
    from scipy import LowLevelCallable
    kwargs = dict(learning_rate=0.1, optimizer="lbfgs", record=True, method="forward", h="auto")
    fast = fastgrad.gradient_descent(LowLevelCallable(c_library.rosen), standard_start(6),
                                     **kwargs)
    objective = fastgrad.gradient_descent(Rosenbrock(), standard_start(6), **kwargs)
    slow = reference.gradient_descent(Rosenbrock(), standard_start(6), **kwargs)
    assert_same_result(fast, slow)
    assert_same_result(objective, slow)
    assert fast.converged


# -- convergence: the counts that the benchmark compares with scipy's L-BFGS-B --------

# (x0, method, h, ftol) -> (nit, nfev); tol 1e-5 and learning_rate 0.1 throughout.
# scipy 1.17's minimize(Rosenbrock(), x0, method="L-BFGS-B") (jac=None, forward
# differences) needs 132, 957 and 407 evaluations on the first three
# (benchmarks/lbfgs.py measures both side by side).
COUNTS = [
    ([-1.2, 1.0], "forward", "auto", 2.2e-9, (35, 134)),
    (standard_start(10), "forward", "auto", 2.2e-9, (72, 970)),
    (SCIPY_START, "forward", "auto", 2.2e-9, (30, 354)),
    ([-1.2, 1.0], "central", 1e-5, None, (44, 258)),
    (standard_start(10), "central", 1e-5, None, (78, 1776)),
]


@pytest.mark.parametrize("x0, method, h, ftol, counts", COUNTS)
def test_converges_on_rosenbrock_in_few_evaluations(impl, x0, method, h, ftol, counts):
    r = impl.gradient_descent(Rosenbrock(), x0, 0.1, tol=1e-5, ftol=ftol, method=method, h=h,
                              optimizer="lbfgs")
    assert r.converged, r.message
    assert (r.nit, r.nfev) == counts
    assert np.allclose(r.x, 1.0, rtol=0, atol=1e-4)


def test_memory_1_converges_too(impl):
    r = impl.gradient_descent(rosen_py, [-1.2, 1.0], 0.1, tol=1e-5,
                              optimizer=fastgrad.LBFGS(memory=1))
    assert r.converged, r.message
    assert np.allclose(r.x, 1.0, rtol=0, atol=1e-5)
    # One pair remembered is still far better than no curvature at all.
    armijo = impl.gradient_descent(rosen_py, [-1.2, 1.0], 0.1, tol=1e-5, optimizer="armijo",
                                   max_iter=5000)
    assert r.nfev < armijo.nfev / 10


# -- the line search, step by step on quadratics -----------------------------------------

def parabola(x):
    return x[0] * x[0]


def test_learning_rate_is_the_length_of_the_first_trial_step(impl):
    # f = x^2 from 3: g = 6 (central differences of a quadratic: exact here), so the
    # first trial is x - 0.5 * g / |g| = 2.5; it meets both Wolfe conditions.
    r = impl.gradient_descent(parabola, [3.0], 0.5, optimizer="lbfgs", max_iter=1,
                              record=True)
    assert [float(v) for v in np.ravel(r.path)] == [3.0, 2.5]
    # f at 3, then one gradient (2 evaluations) at 3; the trial: f, then its gradient.
    assert r.nfev == 1 + 2 + 1 + 2


def test_quadratic_interpolation_lands_on_the_minimum_along_the_line(impl):
    # From 1 with a first trial step of length 10: x = -9, f = 81 > f(1), so the
    # search interpolates the quadratic through f(1) = 1, f'(1) = -4 (along d = -2:
    # slope -4) and f(-9): t = 4 * 5 / (2 * (81 - 1 + 20)) = 0.1, the step 0.5:
    # x = 0, the minimum, and the run stops there.
    r = impl.gradient_descent(parabola, [1.0], 10.0, optimizer="lbfgs", record=True)
    assert r.converged and r.nit == 1
    assert abs(float(r.path[1][0])) < 1e-10
    assert r.nfev == 1 + 2 + 1 + 1 + 2 + 0  # f(x0), g(x0), f(-9), f(0), g(0): reused


def test_the_second_update_of_a_round_bowl_is_newton(impl):
    # f = (x - 1)^2 + (y + 2)^2: one pair gives H = (s.y / y.y) I = I / 2, the exact
    # inverse Hessian, so the second update lands on the minimum with the unit step.
    def round_bowl(x, y):
        return (x - 1.0) ** 2 + (y + 2.0) ** 2
    r = impl.gradient_descent(round_bowl, [3.0, 5.0], 1.0, unpack=True, optimizer="lbfgs",
                              tol=1e-8)
    assert r.converged and r.nit == 2, r.message
    assert np.allclose(r.x, [1.0, -2.0], rtol=0, atol=1e-9)


def test_an_ill_conditioned_quadratic_in_few_updates(impl):
    # Plain gradient steps need 138 updates here (see fastgrad.SGD); L-BFGS a few.
    def quadratic(x, y):
        return x * x + 10.0 * y * y
    r = impl.gradient_descent(quadratic, [1.0, 1.0], 0.1, unpack=True, optimizer="lbfgs",
                              tol=1e-8)
    assert r.converged and r.nit == 7, r.message


def test_trial_points_where_f_is_not_finite_shorten_the_step(impl):
    # f is inf left of 0; the first trial (x = 3 - 100) lands there: the search shrinks
    # the step and the run converges, never reporting trouble.
    def walled(x):
        return (x[0] - 1.0) ** 2 if x[0] > 0.0 else math.inf
    r = impl.gradient_descent(walled, [3.0], 100.0, optimizer="lbfgs", tol=1e-8)
    assert r.converged, r.message
    assert abs(float(r.x[0]) - 1.0) < 1e-8


def test_a_failed_line_search_stops_at_the_last_iterate(impl):
    # max_linesearch=1 and a first trial far too long: no step, so the run stops at x0.
    r = impl.gradient_descent(parabola, [1.0], 10.0, optimizer=fastgrad.LBFGS(max_linesearch=1))
    assert not r.converged
    assert (r.nit, float(r.x[0]), r.fun, r.nfev) == (0, 1.0, 1.0, 1 + 2 + 1)
    assert r.message == ("stopped at iteration 0: the line search found no step satisfying "
                         "the Wolfe conditions in 1 trials, nor along -g (gradient norm 2); "
                         "x is the last iterate")


def test_a_failure_later_in_the_run_keeps_its_progress(impl):
    # Forward differences with h = 1e-5 are off by ~1e-3 near Rosenbrock's minimum:
    # there the slopes along d are noise, no step meets the curvature condition
    # (nor along -g), and the run stops where it was, with everything it gained.
    f = Rosenbrock()
    r = impl.gradient_descent(f, [-1.2, 1.0], 0.1, optimizer="lbfgs", method="forward",
                              tol=1e-8)
    assert not r.converged
    assert (r.nit, r.nfev) == (35, 331)
    assert r.message == ("stopped at iteration 35: the line search found no step satisfying "
                         "the Wolfe conditions in 20 trials, nor along -g (gradient norm "
                         "0.000640672); x is the last iterate")
    assert r.fun == f(r.x) and r.fun < 1e-5
    assert np.allclose(r.x, 1.0, rtol=0, atol=1e-2)


def test_the_named_optimizer_is_the_default_object():
    a = fastgrad.gradient_descent(rosen_py, [-1.2, 1.0], optimizer="lbfgs")
    b = fastgrad.gradient_descent(rosen_py, [-1.2, 1.0], optimizer=fastgrad.LBFGS())
    assert_same_result(a, b)
    assert fastgrad.LBFGS() == fastgrad.LBFGS(10, 1e-4, 0.9, 20)
    assert reference.LBFGS is fastgrad.LBFGS


# -- parameters ------------------------------------------------------------------------

BAD = [
    (dict(memory=0), ValueError, "memory must be a positive int, got 0"),
    (dict(memory=2.0), ValueError, "memory must be a positive int, got 2.0"),
    (dict(memory=True), ValueError, "memory must be a positive int, got True"),
    (dict(max_linesearch=0), ValueError, "max_linesearch must be a positive int, got 0"),
    (dict(c1=0.0), ValueError, "c1 must be in (0, 1), got 0.0"),
    (dict(c1=1), ValueError, "c1 must be in (0, 1), got 1"),
    (dict(c2=1.0), ValueError, "c2 must be in (0, 1), got 1.0"),
    (dict(c1="0.1"), TypeError, "c1 must be a real number, got str '0.1'"),
    (dict(c2=None), TypeError, "c2 must be a real number, got NoneType None"),
    (dict(c1=0.5, c2=0.5), ValueError,
     "c2 must be greater than c1 (the Wolfe conditions need 0 < c1 < c2 < 1), "
     "got c1=0.5 and c2=0.5"),
    (dict(c2=1e-5), ValueError,
     "c2 must be greater than c1 (the Wolfe conditions need 0 < c1 < c2 < 1), "
     "got c1=0.0001 and c2=1e-05"),
]


@pytest.mark.parametrize("kwargs, error, message", BAD)
def test_bad_parameters_name_themselves(kwargs, error, message):
    with pytest.raises(error) as info:
        fastgrad.LBFGS(**kwargs)
    assert str(info.value) == message


def test_parameters_are_normalised():
    opt = fastgrad.LBFGS(memory=np.int64(3), c1=np.float32(0.25), max_linesearch=2)
    assert (opt.memory, opt.c1, opt.c2, opt.max_linesearch) == (3, 0.25, 0.9, 2)
    assert type(opt.memory) is int and type(opt.c1) is float


def test_an_unknown_name_lists_lbfgs(impl):
    with pytest.raises(ValueError) as info:
        impl.gradient_descent(rosen_py, [1.0, 2.0], optimizer="bfgs")
    assert str(info.value) == (
        "optimizer must be one of 'sgd', 'momentum', 'nesterov', 'adam', 'armijo', 'lbfgs' "
        "or an SGD, Momentum, Adam, Armijo or LBFGS object, got 'bfgs'")


def test_parameters_beyond_any_run_are_fine():
    # memory and max_linesearch beyond the C integer range: the pairs grow as they
    # come (never 10**30 rows up front), and the results are the reference's.
    huge = fastgrad.LBFGS(memory=10**30, max_linesearch=10**30)
    fast, slow = run_both(Rosenbrock(), standard_start(4), optimizer=huge, record=True)
    assert_same_result(fast, slow)
    assert fast.converged
    assert fast.nit < 1000  # so memory=1000 keeps every pair too
    assert_same_result(fast, fastgrad.gradient_descent(
        Rosenbrock(), standard_start(4), optimizer=fastgrad.LBFGS(memory=1000), record=True))


def test_a_linear_f_ends_with_a_failed_search_not_a_hang(impl):
    # f = -x - y falls forever: the step doubles in each trial and never meets the
    # curvature condition, so after max_linesearch trials (along -g: no pairs to
    # drop) the run stops at x0.
    r = impl.gradient_descent(lambda x, y: -x - y, [0.0, 0.0], unpack=True, optimizer="lbfgs")
    assert (r.nit, r.converged, r.nfev) == (0, False, 1 + 4 + 20 * 5)
    assert r.message.startswith("stopped at iteration 0: the line search found no step")


def test_bounds_are_refused_before_f_is_called(impl):
    calls = []

    def f(x):
        calls.append(1)
        return x[0] ** 2

    with pytest.raises(ValueError) as info:
        impl.gradient_descent(f, [1.0], optimizer="lbfgs", bounds=([0.0], [2.0]))
    assert str(info.value) == (
        "bounds are not supported by LBFGS(memory=10, c1=0.0001, c2=0.9, max_linesearch=20): "
        "its line search and curvature pairs assume steps that are not projected (L-BFGS-B is "
        "not implemented); use optimizer='sgd' or 'armijo' with bounds")
    assert calls == []
