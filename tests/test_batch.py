"""gradient_batch: rows equal single gradients, both implementations agree, X and the
result, errors, threads (num_threads, OMP_NUM_THREADS, fork), grouping of vectorized
calls, Ctrl-C."""
import ctypes
import math
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from scipy import LowLevelCallable

import fastgrad
import fastgrad.reference as reference
from fastgrad.objectives import Himmelblau, Rosenbrock, Sphere

from _fgtools import METHODS, bits, check_matrix, is_fast, point_of, stencil_points

RNG = np.random.default_rng(20261126)

# A serial build (FASTGRAD_OPENMP=0 at build time, set for its tests too, as .ci/run
# does) runs every batch on one thread.
SERIAL_BUILD = os.environ.get("FASTGRAD_OPENMP") == "0"


def matrix_bits(G):
    """A batch result (ndarray or list of lists) as rows of bit keys."""
    return [bits(row) for row in (G.tolist() if isinstance(G, np.ndarray) else G)]


# -- what a batch computes ------------------------------------------------------------

def test_gradient_batch_rows_equal_single_gradients(impl):
    X = RNG.normal(size=(6, 4))
    for f, kw in [(Rosenbrock(), {}), (lambda x: float(np.sum(np.sin(x))), {}),
                  (lambda a, b, c, d: a * b + c * d, {"unpack": True}),
                  (lambda P: np.sin(np.asarray(P)).sum(axis=1), {"vectorized": True})]:
        batch = impl.gradient_batch(f, X, method="forward", **kw)
        check_matrix(impl, batch, 6, 4)
        rows = [impl.gradient(f, x, method="forward", **kw) for x in X]
        assert matrix_bits(batch) == [bits(row) for row in rows]


def smooth(p):
    p = [float(v) for v in p]
    return sum((i + 1.0) * math.sin(v) * v + 0.5 * v * v for i, v in enumerate(p)) + p[0] * p[-1]


