"""workers=: f's evaluations spread over threads, processes, executors (Dask: test_dask.py).

Every engine gives the serial results bit for bit, with the same nfev and the same
exceptions; faults (f or args that cannot be pickled, f raising on a worker, a worker
process dying, Ctrl-C) end cleanly and leave no pool behind; num_threads on a tier
that cannot use threads points at workers=.
"""
import concurrent.futures
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import traceback

import numpy as np
import pytest

import fastgrad
import fastgrad.reference
from fastgrad import _workers
from fastgrad.objectives import Rosenbrock

from _fgtools import (engines, fork_pool, mp_pool, nested_bits as bits, no_children_left,
                      spawn_pool, thread_pool)

IMPLS = [fastgrad, fastgrad.reference]


# -- module-level f (processes import them by name) ----------------------------------

def rosen(x, *args):
    scale = args[0] if args else 1.0
    return scale * sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
                       for i in range(len(x) - 1))


def rosen_unpacked(*x):
    return rosen(list(x))


def rosen_rows(X):
    X = np.asarray(X, dtype=np.float64)
    return (100.0 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1.0 - X[:, :-1]) ** 2).sum(axis=1)


def explode(x):
    if x[0] > 1.0:
        raise ValueError(f"explode: x[0] = {x[0]} is too large")
    return rosen(x)


def die(x):
    if x[0] > 1.0:
        os._exit(3)  # the worker process dies mid-gradient
    return rosen(x)


def float32_sphere(x):
    return np.float32(sum(v * v for v in x))


def bad_return(x):
    return "not a number" if x[2] > 0.0 else rosen(x)


def pid_of(x):
    return float(os.getpid())


X0 = [-1.2, 1.0, 0.3, 0.8, -0.5]
BATCH = [[-1.2, 1.0, 0.3], [0.5, -0.25, 2.0], [2.0, 3.5, -1.0], [1.0, 1.0, 1.0]]


def descent_bits(r):
    return (bits(r.x), bits(r.fun), bits(r.grad), r.nit, r.nfev, r.converged, r.message,
            bits(r.path) if r.path is not None else None)


# -- the engines (_fgtools) ------------------------------------------------------------

engine = engines("int", "threads", "threads.map", "map", "fork", "spawn", "Pool.map")


# -- 1. the serial results, bit for bit -----------------------------------------------

@pytest.mark.parametrize("impl", IMPLS, ids=["fast", "reference"])
def test_every_engine_gives_the_serial_results_bit_for_bit(impl, engine):
    x = np.array(X0)
    cases = [
        lambda w: impl.gradient(rosen, x, workers=w),
        lambda w: impl.gradient(rosen, x, 1e-4, method="forward", order=3, args=(2.5,),
                                workers=w),
        lambda w: impl.gradient(rosen_unpacked, x, h="auto", unpack=True, workers=w),
        lambda w: impl.gradient(rosen_rows, x, vectorized=True, workers=w),
        lambda w: impl.gradient(rosen, x, bounds=(-1.2, 1.0), workers=w),
        lambda w: impl.gradient(rosen, x, full_output=True, workers=w),
        lambda w: impl.gradient(rosen, x[:2], h="adaptive", full_output=True, workers=w),
        lambda w: impl.gradient(Rosenbrock(), x, workers=w),
        lambda w: impl.gradient_batch(rosen, BATCH, method="backward", workers=w),
        lambda w: impl.gradient_batch(rosen_rows, BATCH, vectorized=True, workers=w),
        lambda w: impl.gradient_descent_step(rosen, x, 1e-3, workers=w),
    ]
    for case in cases:
        serial, spread = case(None), case(engine)
        if isinstance(serial, fastgrad.GradientResult):
            assert (bits(spread.grad), bits(spread.error), spread.nfev, bits(spread.step),
                    spread.success, spread.message) == \
                   (bits(serial.grad), bits(serial.error), serial.nfev, bits(serial.step),
                    serial.success, serial.message)
        else:
            assert bits(spread) == bits(serial)
    for options in ({}, {"optimizer": "armijo", "record": True},
                    {"ftol": 1e-9, "optimizer": "adam"},
                    {"optimizer": "lbfgs", "record": True, "method": "forward"}):
        serial = impl.gradient_descent(rosen, X0[:2], 1e-3, max_iter=8, **options)
        spread = impl.gradient_descent(rosen, X0[:2], 1e-3, max_iter=8, workers=engine,
                                       **options)
        assert descent_bits(spread) == descent_bits(serial)
    no_children_left()


