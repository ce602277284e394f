"""workers= on jacobian, Jacobian, derivative and check_grad (gradient's: test_workers.py).

Every engine gives the serial results bit for bit, with the same evaluations in the
same order and the same exceptions; f or args that cannot be pickled are a TypeError
naming workers before anything runs (grad too, for check_grad).
"""
import threading
import traceback

import numpy as np
import pytest

import fastgrad
import fastgrad.reference

from _fgtools import (counting, engines, fork_pool, nested_bits as bits, no_children_left,
                      thread_pool)

IMPLS = [fastgrad, fastgrad.reference]
IDS = ["fast", "reference"]


# -- module-level f (processes import them by name) ----------------------------------

def system(x, *args):
    """A 3x3 nonlinear system (m = n = 3); args: a scale."""
    scale = args[0] if args else 1.0
    return [scale * (x[0] ** 2 + x[1] * x[2]), np.sin(x[0]) * x[1] - x[2] ** 3,
            np.exp(0.1 * x[2]) + x[0] * x[1] * x[2]]


def system_unpacked(*x):
    return np.array(system(list(x)))


def system_rows(X):
    X = np.asarray(X, dtype=np.float64)
    return np.stack([X[:, 0] ** 2 + X[:, 1] * X[:, 2], np.sin(X[:, 0]) * X[:, 1] - X[:, 2] ** 3,
                     np.exp(0.1 * X[:, 2]) + X[:, 0] * X[:, 1] * X[:, 2]], axis=1)


def one_output(x):
    return [x[0] * x[1] ** 2]


def wide(x):  # n = 1, m = 4
    return np.array([x[0], x[0] ** 2, np.cos(x[0]), 1.0 / x[0]])


def scalar_f(x):
    return float(x[0] ** 3 - 2.0 * x[0] * x[1] + np.sin(x[1]))


def scalar_grad(x):
    return [3.0 * x[0] ** 2 - 2.0 * x[1], -2.0 * x[0] + np.cos(x[1]) + 1e-3]


def cube(t, *args):
    return t ** 3 + (args[0] if args else 0.0) * np.sin(t)


def explode(x):
    if x[0] > 1.0:
        raise ValueError(f"explode: x[0] = {x[0]} is too large")
    return [x[0], x[1]]


def bad_vector(x):
    return [x[0], "no"] if x[1] > 2.0 else [x[0], x[1]]


X = [0.7, -1.3, 0.4]




engine = engines("int", "threads", "threads.map", "map", "fork")


CASES = [
    lambda impl, w: impl.jacobian(system, X, workers=w),
    lambda impl, w: impl.jacobian(system, X, 1e-4, method="forward", order=3, args=(2.5,),
                                  workers=w),
    lambda impl, w: impl.jacobian(system_unpacked, X, "auto", unpack=True, workers=w),
    lambda impl, w: impl.jacobian(system_rows, X, vectorized=True, order=4, workers=w),
    lambda impl, w: impl.jacobian(system, X, bounds=([0.7, -2.0, -1.0], 1.0), workers=w),
    lambda impl, w: impl.jacobian(one_output, X[:2], method="backward", workers=w),
    lambda impl, w: impl.jacobian(wide, [0.5], "auto", workers=w),
    lambda impl, w: impl.Jacobian(system, method="central", order=6, workers=w)(X),
    lambda impl, w: impl.derivative(cube, 1.5, workers=w),
    lambda impl, w: impl.derivative(cube, [[0.5, -1.0], [2.0, 3.0]], "auto", order=4,
                                    args=(0.5,), workers=w),
    lambda impl, w: impl.derivative(cube, [0.25, 4.0], method="forward", workers=w),
    lambda impl, w: impl.check_grad(scalar_f, scalar_grad, X[:2], workers=w),
    lambda impl, w: impl.check_grad(scalar_f, scalar_grad, X[:2], h=1e-6, method="forward",
                                    direction="random", seed=3, workers=w),
]


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_every_engine_gives_the_serial_results_bit_for_bit(impl, engine):
    for case in CASES:
        serial = case(impl, None)
        spread = case(impl, engine)
        assert type(spread) is type(serial)
        assert bits(spread) == bits(serial)


