"""Defects found by an adversarial pass over wave 2's public surface as a
scipy / numdifftools user would drive it (derivative, workers= with odd map
callables, scipy's callback convention).  Each test states the promised
behaviour and failed while the defect was there."""
import warnings

import numpy as np
import pytest

import fastgrad

from _fgtools import engines, fork_pool, mp_pool, thread_pool  # noqa: F401 (fixtures)


def _e32(t):
    return np.float32(t) ** 2


def _e64(t):
    return np.float64(t) ** 2


# -- 1. derivative never warned of a float32 f with a fixed h (gradient does):
#       derivative(lambda t: np.float32(t) ** 2, 2.0) -> 4.0054 silently -----------

@pytest.mark.parametrize("x", [2.0, [1.0, 2.0]])
def test_derivative_warns_of_a_float32_f_with_a_fixed_h(impl, x):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = impl.derivative(_e32, x)
    assert [w.category for w in caught] == [fastgrad.PrecisionWarning]
    assert str(caught[0].message) == str(fastgrad._contract.low_precision_warning())
    # the values are still given, the same as without the warning
    assert np.asarray(got).tolist() == (4.00543212888001 if x == 2.0
                                        else [2.002716064451122, 4.00543212888001])


@pytest.mark.parametrize("f, kwargs", [
    (_e64, {}),                              # double precision: nothing to say
    (_e32, {"h": "auto"}),                   # a step rule: no fixed h to warn of
    (lambda t: t * (1 + 1j), {"method": "complex"}),  # no difference quotient
])
def test_derivative_stays_quiet_otherwise(impl, f, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        impl.derivative(f, [1.0, 2.0], **kwargs)


# -- 2. a map-like workers= that returns too few results gave a silently wrong
#       gradient: gradient(f, [1, 2], workers=lambda fn, it: list(map(fn, it))[:-1])
#       -> [2.0, 250002.0] in fastgrad, a bare StopIteration in the reference; too
#       many: IndexError in fastgrad, silently ignored in the reference -------------

def _short(func, items):
    return [func(item) for item in items][:-1]


def _long(func, items):
    return [func(item) for item in items] * 2


def _nones(func, items):
    return [None for _ in items]


def _nothing(func, items):
    return None


MAP_PROBLEMS = {
    _short: "fewer results than items",
    _long: "more results than items",
    _nones: "NoneType None where a result of func belongs",
    _nothing: "NoneType None, not an iterable of results",
}

CALLS = {
    "gradient": lambda m, w: m.gradient(lambda p: p[0] ** 2 + p[1] ** 2, [1.0, 2.0], workers=w),
    "jacobian": lambda m, w: m.jacobian(lambda p: [p[0], p[1] ** 2], [1.0, 2.0], workers=w),
    "derivative": lambda m, w: m.derivative(_e64, [1.0, 2.0], workers=w),
    "hessian": lambda m, w: m.hessian(lambda p: p[0] ** 2 * p[1], [1.0, 2.0], workers=w),
    "gradient_batch": lambda m, w: m.gradient_batch(lambda p: p[0] * p[1], [[1.0, 2.0]] * 3,
                                                    workers=w),
    "gradient_descent": lambda m, w: m.gradient_descent(lambda p: p[0] ** 2, [1.0], max_iter=2,
                                                        workers=w),
}


@pytest.mark.parametrize("workers", sorted(MAP_PROBLEMS, key=lambda w: w.__name__))
@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_map_that_does_not_map_is_named(impl, name, workers):
    with pytest.raises(TypeError) as caught:
        CALLS[name](impl, workers)
    assert str(caught.value) == (
        "workers must map like map(func, iterable), one result of func per item in order; "
        f"it returned {MAP_PROBLEMS[workers]}")


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_map_generator_is_a_map(impl, name):
    def lazily(func, items):  # a generator of the results, as map itself
        return (func(item) for item in items)
    assert np.asarray(getattr(CALLS[name](impl, lazily), "x", CALLS[name](impl, lazily))).tolist() \
        == np.asarray(getattr(CALLS[name](impl, None), "x", CALLS[name](impl, None))).tolist()


# -- 3. scipy calls an intermediate_result callback by keyword, so a keyword-only
#       parameter works there; fastgrad called it by position: TypeError
#       "<lambda>() takes 0 positional arguments but 1 was given" ------------------

@pytest.mark.parametrize("optimizer", [None, "adam", "lbfgs"])
def test_keyword_only_intermediate_result(impl, optimizer):
    seen = []

    def callback(*, intermediate_result):
        seen.append((intermediate_result.nit, list(intermediate_result.x)))
        if intermediate_result.nit == 1:
            raise StopIteration

    r = impl.gradient_descent(lambda p: (p[0] - 1.0) ** 2 + p[1] ** 2, [3.0, 1.0],
                              optimizer=optimizer, callback=callback)
    assert [nit for nit, _ in seen] == [1]
    assert seen[-1][1] == list(r.x)
    assert r.message == "stopped by callback after 1 updates"


# -- 4. Jacobian(f, h=-1) and value_and_grad(f, h=-1) were made without a word
#       (Gradient(f, h=-1) refuses at once; "checks the options once"): the error
#       came at the first call, inside scipy.optimize.minimize for value_and_grad -

@pytest.mark.parametrize("h, error, message", [
    (-1, ValueError, "h must be positive and finite, got -1"),
    (0.0, ValueError, "h must be positive and finite, got 0.0"),
    (True, TypeError, "h must be a positive finite real number, got bool True"),
])
def test_prepared_jacobian_checks_a_number_h_when_made(impl, h, error, message):
    for make in (impl.Gradient, impl.Jacobian):
        with pytest.raises(error) as caught:
            make(lambda p: [p[0]], h=h)
        assert str(caught.value) == message


def test_value_and_grad_checks_a_number_h_when_made():
    import fastgrad.optimize
    with pytest.raises(ValueError) as caught:
        fastgrad.optimize.value_and_grad(lambda p: p[0], h=-1)
    assert str(caught.value) == "h must be positive and finite, got -1"


def test_prepared_jacobian_checks_the_rest_of_h_per_call(impl):
    J = impl.Jacobian(lambda p: [p[0]], h=[1e-3, 1e-3])  # its length needs n
    with pytest.raises(ValueError) as caught:
        J([1.0])
    assert str(caught.value) == "h must be a scalar or a sequence of n=1 steps, got 2"


# -- 5. fastgrad.optimize.approx_fprime named the step `h` (its parameter is
#       epsilon): approx_fprime([1, 2], f, nan) -> "h[0] = nan gives no usable
#       step at x[0] = 1.0"; an epsilon of another length: numpy's broadcast error -

@pytest.mark.parametrize("epsilon, message", [
    (float("nan"), "epsilon gives no usable step at xk[0] = 1.0: (xk[0] + nan) - xk[0] "
                   "is not finite"),
    ([1e-6, float("inf")], "epsilon gives no usable step at xk[1] = 2.0: (xk[1] + inf) - "
                           "xk[1] is not finite"),
    ([1e-6, 1e-7, 1.0], "epsilon must be a number or a sequence of n = 2 of them, "
                        "got shape (3,)"),
    ([[1e-6, 1e-7]], "epsilon must be a number or a sequence of n = 2 of them, "
                     "got shape (1, 2)"),
])
def test_approx_fprime_names_epsilon(epsilon, message):
    from fastgrad.optimize import approx_fprime
    with pytest.raises(ValueError) as caught:
        approx_fprime([1.0, 2.0], lambda x: x[0] * x[1], epsilon)
    assert str(caught.value) == message


@pytest.mark.parametrize("xk, epsilon", [([1.0, 2.0], [1e-6]), (1.5, [1e-6]),
                                          ([1.0, 2.0], np.array([1e-6, 1e-7])),
                                          ([1.0, 2.0], 0.0), ([0.0, -3.0], -1e-6)])
def test_approx_fprime_steps_still_scipys(xk, epsilon):
    from fastgrad.optimize import approx_fprime
    f = lambda x: float(x[0] ** 3 * (x[-1] + 2.0))  # noqa: E731
    got = approx_fprime(xk, f, epsilon)
    # scipy's arithmetic: f(xk) first, then (f(xk + h_i e_i) - f(xk)) / ((xk_i + h_i) - xk_i)
    x0 = np.atleast_1d(np.asarray(xk, float))
    h = np.broadcast_to(np.asarray(epsilon, float).reshape(-1), x0.shape)
    h = np.where((x0 + h) - x0 == 0, float(np.sqrt(np.finfo(float).eps)) *
                 np.where(x0 >= 0, 1.0, -1.0) * np.maximum(1.0, np.abs(x0)), h)
    want = []
    for i in range(x0.size):
        xi = x0.copy()
        xi[i] = x0[i] + h[i]
        want.append((f(xi) - f(x0)) / (xi[i] - x0[i]))
    assert got.tolist() == want


# -- 6. f raising StopIteration with a map-like workers= (map, Executor.map,
#       Pool.map): map took it for the end of its results -- a silently short
#       result list (a wrong gradient, or an IndexError), or "generator raised
#       StopIteration" from Executor.map; serial and Executors raise f's own -----

def stops(x, *args):
    """f of a scalar (x a list, an array or a float): StopIteration off x = 1."""
    first = x if isinstance(x, float) else np.asarray(x).reshape(-1)[0]
    if first != 1.0:
        raise StopIteration("f stopped")
    return first * 1.0


def stops_vector(x):
    return [stops(x)]


STOP_CALLS = {
    "gradient": lambda m, w: m.gradient(stops, [1.0], workers=w),
    "jacobian": lambda m, w: m.jacobian(stops_vector, [1.0], workers=w),
    "derivative": lambda m, w: m.derivative(stops, [1.0], workers=w),
    "hessian": lambda m, w: m.hessian(stops, [1.0], workers=w),
    "gradient_batch": lambda m, w: m.gradient_batch(stops, [[1.0]], workers=w),
    "gradient_descent": lambda m, w: m.gradient_descent(stops, [1.0], workers=w),
    "check_grad": lambda m, w: m.check_grad(stops, lambda p: [1.0], [1.0], workers=w),
}

engine = engines("map", "threads.map", "Pool.map", "threads")


@pytest.mark.parametrize("name", sorted(STOP_CALLS))
def test_f_raising_stop_iteration_propagates_from_every_map(impl, engine, name):
    with pytest.raises(StopIteration) as caught:
        STOP_CALLS[name](impl, engine)
    assert str(caught.value) == "f stopped"
    if engine is map or not hasattr(engine, "__self__") or \
            type(engine.__self__).__module__ == "concurrent.futures.thread":
        assert "stops" in [entry.name for entry in caught.traceback]  # f's frame, in-process


# -- 7. fastgrad.dask.multistart_descent read X0 with np.array(X0, float): a
#       complex X0 was cast to its real part (a ComplexWarning, and descents from
#       other points); ragged rows or strings gave numpy's messages, not naming X0;
#       client=3: AttributeError "'int' object has no attribute 'map'" -------------

@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


@pytest.mark.parametrize("X0, error, message", [
    (np.array([[1.0, 2.0], [1 + 1j, 2.0]]), TypeError,
     "X0[0]: x must hold real numbers, but x[0] is complex128 np.complex128(1+0j)"),
    ([[1.0, 2.0], [1.0]], ValueError,
     "X0 must be a 2-D array of start points, one per row, got rows of different lengths"),
    ([["a", "b"]], TypeError, "X0[0]: x must hold real numbers, but x[0] is str 'a'"),
    ([[1.0, 2.0], [float("nan"), 2.0]], ValueError, "X0[1]: x must be finite, but x[0] = nan"),
    ([[1.0, 2.0]] * 0, ValueError,
     "X0 must be a 2-D array of start points, one per row, got shape (0,)"),
])
def test_multistart_descent_reads_x0_as_gradient_descent_does(client, X0, error, message):
    import fastgrad.dask
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning: refused, not cast
        with pytest.raises(error) as caught:
            fastgrad.dask.multistart_descent(lambda p: p[0] ** 2 + p[1] ** 2, X0, client=client)
    assert str(caught.value) == message


def test_multistart_descent_names_a_wrong_client():
    import fastgrad.dask
    with pytest.raises(TypeError) as caught:
        fastgrad.dask.multistart_descent(lambda p: p[0] ** 2, [[1.0]], client=3)
    assert str(caught.value) == "client must be a dask.distributed.Client or None, got int 3"


def test_multistart_descent_still_takes_dask_and_int_rows(client):
    import dask.array as da
    import fastgrad.dask
    f = lambda p: (p[0] - 1.0) ** 2 + p[1] ** 2  # noqa: E731
    for X0 in (da.from_array(np.array([[3.0, 1.0], [0.0, 2.0]]), chunks=(1, 2)),
               [[3, 1], [0, 2]]):
        runs = fastgrad.dask.multistart_descent(f, X0, client=client, max_iter=3)
        assert [r.x.tolist() for r in runs] == [
            fastgrad.gradient_descent(f, x0, max_iter=3).x.tolist()
            for x0 in ([3.0, 1.0], [0.0, 2.0])]


@pytest.mark.parametrize("name", ["gradient", "jacobian", "derivative"])
def test_f_raising_stop_iteration_on_dask(impl, client, name):
    with pytest.raises(StopIteration) as caught:
        STOP_CALLS[name](impl, client)
    assert str(caught.value) == "f stopped"


# -- 8. derivative(h="auto") took double precision's constant whatever f computes
#       in (DESIGN: "float32 results use float32's eps"; its docstring: element j
#       is gradient(f_scalar, [x_j])[0] bit for bit): for np.float32(t) ** 2 at 2
#       it gave 4.016 where gradient(h="auto") gives 3.99999 ---------------------------

@pytest.mark.parametrize("method, order", [("central", None), ("central", 4),
                                           ("forward", None), ("backward", 2)])
@pytest.mark.parametrize("f", [_e32, lambda t: np.float64(t) ** 3], ids=["float32", "float64"])
def test_derivative_auto_is_gradients_auto(impl, f, method, order):
    xs = [0.5, 2.0, -30.0]
    got = np.asarray(impl.derivative(f, xs, h="auto", method=method, order=order)).tolist()
    assert got == [impl.gradient(lambda p: f(p[0]), [x], h="auto", method=method,
                                 order=order)[0] for x in xs]


def test_derivative_auto_learns_the_precision_first(impl):
    seen = []

    def f(t):
        seen.append(np.asarray(t, dtype=np.float64).tolist())
        return _e32(t)
    got = impl.derivative(f, [2.0], h="auto")
    assert got == [3.9999909930729065]
    # f at x first (its precision), then the central stencil with float32's constant
    c = float(np.finfo(np.float32).eps) ** (1 / 3) * 2.0
    if impl is fastgrad:  # whole arrays
        assert seen == [[2.0], [2.0 + c], [2.0 - c]]
    else:
        assert seen == [2.0, 2.0 + c, 2.0 - c]