def test_the_two_implementations_agree_with_workers(thread_pool):
    for impl_results in zip(*[[impl.gradient(rosen, X0, workers=thread_pool),
                               impl.gradient_batch(rosen, BATCH, workers=2)]
                              for impl in IMPLS]):
        assert bits(impl_results[0]) == bits(impl_results[1])


@pytest.mark.parametrize("impl", IMPLS, ids=["fast", "reference"])
def test_a_serial_map_sees_the_points_in_the_serial_order(impl):
    seen = {}

    def recorder(key):
        def f(x):
            seen.setdefault(key, []).append(list(x))
            return rosen(x)
        return f

    impl.gradient(recorder("serial"), X0, method="central", order=4)
    impl.gradient(recorder("map"), X0, method="central", order=4, workers=map)
    impl.gradient_batch(recorder("serial batch"), BATCH, workers=None)
    impl.gradient_batch(recorder("map batch"), BATCH, workers=map)
    assert seen["map"] == seen["serial"] and len(seen["map"]) == 20
    assert seen["map batch"] == seen["serial batch"]


def map_recording_task_sizes(tasks):
    """A map that appends the number of points in each of its tasks to tasks."""
    def recording_map(func, iterable):
        chunk = list(iterable)
        tasks.append([len(task[-1]) for task in chunk])
        return map(func, chunk)
    return recording_map


@pytest.mark.parametrize("impl", IMPLS, ids=["fast", "reference"])
def test_the_points_go_out_in_chunks_of_consecutive_points(impl):
    # Known worker count w: about TASKS_PER_WORKER tasks per worker; unknown: one point each.
    tasks = []
    recording_map = map_recording_task_sizes(tasks)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        recording_map.__self__ = pool  # as a bound method of a pool of 2 would be
        n = 20  # 40 points, 2 workers: 8 tasks of 5 points
        impl.gradient(rosen, [0.5] * n, workers=recording_map)
    assert tasks == [[5] * 8]
    tasks.clear()
    impl.gradient(rosen, X0, workers=lambda func, items: recording_map_plain(func, items, tasks))
    assert tasks == [[1] * 10]


@pytest.mark.parametrize("impl", IMPLS, ids=["fast", "reference"])
def test_a_vectorized_task_is_not_cut_to_the_cache_chunk(impl):
    # A task's size is set by its overhead: a vectorized f on 2 workers gets 8 tasks of
    # 1200 / 8 = 150 points at n = 600, not the serial tier's 524 288 // 4800 = 109
    # rows a call; the 32 MiB ceiling (6990 rows at n = 600) still bounds a task.
    tasks = []
    recording_map = map_recording_task_sizes(tasks)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        recording_map.__self__ = pool
        g = impl.gradient(rosen_rows, [0.5] * 600, vectorized=True, workers=recording_map)
    assert tasks == [[150] * 8]
    assert bits(g) == bits(impl.gradient(rosen_rows, [0.5] * 600, vectorized=True))


def recording_map_plain(func, items, tasks):
    items = list(items)
    tasks.append([len(task[-1]) for task in items])
    return map(func, items)


def test_f_runs_on_the_workers():
    pids = fastgrad.gradient_batch(pid_of, [[0.0, 1.0]] * 8, h=0.5, workers=2)
    assert (pids == 0.0).all()  # the same pid at both points of each coordinate...
    seen = set()
    engine = _workers.Engine(2)
    with engine:
        values = []
        engine.run([(pid_of, (), False, False, False, [[0.0]], [(0, -1, 0.0)])] * 8,
                   lambda i, result: values.extend(result))
    seen.update(values)
    assert os.getpid() not in seen and 1 <= len(seen) <= 2  # ...which is a worker's
    no_children_left()


# -- 2. faults --------------------------------------------------------------------------

@pytest.mark.parametrize("impl", IMPLS, ids=["fast", "reference"])
@pytest.mark.parametrize("engine_kind", ["int", "ProcessPoolExecutor", "Pool.map"])
def test_f_or_args_that_cannot_be_pickled_is_a_type_error_naming_workers(impl, engine_kind,
                                                                        fork_pool, mp_pool):
    workers = {"int": 2, "ProcessPoolExecutor": fork_pool, "Pool.map": mp_pool.map}[engine_kind]
    calls = []

    def local(x):  # a local function cannot be pickled
        calls.append(1)
        return rosen(x)

    with pytest.raises(TypeError, match=r"^workers: f must be sent to worker processes but "
                                        r"cannot be pickled \((AttributeError|PicklingError): "
                                        r".*define it at module level") as raised:
        impl.gradient(local, X0, workers=workers)
    assert isinstance(raised.value.__cause__, Exception)
    with pytest.raises(TypeError, match=r"^workers: args must be sent to worker processes but "
                                        r"cannot be pickled \(TypeError: cannot pickle "
                                        r"'_thread.lock' object\)"):
        impl.gradient_descent(rosen, X0, args=(threading.Lock(),), workers=workers)
    assert calls == []
    no_children_left()  # workers=2 made no pool: nothing ran


