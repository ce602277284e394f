"""workers= on hessian, hessian_vector, Hessian and the prepared Gradient.

As tests/test_workers_derivatives.py: every engine gives the serial results bit for
bit, with the same evaluations in the same order (a serial map-like callable) and the
same exceptions; f or args that cannot be pickled are a TypeError naming workers
before anything runs.
"""
import pickle
import threading

import numpy as np
import pytest

import fastgrad
import fastgrad.reference
from fastgrad._prepared import Prepared

from _fgtools import counting, engines, fork_pool, nested_bits as bits, thread_pool

IMPLS = [fastgrad, fastgrad.reference]
IDS = ["fast", "reference"]


# -- module-level f (processes import them by name) ----------------------------------

def quartic(x, *args):
    """x0^2 x1 + 3 x0 x1^3 + sin(x2) x0 + scale x2^4; args: a scale."""
    scale = args[0] if args else 1.0
    return float(x[0] ** 2 * x[1] + 3.0 * x[0] * x[1] ** 3 + np.sin(x[2]) * x[0]
                 + scale * x[2] ** 4)


def quartic_unpacked(a, b, c):
    return quartic([a, b, c])


def quartic_rows(X):
    X = np.asarray(X, dtype=np.float64)
    return X[:, 0] ** 2 * X[:, 1] + 3.0 * X[:, 0] * X[:, 1] ** 3 + np.sin(X[:, 2]) * X[:, 0] \
        + X[:, 2] ** 4


def explode(x):
    if x[1] > 2.0:
        raise ValueError(f"explode: x[1] = {x[1]} is too large")
    return float(x[0] * x[1])


X = [0.7, -1.3, 0.4]
V = [1.0, 0.5, -2.0]




engine = engines("int", "threads", "threads.map", "map", "fork")


CASES = [
    lambda impl, w: impl.hessian(quartic, X, workers=w),
    lambda impl, w: impl.hessian(quartic, X, "auto", order=4, args=(2.5,), workers=w),
    lambda impl, w: impl.hessian(quartic_unpacked, X, [1e-4, 2e-4, 3e-4], unpack=True,
                                 workers=w),
    lambda impl, w: impl.hessian(quartic_rows, X, vectorized=True, order=6, workers=w),
    lambda impl, w: impl.hessian(quartic, X[:1] + [0.0, 0.0], full_output=True, workers=w),
    lambda impl, w: impl.Hessian(quartic, order=4, workers=w)(X),
    lambda impl, w: impl.hessian_vector(quartic, X, V, workers=w),
    lambda impl, w: impl.hessian_vector(quartic, X, V, "auto", order=4, workers=w),
    lambda impl, w: impl.hessian_vector(quartic_rows, X, V, vectorized=True, workers=w),
    lambda impl, w: impl.Gradient(quartic, args=(0.5,), workers=w)(X),
    lambda impl, w: impl.Gradient(quartic, h="auto", method="forward", order=2,
                                  full_output=True, workers=w)(X),
]


def test_the_cases_are_what_they_claim():
    H = fastgrad.hessian(quartic, X, order=4)
    assert bits(H) == bits(fastgrad.reference.hessian(quartic, X, order=4))
    exact = [[2 * X[1] + 0.0, 2 * X[0] + 9 * X[1] ** 2, np.cos(X[2])],
             [2 * X[0] + 9 * X[1] ** 2, 18 * X[0] * X[1], 0.0],
             [np.cos(X[2]), 0.0, -np.sin(X[2]) * X[0] + 12 * X[2] ** 2]]
    assert np.allclose(H, exact, rtol=0, atol=1e-6)


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_every_engine_gives_the_serial_results_bit_for_bit(impl, engine):
    for case in CASES:
        serial = case(impl, None)
        spread = case(impl, engine)
        assert type(spread) is type(serial)
        assert bits(spread) == bits(serial)


def test_the_two_implementations_agree_with_workers(thread_pool):
    for case in CASES[:4] + CASES[5:9]:
        assert bits(np.asarray(case(fastgrad, thread_pool)).tolist()) == \
            bits(case(fastgrad.reference, thread_pool))


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_evaluations_match_serial(impl, thread_pool):
    n = len(X)
    for call, expected in (
            (lambda f, w: impl.hessian(f, X, workers=w), 2 * n * n + 1),
            (lambda f, w: impl.hessian(f, X, order=4, workers=w), 1 + 4 * n + 8 * n * (n - 1)),
            (lambda f, w: impl.hessian(f, X, full_output=True, workers=w), 2 * (2 * n * n + 1)),
            (lambda f, w: impl.Hessian(f, workers=w)(X), 2 * n * n + 1),
            (lambda f, w: impl.hessian_vector(f, X, V, workers=w), 4 * n),
            (lambda f, w: impl.hessian_vector(f, X, V, "auto", workers=w), 4 * n + 1),
            (lambda f, w: impl.Gradient(f, workers=w)(X), 2 * n)):
        runs = []
        for w in (None, map, thread_pool):
            f, seen = counting(quartic)
            call(f, w)
            runs.append(seen)
        assert runs[0] == runs[1] and len(runs[0]) == expected  # map: the serial order
        assert runs[2][0] == runs[0][0] and sorted(runs[2]) == sorted(runs[0])


