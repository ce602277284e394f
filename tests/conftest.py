import ctypes
import os
import signal
import subprocess

import pytest

# OpenMP threads that wait passively (asleep, not spinning) between
# gradient_batch's parallel regions: set before the core loads libgomp, and
# inherited by the subprocesses the tests start.  The tests share the cores
# (pytest-xdist's other worker, other jobs), and libgomp's default spinning then
# makes the many short batches of tests/test_memory.py and the soak 10-100x
# slower (test_memory_flat[fast-compiled_batch]: 113 s -> 0.9 s beside a second
# worker).  Results are the same either way; OMP_WAIT_POLICY set outside wins.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import fastgrad  # noqa: E402
import fastgrad.reference  # noqa: E402

IMPLEMENTATIONS = {"fast": fastgrad, "reference": fastgrad.reference}

# A shell that starts pytest in the background (`cmd &`, nohup) hands it SIGINT
# ignored, and Python then installs no KeyboardInterrupt handler: the Ctrl-C
# tests would see nothing, in this process and in the children they start (an
# ignored signal stays ignored across exec; a handler does not).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# pytest-xdist (-n auto in pyproject.toml) spreads the tests over the cores one by
# one, but for the files whose tests start processes of their own (pools of two,
# a two-worker Dask cluster): those run on one worker, in turn, so that two sets
# never compete for the cores and the module's cluster starts once.  (Its
# xdist_group mark cannot do this under pytest 9, whose node ids xdist 3.8 can
# no longer suffix.)  An explicit --dist other than load is left alone.
PROCESS_FILES = {"test_dask.py", "test_workers.py", "test_workers_derivatives.py",
                 "test_workers_hessian.py"}