@pytest.mark.parametrize("impl", IMPLS, ids=["fast", "reference"])
def test_threads_take_what_processes_cannot(impl, thread_pool):
    local = lambda x: rosen(x)  # noqa: E731
    assert bits(impl.gradient(local, X0, workers=thread_pool)) == bits(impl.gradient(local, X0))


@pytest.mark.parametrize("impl", IMPLS, ids=["fast", "reference"])
def test_an_exception_in_f_on_a_worker_propagates_with_its_traceback(impl, engine):
    with pytest.raises(ValueError, match=r"^explode: x\[0\] = 1.00001 is too large$") as raised:
        impl.gradient(explode, [1.0, 2.0], workers=engine)
    # The worker's traceback: in the chain (processes) or the traceback itself (threads).
    text = "".join(traceback.format_exception(raised.type, raised.value, raised.tb))
    assert 'in explode\n    raise ValueError(f"explode: x[0] = {x[0]} is too large")' in text
    no_children_left() if engine == 2 else None


@pytest.mark.parametrize("impl", IMPLS, ids=["fast", "reference"])
def test_values_are_refused_as_in_a_serial_run(impl, thread_pool):
    message = r"^f must return a real scalar, got str 'not a number'$"
    for workers in (None, thread_pool, 2):
        with pytest.raises(TypeError, match=message):
            impl.gradient(bad_return, [1.0, 2.0, -1e-9, 3.0], h=1e-3, workers=workers)
    # float32 values: the same warning as serial
    for workers in (None, thread_pool):
        with pytest.warns(fastgrad.PrecisionWarning):
            impl.gradient(float32_sphere, [1.0, 2.0], workers=workers)
    no_children_left()


@pytest.mark.parametrize("impl", IMPLS, ids=["fast", "reference"])
def test_a_worker_process_dying_is_a_clear_error_and_no_hang(impl):
    message = (r"^workers: a worker process died while evaluating f \(BrokenProcessPool: "
               r".*\); the outstanding evaluations were cancelled$")
    with pytest.raises(RuntimeError, match=message) as raised:
        impl.gradient(die, [1.0, 2.0, 3.0], workers=2)
    assert isinstance(raised.value.__cause__, concurrent.futures.process.BrokenProcessPool)
    no_children_left()  # the pool fastgrad made is gone
    pool = concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"))
    try:
        with pytest.raises(RuntimeError, match=message):
            impl.gradient_batch(die, BATCH, workers=pool)
    finally:
        pool.shutdown()
    no_children_left()


def test_nothing_leaks(thread_pool):
    threads = threading.active_count()
    for _ in range(3):
        fastgrad.gradient(rosen, X0, workers=2)
        fastgrad.reference.gradient(rosen, X0, workers=-1)
        fastgrad.gradient_descent(rosen, X0[:2], 1e-3, max_iter=3, workers=2)
        with pytest.raises(ValueError):
            fastgrad.gradient(explode, [2.0, 1.0], workers=2)
    no_children_left()
    assert threading.active_count() == threads
    # A user's pool is left open for its next use.
    fastgrad.gradient(rosen, X0, workers=thread_pool)
    assert bits(fastgrad.gradient(rosen, X0, workers=thread_pool)) == bits(
        fastgrad.gradient(rosen, X0))


CTRL_C_CHILD = r"""
import multiprocessing, sys, time
import fastgrad, fastgrad.reference
sys.path.insert(0, sys.argv[2])
from test_workers import sleepy
impl = fastgrad if sys.argv[1] == "fast" else fastgrad.reference
print("started", flush=True)
try:
    impl.gradient(sleepy, [1.0, 2.0, 3.0], workers=2)
except KeyboardInterrupt:
    print("interrupted", time.monotonic(), len(multiprocessing.active_children()), flush=True)
"""


def sleepy(x):
    os.write(1, b"evaluating\n")  # one write to the child's stdout: the test waits for it
    time.sleep(60)
    return 0.0