# -- faults ------------------------------------------------------------------------------

@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_f_or_args_that_cannot_be_pickled_is_a_type_error_naming_workers(impl, fork_pool):
    calls = []

    def local(x, *args):  # a local function cannot be pickled
        calls.append(1)
        return float(x[0] * x[1])

    f_message = (r"^workers: f must be sent to worker processes but cannot be pickled "
                 r"\((AttributeError|PicklingError): .*define it at module level")
    args_message = (r"^workers: args must be sent to worker processes but cannot be pickled "
                    r"\(TypeError: cannot pickle '_thread.lock' object\)")
    lock = threading.Lock()
    for workers in (2, fork_pool, fork_pool.map):
        for call in (lambda w: impl.hessian(local, X, workers=w),
                     lambda w: impl.hessian(local, X, full_output=True, workers=w),
                     lambda w: impl.Hessian(local, workers=w)(X),
                     lambda w: impl.hessian_vector(local, X, V, "auto", workers=w),
                     lambda w: impl.Gradient(local, workers=w)(X)):
            with pytest.raises(TypeError, match=f_message):
                call(workers)
        for call in (lambda w: impl.hessian(quartic, X, args=(lock,), workers=w),
                     lambda w: impl.Hessian(quartic, args=(lock,), workers=w)(X),
                     lambda w: impl.hessian_vector(quartic, X, V, args=(lock,), workers=w),
                     lambda w: impl.Gradient(quartic, args=(lock,), workers=w)(X)):
            with pytest.raises(TypeError, match=args_message):
                call(workers)
    assert calls == []


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_an_exception_in_f_on_a_worker_propagates(impl, thread_pool, fork_pool):
    for workers in (thread_pool, fork_pool, 2):
        for call in (lambda w: impl.hessian(explode, [1.0, 2.0], workers=w),
                     lambda w: impl.hessian_vector(explode, [1.0, 2.0], [0.0, 1.0], 1e-4,
                                                   workers=w)):
            with pytest.raises(ValueError, match=r"^explode: x\[1\] = 2.0001 is too large$"):
                call(workers)


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_bad_workers(impl):
    start = "workers must be None, an int (processes; -1: all cores), a map-like callable"
    for call in (lambda: impl.hessian(quartic, X, workers="2"),
                 lambda: impl.Hessian(quartic, workers=2.0),
                 lambda: impl.hessian_vector(quartic, X, V, workers=True),
                 lambda: impl.Gradient(quartic, workers=[map])):
        with pytest.raises(TypeError) as raised:
            call()
        assert str(raised.value).startswith(start)
    for call in (lambda: impl.hessian(quartic, X, workers=0),
                 lambda: impl.Hessian(quartic, workers=-2),
                 lambda: impl.Gradient(quartic, workers=-3)):
        with pytest.raises(ValueError, match=r"^workers must be a positive int or -1"):
            call()
    # workers is checked first, as by the public functions
    with pytest.raises(TypeError, match="^workers must be"):
        impl.Gradient(quartic, h=-1.0, workers="x")
    with pytest.raises(TypeError, match="^workers must be"):
        impl.hessian(quartic, X, method="forward", workers="x")


def single(x):
    return np.float32(x[0] ** 2 * x[1])


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_the_precision_warning_points_at_the_caller(impl, thread_pool):
    for call in (lambda w: impl.hessian(single, [1.0, 2.0], workers=w),
                 lambda w: impl.hessian_vector(single, [1.0, 2.0], [1.0, 0.0], workers=w)):
        for workers in (map, thread_pool):
            with pytest.warns(fastgrad.PrecisionWarning) as caught:
                call(workers)
            assert [w.filename for w in caught] == [__file__]


# -- Jacobian and Hessian on the Prepared base -------------------------------------------

def pair(x):
    return [x[0] * x[1], x[0] - x[1] ** 2]


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_jacobian_and_hessian_are_prepared_callables(impl):
    J = impl.Jacobian(pair, 1e-4, method="forward")
    H = impl.Hessian(quartic, order=4, workers=map)
    assert isinstance(J, Prepared) and isinstance(H, Prepared)
    assert repr(J) == f"Jacobian({pair!r}, h=0.0001, method='forward')"
    assert repr(H) == f"Hessian({quartic!r}, order=4, workers=<class 'map'>)"
    for P, x, public in ((J, X[:2], lambda: impl.jacobian(pair, X[:2], 1e-4, method="forward")),
                         (H, X, lambda: impl.hessian(quartic, X, order=4))):
        copy = pickle.loads(pickle.dumps(P))
        assert bits(copy(x)) == bits(P(x)) == bits(public())
    for make, name in ((lambda: impl.Jacobian(pair, step=1.0), "Jacobian"),
                       (lambda: impl.Hessian(quartic, full_output=False), "Hessian")):
        with pytest.raises(TypeError) as raised:
            make()
        assert str(raised.value) == f"{name}() got an unexpected keyword argument " \
            f"{'step' if name == 'Jacobian' else 'full_output'!r}"
