"""Dask: workers=client on a real LocalCluster (2 worker processes), fastgrad.dask.

dask[distributed] is in the test extra: these tests never skip.  The cluster is
started once for the module and closed at its end.  dask, distributed and
fastgrad.dask are imported by the fixture and tests that use them, not at
collection: ~0.8 s that the xdist worker not running this file (all of it runs on
one, tests/conftest.py) no longer spends.
"""
import doctest
import os
import subprocess
import sys

import numpy as np
import pytest

import fastgrad
import fastgrad.reference
from fastgrad.objectives import Rosenbrock

from _fgtools import nested_bits as bits
from test_workers import BATCH, X0, descent_bits, die, explode, rosen, rosen_rows


@pytest.fixture(scope="module")
def client():
    import dask
    from distributed import Client, LocalCluster

    # A task whose worker dies is not retried (Dask's default retries it on 3
    # more workers, each death costing a restart): test_a_dying_worker is quick.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


def pid(x):
    return float(os.getpid())


@pytest.mark.parametrize("impl", [fastgrad, fastgrad.reference], ids=["fast", "reference"])
def test_workers_client_gives_the_serial_results_bit_for_bit(impl, client):
    x = np.array(X0)
    for f, kw in [(rosen, {}), (Rosenbrock(), {"method": "forward", "order": 2}),
                  (lambda p: rosen(p), {"h": "auto"}), (rosen_rows, {"vectorized": True})]:
        assert bits(impl.gradient(f, x, workers=client, **kw)) == bits(impl.gradient(f, x, **kw))
    assert bits(impl.gradient_batch(rosen, BATCH, workers=client)) == bits(
        impl.gradient_batch(rosen, BATCH))
    serial = impl.gradient_descent(rosen, X0[:2], 1e-3, max_iter=5, record=True)
    assert descent_bits(impl.gradient_descent(rosen, X0[:2], 1e-3, max_iter=5, record=True,
                                              workers=client)) == descent_bits(serial)


def test_f_runs_on_the_cluster_workers(client):
    pids = fastgrad.gradient_batch(pid, [[0.0, 1.0]] * 16, h=0.5, workers=client)
    assert (pids == 0.0).all()
    worker_pids = set(client.run(os.getpid).values())
    seen = set(client.gather(client.map(pid, [[0.0]] * 8, pure=False)))
    assert seen <= worker_pids and os.getpid() not in worker_pids


@pytest.mark.parametrize("impl", [fastgrad, fastgrad.reference], ids=["fast", "reference"])
def test_an_exception_on_a_cluster_worker_propagates(impl, client):
    with pytest.raises(ValueError, match=r"^explode: x\[0\] = 1.00001 is too large$"):
        impl.gradient(explode, [1.0, 2.0], workers=client)


def test_what_dask_cannot_send_is_a_type_error_naming_workers(client):
    import threading
    with pytest.raises(TypeError, match=r"^workers: args must be sent to worker processes but "
                                        r"cannot be pickled \(TypeError: cannot pickle "
                                        r"'_thread.lock' object\)"):
        fastgrad.gradient(rosen, X0, args=(threading.Lock(),), workers=client)


def test_gradient_batch_of_a_dask_array(client):
    import dask.array as da

    import fastgrad.dask

    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 6))
    dX = da.from_array(X, chunks=(7, 3))  # columns split too: rechunked to whole rows
    for f, kw in [(Rosenbrock(), {}), (Rosenbrock(), {"method": "forward", "num_threads": 2}),
                  (rosen, {"h": 1e-4})]:
        G = fastgrad.dask.gradient_batch(f, dX, **kw)
        assert isinstance(G, da.Array) and G.shape == (30, 6)
        assert bits(G.compute()) == bits(fastgrad.gradient_batch(f, X, **kw))
    with pytest.raises(ValueError, match=r"^X must be a 2-D array of points, one per row, "
                                         r"got shape \(5,\)$"):
        fastgrad.dask.gradient_batch(Rosenbrock(), da.zeros(5))


def test_multistart_descent_on_the_cluster(client):
    import fastgrad.dask

    X0s = [[-1.2, 1.0], [0.5, -0.25], [2.0, 3.5], [1.0, 1.0], [0.0, 0.0]]
    options = dict(learning_rate=1e-3, max_iter=200, optimizer="adam")
    runs = fastgrad.dask.multistart_descent(Rosenbrock(), X0s, client=client, **options)
    local = [fastgrad.gradient_descent(Rosenbrock(), x0, **options) for x0 in X0s]
    assert [descent_bits(r) for r in runs] == [descent_bits(r) for r in local]
    with pytest.raises(ValueError, match=r"^explode: x\[0\] = "):
        fastgrad.dask.multistart_descent(explode, [[0.5, 1.0], [2.0, 1.0]], client=client)
    # the default client
    assert descent_bits(fastgrad.dask.multistart_descent(rosen, X0s[:1], max_iter=3)[0]) == \
        descent_bits(fastgrad.gradient_descent(rosen, X0s[0], max_iter=3))
    with pytest.raises(ValueError, match=r"^X0 must be a 2-D array of start points"):
        fastgrad.dask.multistart_descent(rosen, [1.0, 2.0], client=client)


def test_descent_results_pickle():
    import pickle
    r = fastgrad.gradient_descent(Rosenbrock(), [0.0, 0.0], 1e-3, max_iter=3, record=True)
    assert descent_bits(pickle.loads(pickle.dumps(r))) == descent_bits(r)


def test_dask_module_docstring_example():
    import fastgrad.dask

    outcome = doctest.testmod(fastgrad.dask, verbose=False, report=True)
    assert (outcome.attempted, outcome.failed) == (outcome.attempted, 0)
    assert outcome.attempted >= 5


def test_without_dask_the_import_error_names_the_extra(tmp_path):
    code = ("import sys\nsys.modules['dask'] = sys.modules['dask.array'] = None\n"
            "import fastgrad.dask\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path)
    assert run.returncode == 1
    assert ("ImportError: fastgrad.dask needs dask and distributed, which are not installed: "
            "pip install \"fastgrad[dask]\"") in run.stderr, run.stderr
    # workers= never imports dask: a Client is recognised by its class
    code = ("import sys\nsys.modules['dask'] = sys.modules['distributed'] = None\n"
            "import fastgrad, fastgrad.reference\n"
            "print(fastgrad.gradient(sum, [1.0], workers=map), "
            "fastgrad.reference.gradient(sum, [1.0], workers=map))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path)
    assert (run.returncode, run.stdout, run.stderr) == (0, "[1.] [1.0]\n", "")


@pytest.mark.parametrize("impl", [fastgrad, fastgrad.reference], ids=["fast", "reference"])
def test_a_dying_worker_is_a_clear_error_naming_workers(impl, client):
    # (last of the module: the nanny restarts the worker in the background)
    with pytest.raises(RuntimeError, match=r"^workers: a worker process died while evaluating "
                                           r"f \(KilledWorker: .*\); the outstanding "
                                           r"evaluations were cancelled$"):
        impl.gradient(die, [1.0, 2.0, 3.0], workers=client)