@pytest.mark.parametrize("name", ["fast", "reference"])
def test_ctrl_c_cancels_the_outstanding_tasks_and_propagates(name, tmp_path):
    child = subprocess.Popen([sys.executable, "-c", CTRL_C_CHILD, name,
                              os.path.dirname(__file__)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert child.stdout.readline() == "started\n"
        # Ctrl-C once a pool process is evaluating f: the tasks are outstanding then
        # (a fixed 1 s wait cost a second and did not make sure of it).
        assert child.stdout.readline() == "evaluating\n"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)  # uninterrupted: 6 evaluations of 60 s
    finally:
        child.kill()
    assert child.returncode == 0, err
    word, caught, children = out.replace("evaluating\n", "").split()
    assert (word, children) == ("interrupted", "0")  # the pool's processes are stopped


# -- 3. workers= and num_threads checked -------------------------------------------------

@pytest.mark.parametrize("impl", IMPLS, ids=["fast", "reference"])
def test_bad_workers(impl):
    start = ("workers must be None, an int (processes; -1: all cores), a map-like callable "
             "workers(func, iterable) such as Pool.map or ThreadPoolExecutor().map, a "
             "concurrent.futures.Executor or a dask.distributed.Client, got ")
    for bad, shown in [("2", "str '2'"), (True, "bool True"), (2.0, "float 2.0")]:
        with pytest.raises(TypeError) as raised:
            impl.gradient(rosen, X0, workers=bad)
        assert str(raised.value) == start + shown
    for bad in (0, -2):
        with pytest.raises(ValueError) as raised:
            impl.gradient_batch(rosen, BATCH, workers=bad)
        assert str(raised.value) == f"workers must be a positive int or -1 (all cores), got {bad}"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with pytest.raises(TypeError, match=r"^workers must be None.*, got list "
                                            r"\[<concurrent.futures.thread.ThreadPoo\.\.\.$"):
            impl.gradient(rosen, X0, workers=[pool])


THREADS_MESSAGE = (
    "num_threads={} needs a compiled objective (fastgrad.objectives, or a C callback) called "
    "without args, unpack or vectorized: any other f is evaluated by the calling thread. To "
    "evaluate a Python f on several threads or processes, pass workers= (an int, Pool.map, "
    "an Executor or a dask Client)")


@pytest.mark.parametrize("impl", IMPLS, ids=["fast", "reference"])
def test_num_threads_on_a_tier_without_threads_points_at_workers(impl):
    for f, kw in [(rosen, {}), (rosen_rows, {"vectorized": True}),
                  (rosen_unpacked, {"unpack": True}), (Rosenbrock(), {"workers": map}),
                  (Rosenbrock(), {"vectorized": True})]:
        with pytest.raises(ValueError) as raised:
            impl.gradient_batch(f, BATCH, num_threads=4, **kw)
        assert str(raised.value) == THREADS_MESSAGE.format(4)
    # one thread is what these tiers use: asked for, it is no error
    assert bits(impl.gradient_batch(rosen, BATCH, num_threads=1)) == bits(
        impl.gradient_batch(rosen, BATCH))
    assert bits(impl.gradient_batch(Rosenbrock(), BATCH, num_threads=2)) == bits(
        impl.gradient_batch(Rosenbrock(), BATCH))


@pytest.mark.parametrize("impl", IMPLS, ids=["fast", "reference"])
def test_the_row_by_row_batch_spreads_too_and_complex_steps_refuse_workers(impl, thread_pool):
    # gradient_batch with full_output or h="adaptive" takes the rows one by one
    for kw in ({"full_output": True}, {"h": "adaptive"}):
        serial = impl.gradient_batch(rosen, BATCH[:2], **kw)
        spread = impl.gradient_batch(rosen, BATCH[:2], workers=thread_pool, **kw)
        if kw.get("full_output"):
            assert (bits(spread.grad), bits(spread.error), spread.nfev) == \
                   (bits(serial.grad), bits(serial.error), serial.nfev)
        else:
            assert bits(spread) == bits(serial)
    message = ('workers= does not take method="complex": the complex step runs in this '
               "process (its evaluations are cheap next to a real f's: use "
               'method="central" to spread an expensive f)')
    for call in (lambda: impl.gradient(rosen, X0, method="complex", workers=thread_pool),
                 lambda: impl.gradient_batch(rosen, BATCH, method="complex", workers=2)):
        with pytest.raises(ValueError) as raised:
            call()
        assert str(raised.value) == message
    no_children_left()
