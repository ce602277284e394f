"""fastgrad.optimize: scipy.optimize's approx_fprime and check_grad, number for
number, and value_and_grad for minimize(..., jac=True).

The first tests are scipy's own (scipy/optimize/tests/test_optimize.py,
test_check_grad and test_approx_fprime), run against both scipy.optimize and
fastgrad.optimize."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_almost_equal
from scipy import optimize as scipy_optimize
from scipy.optimize import minimize, rosen, rosen_der

import fastgrad
from fastgrad import optimize as fastgrad_optimize


@pytest.fixture(params=["scipy", "fastgrad"])
def optimize(request):
    return {"scipy": scipy_optimize, "fastgrad": fastgrad_optimize}[request.param]


# -- scipy's tests, ported -----------------------------------------------------------

def himmelblau(p):
    x, y = p
    a = x * x + y - 11
    b = x + y * y - 7
    return a * a + b * b


def himmelblau_grad(p):
    x, y = p
    return np.array([4 * x ** 3 + 4 * x * y - 42 * x + 2 * y ** 2 - 14,
                     2 * x ** 2 + 4 * x * y + 4 * y ** 3 - 26 * y - 22])


def himmelblau_hess(p):
    x, y = p
    return np.array([[12 * x ** 2 + 4 * y - 42, 4 * x + 4 * y],
                     [4 * x + 4 * y, 4 * x + 12 * y ** 2 - 26]])


himmelblau_x0 = [-0.27, -0.9]


def expit(x):
    return 1 / (1 + np.exp(-x))


def der_expit(x):
    return np.exp(-x) / (1 + np.exp(-x)) ** 2


def x_sinx(x):
    return (x * np.sin(x)).sum()


def der_x_sinx(x):
    return np.sin(x) + x * np.cos(x)


def test_check_grad(optimize):
    x0 = np.array([1.5])
    assert_almost_equal(optimize.check_grad(expit, der_expit, x0), 0)
    assert_almost_equal(optimize.check_grad(expit, der_expit, x0, direction="random",
                                            seed=1234), 0)
    assert_almost_equal(optimize.check_grad(expit, der_expit, x0, epsilon=1e-6), 0)
    assert_almost_equal(optimize.check_grad(expit, der_expit, x0, epsilon=1e-6,
                                            direction="random", rng=1234), 0)
    # the epsilon parameter is used
    assert abs(optimize.check_grad(expit, der_expit, x0, epsilon=1e-1) - 0) > 1e-7
    assert abs(optimize.check_grad(expit, der_expit, x0, epsilon=1e-1, direction="random",
                                   rng=1234) - 0) > 1e-7
    x0 = np.arange(0, 2, 0.2)
    assert_almost_equal(optimize.check_grad(x_sinx, der_x_sinx, x0, direction="random",
                                            rng=1234), 0)
    with pytest.raises(ValueError):
        optimize.check_grad(x_sinx, der_x_sinx, x0, direction="random_projection", rng=1234)
    # derivatives of vector valued functions
    assert optimize.check_grad(himmelblau_grad, himmelblau_hess, himmelblau_x0,
                               direction="all", rng=1234) < 5e-7


def test_approx_fprime(optimize):
    g = optimize.approx_fprime(himmelblau_x0, himmelblau)
    assert_allclose(g, himmelblau_grad(himmelblau_x0), rtol=5e-6)
    h = optimize.approx_fprime(himmelblau_x0, himmelblau_grad)
    assert_allclose(h, himmelblau_hess(himmelblau_x0), rtol=5e-6)


def test_approx_fprime_docstring_example(optimize):
    def func(x, c0, c1):
        return c0 * x[0] ** 2 + c1 * x[1] ** 2
    eps = np.sqrt(np.finfo(float).eps)
    assert_allclose(optimize.approx_fprime(np.ones(2), func, [eps, np.sqrt(200) * eps], 1, 200),
                    [2.0, 400.00004208], rtol=1e-9)


# -- the same numbers as scipy ----------------------------------------------------------

def vector(x, a=2.0):
    return np.array([x[0] * x[1] - a, np.sin(x[0]) + x[1] ** 3, np.cos(x[1] / 3)])


@pytest.mark.parametrize("f,args", [(himmelblau, ()), (himmelblau_grad, ()), (vector, ()),
                                    (vector, (0.5,)), (lambda x: [x[0] ** 2], ()),
                                    (lambda x: float(x[0] * x[1]), ())])
@pytest.mark.parametrize("x", [[-0.27, -0.9], [1e8, -3.0], [0.0, -0.0], [1e-300, 5e20]])
@pytest.mark.parametrize("epsilon", [None, 1e-6, [1e-3, 1e-9], 1e-30])
def test_approx_fprime_equals_scipy(f, args, x, epsilon):
    extra = () if epsilon is None else (epsilon,)
    ours = fastgrad_optimize.approx_fprime(x, f, *extra, *args)
    theirs = scipy_optimize.approx_fprime(x, f, *extra, *args)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert ours.tobytes() == theirs.tobytes()


def test_approx_fprime_evaluations_and_argument():
    seen = []

    def f(x):
        seen.append(x.copy())
        value = himmelblau(x)
        x[:] = 7.0  # scipy gh13740: f may write to its argument
        return value
    x = np.array(himmelblau_x0)
    g = fastgrad_optimize.approx_fprime(x, f)
    assert len(seen) == 3 and seen[0].tolist() == himmelblau_x0
    assert x.tolist() == himmelblau_x0
    assert g.tobytes() == scipy_optimize.approx_fprime(himmelblau_x0, himmelblau).tobytes()


@pytest.mark.parametrize("kwargs", [dict(), dict(epsilon=1e-4), dict(direction="random", rng=5),
                                    dict(direction="random", seed=5)])
def test_check_grad_equals_scipy(kwargs):
    x0 = np.arange(0.1, 2, 0.3)
    ours = fastgrad_optimize.check_grad(x_sinx, der_x_sinx, x0, **kwargs)
    theirs = scipy_optimize.check_grad(x_sinx, der_x_sinx, x0, **kwargs)
    assert float(ours).hex() == float(theirs).hex()


def test_check_grad_global_random_state():
    x0 = np.arange(0.1, 2, 0.3)
    np.random.seed(11)
    ours = fastgrad_optimize.check_grad(x_sinx, lambda x: 0 * x, x0, direction="random")
    np.random.seed(11)
    theirs = scipy_optimize.check_grad(x_sinx, lambda x: 0 * x, x0, direction="random")
    assert ours == theirs


# -- value_and_grad --------------------------------------------------------------------

def test_value_and_grad_in_minimize():
    calls = []

    def f(x):
        calls.append(1)
        return rosen(x)
    x0 = np.array([-1.2, 1.0, 0.5])
    result = minimize(fastgrad_optimize.value_and_grad(f), x0, jac=True, method="BFGS")
    assert result.success
    assert_allclose(result.x, [1.0, 1.0, 1.0], atol=1e-4)
    assert len(calls) == result.nfev * (len(x0) + 1)  # n + 1 evaluations per call
    assert x0.tolist() == [-1.2, 1.0, 0.5]


@pytest.mark.parametrize("options", [dict(), dict(method="central", h=1e-6),
                                     dict(method="backward", order=2, h=1e-4),
                                     dict(bounds=(-2.0, [1.0, 2.0]))])
def test_value_and_grad_is_f_and_gradient(options):
    fun = fastgrad_optimize.value_and_grad(rosen, **options)
    for x in ([-1.2, 1.0], [0.3, 0.7]):
        value, g = fun(np.array(x))
        assert type(value) is float and value == rosen(np.array(x))
        gradient_options = dict(options)
        gradient_options.setdefault("h", "auto")
        gradient_options.setdefault("method", "forward")
        assert g.tobytes() == fastgrad.gradient(rosen, x, **gradient_options).tobytes()
        assert_allclose(g, rosen_der(np.array(x)), rtol=1e-4)


def test_value_and_grad_args_and_overwriting_f():
    def f(x, a):
        value = a * float(x @ x)
        x[:] = np.nan  # scipy gh13740
        return value
    fun = fastgrad_optimize.value_and_grad(f, method="central", h=1e-3)
    value, g = fun(np.array([1.0, -2.0]), 3.0)
    assert value == 15.0
    assert_allclose(g, [6.0, -12.0], rtol=1e-9)
    result = minimize(fun, [1.0, -2.0], args=(3.0,), jac=True, method="L-BFGS-B")
    assert result.success and np.abs(result.x).max() < 1e-5


def test_value_and_grad_checks_options_once():
    with pytest.raises(ValueError, match="^method must be one of"):
        fastgrad_optimize.value_and_grad(rosen, method="sideways")
    with pytest.raises(TypeError, match=r"^f must return a real scalar, got ndarray of shape "
                                        r"\(2,\); a gradient is of a function with one value"):
        fastgrad_optimize.value_and_grad(lambda x: x)(np.ones(2))


@pytest.mark.parametrize("module", ["fastgrad._jacobian", "fastgrad.optimize"])
def test_docstring_examples(module):
    import doctest
    import importlib
    outcome = doctest.testmod(importlib.import_module(module), verbose=False, report=True)
    assert outcome.failed == 0 and outcome.attempted >= 4