TIERS = {
    "python": (smooth, {}),
    "unpack": (lambda a, b, c: smooth([a, b, c]), {"unpack": True}),
    "compiled": (Rosenbrock(), {}),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("tier", sorted(TIERS))
@pytest.mark.parametrize("h", [1e-5, [1e-3, 1e-5, 1e-6]], ids=["h-scalar", "h-per-coordinate"])
def test_gradient_batch_bit_identical_to_the_reference(method, tier, h):
    f, kw = TIERS[tier]
    X = RNG.normal(size=(7, 3))
    fast = fastgrad.gradient_batch(f, X, h, method=method, **kw)
    slow = reference.gradient_batch(f, X.tolist(), h, method=method, **kw)
    check_matrix(fastgrad, fast, 7, 3)
    check_matrix(reference, slow, 7, 3)
    assert matrix_bits(fast) == matrix_bits(slow)


@pytest.mark.parametrize("method", METHODS)
def test_gradient_batch_evaluates_the_same_points_in_both(method):
    # The Python tier: row by row, each row's stencil in the contract's order.
    X = [[0.5, -1.0], [2.0, 0.25], [-3.0, 1.5]]
    h = [1e-3, 1e-4]
    seen = {}
    for impl in (fastgrad, reference):
        points = seen[impl.__name__] = []
        impl.gradient_batch(lambda p: points.append(point_of(p)) or float(p[0] * p[1]), X, h,
                            method=method)
    assert seen["fastgrad"] == seen["fastgrad.reference"]
    assert seen["fastgrad"] == [p for row in X for p in stencil_points(row, h, method)]


def test_gradient_batch_of_a_ctypes_callback(c_library):
    x = np.array([-1.2, 1.0, 0.3, 0.8])
    expected = fastgrad.gradient(Rosenbrock(), x)  # the same C arithmetic as rosen
    batch = fastgrad.gradient_batch(LowLevelCallable(c_library.rosen), np.tile(x, (5, 1)),
                                    num_threads=2)
    assert matrix_bits(batch) == [bits(expected)] * 5


def test_X_is_never_modified_and_the_result_is_new(impl):
    X = RNG.normal(size=(4, 2))
    before = X.copy()
    as_lists = X.tolist()
    G = impl.gradient_batch(Himmelblau(), X)
    G_lists = impl.gradient_batch(Himmelblau(), as_lists)
    assert X.tobytes() == before.tobytes() and as_lists == before.tolist()
    assert matrix_bits(G) == matrix_bits(G_lists)
    if is_fast(impl):
        owner = G
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        assert owner.flags.owndata and not np.shares_memory(G, X)
    else:
        assert all(row is not x for row in G_lists for x in as_lists)
        assert len({id(row) for row in G}) == len(G)


# -- errors ----------------------------------------------------------------------------

class Spy:
    """Counts its calls: bad arguments must be refused before f runs."""

    def __init__(self):
        self.calls = 0

    def __call__(self, p):
        self.calls += 1
        return 0.0


def test_gradient_batch_errors(impl):
    with pytest.raises(ValueError, match="num_threads must be a positive int or None, got 0"):
        impl.gradient_batch(Sphere(), [[1.0]], num_threads=0)
    with pytest.raises(ValueError, match="X must be 2-D"):
        impl.gradient_batch(Sphere(), np.ones(3))
    with pytest.raises(ValueError, match="X must hold at least one point"):
        impl.gradient_batch(Sphere(), [])
    with pytest.raises(ValueError, match="X must have rows of equal length"):
        impl.gradient_batch(Sphere(), [[1.0, 2.0], [1.0]])
    with pytest.raises(ValueError, match=r"X\[1\]: x must be finite"):
        impl.gradient_batch(Sphere(), [[1.0], [np.nan]])
    with pytest.raises(ValueError, match=r"h\[0\] = 1e-05 gives no usable step at X\[2, 0\] = 1e\+20"):
        impl.gradient_batch(Sphere(), [[1.0], [2.0], [1e20]])


@pytest.mark.parametrize("vectorized", [False, True])
def test_every_row_is_checked_before_f_is_evaluated(impl, vectorized):
    spy = Spy()
    with pytest.raises(ValueError, match=r"h\[1\] = 1e-05 gives no usable step at "
                                         r"X\[2, 1\] = 1e\+20"):
        impl.gradient_batch(spy, [[1.0, 2.0], [3.0, 4.0], [5.0, 1e20]], vectorized=vectorized)
    assert spy.calls == 0


@pytest.mark.parametrize("num_threads", [1, 2])
def test_the_first_row_without_a_usable_step_is_named_on_any_number_of_threads(impl,
                                                                             num_threads):
    # The compiled tier checks the rows in blocks on several threads: the
    # error still names the first bad row (and its first bad coordinate).
    X = np.ones((1000, 2))
    X[999, 0] = X[700, 0] = X[517, 1] = X[600, 1] = 1e20
    with pytest.raises(ValueError, match=r"h\[1\] = 1e-05 gives no usable step at "
                                         r"X\[517, 1\] = 1e\+20"):
        impl.gradient_batch(Sphere(), X, num_threads=num_threads)
    X[517, 0] = 1e20
    with pytest.raises(ValueError, match=r"h\[0\] = 1e-05 gives no usable step at "
                                         r"X\[517, 0\] = 1e\+20"):
        impl.gradient_batch(Sphere(), X, num_threads=num_threads)


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_a_matrix_X_is_read_row_by_row_as_the_reference_does(impl):
    # (moved from test_inputs.py) each row of an np.matrix is itself 2-D.
    with pytest.raises(ValueError, match="x must be 1-D"):
        impl.gradient_batch(lambda v: float(v[0]), np.matrix([[1.0, 2.0]]))


# -- threads -----------------------------------------------------------------------------

def threads_evaluating(c_library, expected, call):
    """(the number of threads that ran c_library.count_threads during call(), its result).

    Each thread that arrives waits for `expected` threads (see conftest.C_SOURCE), so
    every thread of the batch gets rows; fewer threads than expected show after 10 s.
    """
    ctypes.c_int.in_dll(c_library, "expected").value = expected
    ctypes.c_int.in_dll(c_library, "arrived").value = 0
    ctypes.c_int.in_dll(c_library, "generation").value += 1
    result = call()
    return ctypes.c_int.in_dll(c_library, "arrived").value, result


@pytest.mark.parametrize("rows,num_threads", [(240, 1), (240, 2), (240, 3), (240, 5), (2, 4)])
def test_num_threads_is_the_number_of_threads_that_evaluate_f(c_library, rows, num_threads):
    f = LowLevelCallable(c_library.count_threads)
    X = RNG.normal(size=(rows, 4))
    expected = 1 if SERIAL_BUILD else min(num_threads, rows)  # no more threads than rows
    used, G = threads_evaluating(
        c_library, expected, lambda: fastgrad.gradient_batch(f, X, num_threads=num_threads))
    assert used == expected
    one, G1 = threads_evaluating(c_library, 1, lambda: fastgrad.gradient_batch(f, X, num_threads=1))
    assert one == 1
    assert G.tobytes() == G1.tobytes()
    assert matrix_bits(G) == [bits(fastgrad.gradient(f, x)) for x in X]


DEFAULT_THREADS_SCRIPT = """
import ctypes, sys
import numpy as np
import fastgrad
from scipy import LowLevelCallable
lib = ctypes.CDLL(sys.argv[1])
lib.count_threads.restype = ctypes.c_double
lib.count_threads.argtypes = (ctypes.c_int, ctypes.POINTER(ctypes.c_double), ctypes.c_void_p)
ctypes.c_int.in_dll(lib, "expected").value = int(sys.argv[2])
ctypes.c_int.in_dll(lib, "generation").value = 1
fastgrad.gradient_batch(LowLevelCallable(lib.count_threads), np.ones((240, 4)))
print(ctypes.c_int.in_dll(lib, "arrived").value)
"""


@pytest.mark.parametrize("omp_num_threads", [1, 3])
def test_the_default_number_of_threads_follows_OMP_NUM_THREADS(c_library, tmp_path,
                                                               omp_num_threads):
    expected = 1 if SERIAL_BUILD else omp_num_threads
    env = dict(os.environ, OMP_NUM_THREADS=str(omp_num_threads))
    run = subprocess.run([sys.executable, "-c", DEFAULT_THREADS_SCRIPT, c_library._name,
                          str(expected)], cwd=tmp_path, env=env, timeout=120,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) == expected


def test_openmp_build_is_reported(c_library):
    # A build asked to be serial (FASTGRAD_OPENMP=0, set for the tests too) says so;
    # on Linux, GCC and Clang have OpenMP, so any other build there must have found it.
    from fastgrad import _batch as _core  # the module built with OpenMP
    if SERIAL_BUILD:
        assert _core.OPENMP is False and _core.max_threads() == 1
    elif sys.platform.startswith("linux"):
        assert _core.OPENMP is True, "the compiler has OpenMP: the build should have found it"
    # What the build reports is what a batch does: two threads with OpenMP, one without.
    f = LowLevelCallable(c_library.count_threads)
    expected = 2 if _core.OPENMP else 1
    used, _ = threads_evaluating(c_library, expected,
                                 lambda: fastgrad.gradient_batch(f, np.ones((64, 3)),
                                                                 num_threads=2))
    assert used == expected


@pytest.mark.parametrize("vectorized", [False, True])
def test_other_tiers_evaluate_f_in_the_calling_thread(impl, vectorized):
    seen = set()

    def f(p):
        seen.add(threading.get_ident())
        p = np.asarray(p, dtype=float)
        return (p * p).sum(axis=-1)

    impl.gradient_batch(f, RNG.normal(size=(50, 3)), vectorized=vectorized)
    assert seen == {threading.get_ident()}
    # Threads asked for on these tiers: an error pointing at workers=, never
    # silently serial (test_workers.py has the message and the other tiers).
    with pytest.raises(ValueError, match=r"^num_threads=4 needs a compiled objective .* "
                                         r"pass workers="):
        impl.gradient_batch(f, RNG.normal(size=(50, 3)), num_threads=4, vectorized=vectorized)


def test_gradient_batch_threads_give_identical_results():
    X = RNG.normal(size=(1000, 10))
    one = fastgrad.gradient_batch(Rosenbrock(), X, num_threads=1)
    for num_threads in (2, 3, 7, None):
        other = fastgrad.gradient_batch(Rosenbrock(), X, num_threads=num_threads)
        assert other.tobytes() == one.tobytes(), num_threads
    assert matrix_bits(one) == matrix_bits(reference.gradient_batch(Rosenbrock(), X.tolist()))


def test_huge_thread_counts_are_capped_not_fatal():
    X = np.ones((5000, 3))
    assert np.array_equal(fastgrad.gradient_batch(Sphere(), X, num_threads=60000),
                          fastgrad.gradient_batch(Sphere(), X, num_threads=1))


def test_two_threads_compute_the_same_as_one():
    X = RNG.normal(size=(400, 20))
    expected = fastgrad.gradient_batch(Rosenbrock(), X, num_threads=1)
    results = [None, None]

    def work(k):
        results[k] = fastgrad.gradient_batch(Rosenbrock(), X, num_threads=1)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.tobytes() == expected.tobytes() for r in results)