def test_the_two_implementations_agree_with_workers(thread_pool):
    for case in CASES[:8]:
        assert bits(case(fastgrad, thread_pool).tolist()) == \
            bits(case(fastgrad.reference, thread_pool))
    for case in CASES[11:]:
        assert case(fastgrad, 2) == case(fastgrad.reference, 2)


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_check_grad_evaluations_match_serial(impl, thread_pool):
    # 2n evaluations along all axes, 2 along a random direction (grad runs here)
    for direction, expected in (("all", 4), ("random", 2)):
        runs = []
        for w in (None, map, thread_pool):
            f, seen = counting(scalar_f)
            impl.check_grad(f, scalar_grad, X[:2], h=1e-5, direction=direction, seed=1,
                            workers=w)
            runs.append(seen)
        assert runs[0] == runs[1] and len(runs[0]) == expected
        assert sorted(runs[2]) == sorted(runs[0])


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_jacobian_evaluations_match_serial(impl, thread_pool):
    for kw, expected in (({}, 7), ({"method": "forward"}, 4), ({"order": 4}, 13),
                         ({"bounds": ([0.7, -2.0, -1.0], 1.0)}, 7)):
        runs = []
        for w in (None, map, thread_pool):
            f, seen = counting(system)
            impl.jacobian(f, X, workers=w, **kw)
            runs.append(seen)
        assert runs[0] == runs[1] and len(runs[0]) == expected  # map: the serial order
        assert runs[2][0] == runs[0][0] and sorted(runs[2]) == sorted(runs[0])
        f, seen = counting(system)
        impl.Jacobian(f, workers=thread_pool, **kw)(X)
        assert sorted(seen) == sorted(runs[0])


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_derivative_calls_match_serial(impl, thread_pool):
    for x, kw, expected in ((1.5, {}, 2), ([0.5, 2.0, 3.0], {"order": 4}, 4),
                            ([[1.0, 2.0]], {"method": "forward"}, 2)):
        runs = []
        for w in (None, map, thread_pool):
            seen, lock = [], threading.Lock()

            def f(t):
                with lock:
                    seen.append(bits(np.asarray(t, dtype=np.float64).tolist()))
                return t ** 3
            impl.derivative(f, x, workers=w, **kw)
            runs.append(seen)
        per_element = impl is fastgrad.reference and not isinstance(x, float)
        count = expected * (np.size(x) if per_element else 1)
        assert runs[0] == runs[1] and len(runs[0]) == count
        assert sorted(runs[2]) == sorted(runs[0])


# -- faults ------------------------------------------------------------------------------

@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_f_or_args_that_cannot_be_pickled_is_a_type_error_naming_workers(impl, fork_pool):
    calls = []

    def local(x, *args):  # a local function cannot be pickled
        calls.append(1)
        return [x[0], x[1]]

    def local_grad(x, *args):
        calls.append(1)
        return [1.0, 1.0]

    f_message = (r"^workers: f must be sent to worker processes but cannot be pickled "
                 r"\((AttributeError|PicklingError): .*define it at module level")
    args_message = (r"^workers: args must be sent to worker processes but cannot be pickled "
                    r"\(TypeError: cannot pickle '_thread.lock' object\)")
    for workers in (2, fork_pool, fork_pool.map):
        for call in (lambda w: impl.jacobian(local, X, workers=w),
                     lambda w: impl.Jacobian(local, workers=w)(X),
                     lambda w: impl.derivative(local, 1.0, workers=w),
                     lambda w: impl.check_grad(local, local_grad, X, workers=w),
                     lambda w: impl.check_grad(local, local_grad, X, direction="random",
                                               workers=w)):
            with pytest.raises(TypeError, match=f_message):
                call(workers)
        lock = threading.Lock()
        for call in (lambda w: impl.jacobian(system, X, args=(lock,), workers=w),
                     lambda w: impl.derivative(cube, [1.0], args=(lock,), workers=w),
                     lambda w: impl.check_grad(scalar_f, local_grad, X, args=(lock,),
                                               workers=w)):
            with pytest.raises(TypeError, match=args_message):
                call(workers)
    assert calls == []
    no_children_left()  # workers=2 made no pool: nothing ran


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_threads_take_what_processes_cannot(impl, thread_pool):
    local = lambda x: system(x)  # noqa: E731
    assert bits(impl.jacobian(local, X, workers=thread_pool)) == bits(impl.jacobian(local, X))


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_an_exception_in_f_on_a_worker_propagates_with_its_traceback(impl, thread_pool,
                                                                     fork_pool):
    for workers in (thread_pool, fork_pool, 2):
        with pytest.raises(ValueError, match=r"^explode: x\[0\] = 1.00001 is too large$") \
                as raised:
            impl.jacobian(explode, [1.0, 2.0], workers=workers)
        text = "".join(traceback.format_exception(raised.type, raised.value, raised.tb))
        assert 'in explode\n    raise ValueError(f"explode: x[0] = {x[0]} is too large")' \
            in text
    no_children_left()


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_values_are_refused_as_in_a_serial_run(impl, thread_pool):
    def message_of(workers):
        with pytest.raises((TypeError, ValueError)) as raised:
            impl.jacobian(bad_vector, [1.0, 2.0], h=1e-3, workers=workers)
        return type(raised.value), str(raised.value)
    serial = message_of(None)
    assert serial[0] is TypeError and "'no'" in serial[1]
    assert message_of(thread_pool) == serial == message_of(map)


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_bad_workers_and_complex_steps(impl):
    start = "workers must be None, an int (processes; -1: all cores), a map-like callable"
    for call in (lambda: impl.jacobian(system, X, workers="2"),
                 lambda: impl.Jacobian(system, workers=2.0),
                 lambda: impl.derivative(cube, 1.0, workers=True),
                 lambda: impl.check_grad(scalar_f, scalar_grad, X, workers=[map])):
        with pytest.raises(TypeError) as raised:
            call()
        assert str(raised.value).startswith(start)
    for call in (lambda: impl.jacobian(system, X, workers=0),
                 lambda: impl.Jacobian(system, workers=-2)):
        with pytest.raises(ValueError, match=r"^workers must be a positive int or -1"):
            call()