# Files handed out whole, before the single tests (the scheduler orders units by
# their number of tests): the soak (the longest test, a subprocess), so that it
# does not run on alone at the end; and the mypy file, whose module fixture runs
# mypy once (split over two workers it ran in each) and whose misuse check then
# reuses that run's warm cache (cold ~3 s, warm ~0.3 s).
FIRST_FILES = {"test_soak.py", "test_typing.py"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "load":
        return None
    import xdist
    from xdist.scheduler import LoadScopeScheduling

    class ProcessFilesTogether(LoadScopeScheduling):
        """xdist's LoadScopeScheduling, with the units above."""

        def _split_scope(self, nodeid):
            name = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
            if name in PROCESS_FILES:
                return "processes"
            return name if name in FIRST_FILES else nodeid

    if not xdist.__version__.startswith("3."):
        return ProcessFilesTogether(config, log)  # the internals below are xdist 3's

    class Leaner(ProcessFilesTogether):
        """... with two costs of xdist 3's bookkeeping cut (a speed-up only).

        Its bookkeeping kept every finished unit in the node's workload and summed
        them all up after each test: with a unit per test that was quadratic, some
        seconds of the controller's CPU (which the workers share) in a run of the
        suite.  A finished unit now leaves the workload.  And it sent one unit per
        message, a round trip to the controller per single test (the worker waits
        for it): single tests now go out a few at a time, fewer as the queue
        drains, one at a time at the end so that the workers finish together.
        """

        def mark_test_complete(self, node, item_index, duration=0):
            nodeid = self.registered_collections[node][item_index]
            workload = self.assigned_work[node]
            scope = self._split_scope(nodeid)
            unit = workload[scope]
            unit[nodeid] = True
            if all(unit.values()):
                del workload[scope]
            self._reschedule(node)

        def _reschedule(self, node):
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            if self._pending_of(self.assigned_work[node]) > 2:
                return
            batch = max(1, min(16, len(self.workqueue) // (8 * len(self.nodes))))
            positions = self._positions(node)
            indices = []
            while self.workqueue and batch:
                scope, unit = self.workqueue.popitem(last=False)
                self.assigned_work[node][scope] = unit
                indices += [positions[nodeid] for nodeid, done in unit.items() if not done]
                batch = batch - 1 if len(unit) == 1 else 0  # a group goes alone
            node.send_runtest_some(indices)

        def _assign_work_unit(self, node):
            scope, unit = self.workqueue.popitem(last=False)
            self.assigned_work[node][scope] = unit
            positions = self._positions(node)
            node.send_runtest_some([positions[nodeid] for nodeid, done in unit.items()
                                    if not done])

        def _positions(self, node):
            """nodeid -> its index in the node's collection (list.index was O(n))."""
            cache = self.__dict__.setdefault("_position_maps", {})
            if node not in cache:
                cache[node] = {nodeid: i for i, nodeid in
                               enumerate(self.registered_collections[node])}
            return cache[node]

    return Leaner(config, log)


def pytest_configure(config):
    # pytest rewrites the asserts of every module of a package that provides a
    # pytest plugin, hypothesis's ~80 included (they are not tests): ~1.3 s of each
    # collecting process, on every run where bytecode is not written (the rewritten
    # modules are not cached then).  Imported first with the rewriting hook set
    # aside, hypothesis loads as plain Python (~0.2 s); the tests' own asserts are
    # rewritten as before.  The xdist controller, which collects nothing, skips it.
    if os.environ.get("PYTEST_XDIST_WORKER") or not config.getoption("numprocesses", None):
        import sys
        try:
            from _pytest.assertion.rewrite import AssertionRewritingHook
        except ImportError:  # pytest moved it: hypothesis is rewritten, as before
            return
        hooks = [h for h in sys.meta_path if isinstance(h, AssertionRewritingHook)]
        for hook in hooks:
            sys.meta_path.remove(hook)
        try:
            import hypothesis.strategies  # noqa: F401
        finally:
            sys.meta_path[:0] = hooks


@pytest.fixture(params=sorted(IMPLEMENTATIONS), scope="session")
def impl(request):
    """The same test runs against the Cython-backed API and the pure-Python reference.

    Session scope: it is a pure parameter, so hypothesis tests may use it too.
    """
    return IMPLEMENTATIONS[request.param]


# -- user C callbacks (test_compiled.py, test_batch.py) ------------------------------

C_SOURCE = r"""
#include <math.h>
#include <sched.h>
#include <time.h>
static double term(double *x, int i) {
    double a = x[i + 1] - x[i] * x[i], b = 1.0 - x[i];
    return 100.0 * a * a + b * b;
}
/* Rosenbrock summed in the order of fastgrad.objectives.Rosenbrock (two partial sums) */
double rosen(int n, double *x, void *user_data) {
    double even = 0.0, odd = 0.0;
    for (int i = 0; i < n - 2; i += 2) {
        even += term(x, i);
        odd += term(x, i + 1);
    }
    if (n % 2 == 0) even += term(x, n - 2);
    return even + odd;
}
double rosen_no_data(int n, double *x) { return rosen(n, x, 0); }
double scaled_sphere(int n, double *x, void *user_data) {
    double scale = *(double *)user_data, total = 0.0;
    for (int i = 0; i < n; i++) total += x[i] * x[i];
    return scale * total;
}
double nan_below_half(int n, double *x, void *user_data) {
    return x[0] < 0.5 ? NAN : (x[0] - 0.0) * (x[0] - 0.0);
}
double two_ints(int a, int b) { return a + b; }
long calls = 0;
/* about a microsecond a call, counted (used with one thread only) */
double slow_count(int n, double *x, void *user_data) {
    volatile double total = 0.0;
    calls++;
    for (int k = 0; k < 500; k++) total += x[0] * k;
    return total;
}
/* sum of x[i]**2 + x[0], counting the threads that evaluate it.  The test bumps
   `generation` before each call of fastgrad; the first evaluation of each thread in
   a generation adds one to `arrived` and then waits (10 s at most, a guard against
   hanging) until `expected` threads have arrived, so that no thread of the team can
   finish all the rows before another one starts. */
int generation = 0, arrived = 0, expected = 1;
static __thread int my_generation = -1;
double count_threads(int n, double *x, void *user_data) {
    int g = __atomic_load_n(&generation, __ATOMIC_SEQ_CST);
    if (my_generation != g) {
        struct timespec start, now;
        my_generation = g;
        __atomic_add_fetch(&arrived, 1, __ATOMIC_SEQ_CST);
        clock_gettime(CLOCK_MONOTONIC, &start);
        now = start;
        while (__atomic_load_n(&arrived, __ATOMIC_SEQ_CST) < expected
               && now.tv_sec - start.tv_sec < 10) {
            sched_yield();
            clock_gettime(CLOCK_MONOTONIC, &now);
        }
    }
    double total = x[0];
    for (int i = 0; i < n; i++) total += x[i] * x[i];
    return total;
}
"""

@pytest.fixture(scope="session")
def c_library(tmp_path_factory):
    """A shared library of C objectives, compiled as a user would (no FMA contraction).

    ``c_library._name`` is its file, for a subprocess to load.
    """
    tmp = tmp_path_factory.mktemp("ccallback")
    source = tmp / "objectives.c"
    source.write_text(C_SOURCE)
    library = tmp / "objectives.so"
    subprocess.run(["cc", "-O2", "-ffp-contract=off", "-shared", "-fPIC", str(source), "-o",
                    str(library)], check=True)
    lib = ctypes.CDLL(str(library))
    for name in ("rosen", "scaled_sphere", "nan_below_half", "slow_count", "count_threads"):
        getattr(lib, name).restype = ctypes.c_double
        getattr(lib, name).argtypes = (ctypes.c_int, ctypes.POINTER(ctypes.c_double),
                                       ctypes.c_void_p)
    lib.rosen_no_data.restype = ctypes.c_double
    lib.rosen_no_data.argtypes = (ctypes.c_int, ctypes.POINTER(ctypes.c_double))
    lib.two_ints.restype = ctypes.c_double
    lib.two_ints.argtypes = (ctypes.c_int, ctypes.c_int)
    return lib