FORK_SCRIPT = """
import ctypes, os, sys
import numpy as np
import fastgrad
from fastgrad.objectives import Rosenbrock
from scipy import LowLevelCallable
lib = ctypes.CDLL(sys.argv[1])
lib.count_threads.restype = ctypes.c_double
lib.count_threads.argtypes = (ctypes.c_int, ctypes.POINTER(ctypes.c_double), ctypes.c_void_p)
X = np.random.default_rng(0).normal(size=(2000, 10))
parent = fastgrad.gradient_batch(Rosenbrock(), X, num_threads=2)  # OpenMP threads start
pid = os.fork()
if pid == 0:  # libgomp cannot be used here: fastgrad must fall back to one thread
    child = fastgrad.gradient_batch(Rosenbrock(), X)
    ctypes.c_int.in_dll(lib, "generation").value = 1
    fastgrad.gradient_batch(LowLevelCallable(lib.count_threads), X, num_threads=2)
    threads = ctypes.c_int.in_dll(lib, "arrived").value
    os._exit(0 if np.array_equal(child, parent) and threads == 1 else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_gradient_batch_works_in_a_forked_child(c_library, tmp_path):
    # A hang here would be the libgomp-after-fork deadlock; the timeout turns it into a failure.
    run = subprocess.run([sys.executable, "-c", FORK_SCRIPT, c_library._name], cwd=tmp_path,
                         timeout=120, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


# -- the vectorized tier: many rows a call --------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_vectorized_gradient_batch_groups_rows_into_few_calls(method):
    calls = []

    def rows(P):
        calls.append(P.shape)
        return np.sin(P).sum(axis=1) + P[:, 0] * P[:, -1]

    X = RNG.normal(size=(50, 3))
    batch = fastgrad.gradient_batch(rows, X, method=method, vectorized=True)
    k = 6 if method == "central" else 4
    assert calls == [(50 * k, 3)]  # every row's stencil in one call
    for r in range(50):
        assert bits(batch[r]) == bits(fastgrad.gradient(rows, X[r], method=method,
                                                        vectorized=True))
    slow = reference.gradient_batch(lambda P: rows(np.asarray(P)), X.tolist(), method=method,
                                    vectorized=True)
    assert np.allclose(batch, slow, rtol=1e-12, atol=0)


def test_vectorized_gradient_batch_splits_large_batches(monkeypatch):
    # A call gets the stencils of the rows that fit in the 512 KiB chunk: at n = 2,
    # 2**19 // 16 = 32768 points, 8192 rows; 40000 rows of 4 points make five calls.
    calls = []

    def rows(P):
        calls.append(len(P))
        return (P * P).sum(axis=1)

    X = RNG.normal(size=(40000, 2))
    batch = fastgrad.gradient_batch(rows, X, vectorized=True)
    assert calls == [32768] * 4 + [40000 * 4 - 4 * 32768]
    assert np.allclose(batch, 2 * X, rtol=1e-6, atol=1e-9)
    assert bits(batch[-1]) == bits(fastgrad.gradient(rows, X[-1], vectorized=True))
    # With a larger chunk, 65536 points a group at most (the bookkeeping's bound):
    # 16384 rows of 4 points a group, three groups.
    monkeypatch.setattr("fastgrad._contract.VECTORIZED_CACHE_BYTES", 32 * 2**20)
    calls.clear()
    again = fastgrad.gradient_batch(rows, X, vectorized=True)
    assert again.tobytes() == batch.tobytes()  # the same gradients, bit for bit
    assert calls == [65536, 65536, 40000 * 4 - 2 * 65536]


# -- Ctrl-C ------------------------------------------------------------------------------

def test_keyboard_interrupt_stops_a_long_compiled_batch(c_library):
    # The batch runs in blocks of rows, with the GIL released; Ctrl-C is seen
    # between blocks, long before the 4 million evaluations are done.
    import _thread
    counter = ctypes.c_long.in_dll(c_library, "calls")
    counter.value = 0
    X = np.ones((200000, 10))
    timer = threading.Timer(0.2, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        fastgrad.gradient_batch(LowLevelCallable(c_library.slow_count), X, num_threads=1)
    timer.join()
    assert 0 < counter.value < 200000 * 20
