"""The objective functions the benchmarks differentiate, and where they start.

Each workload says how its f takes its argument (its *style*), because that is
what picks the fastgrad tier and how the other competitors must call it:

- ``array``:      f(x) with x a 1-D array (fastgrad's Python tier);
- ``unpack``:     f(x, y, ...) with Python floats (``unpack=True``);
- ``vectorized``: f(X) with X of shape (k, n), one point per row, returning k values
                  (``vectorized=True``);
- ``compiled``:   f is a ``fastgrad.objectives`` object (the compiled tier).

Compiled workloads are not listed by hand: a workload that names its compiled
twin (the same function as a built-in objective) gets a compiled workload
whenever the installed fastgrad offers that objective.
"""
import functools
import importlib
from dataclasses import dataclass, replace
from typing import Callable, Optional, Tuple

import numpy as np

#: Observations in the least-squares problem (its data matrix is (LSQ_ROWS, n)).
LSQ_ROWS = 128
LSQ_SEED = 20251125


# -- the functions --------------------------------------------------------------

def textbook(x, y):
    """The README example, f(x, y) = x**2 + y**2, in the f(x, y) style."""
    return x**2 + y**2


def rosenbrock_py(x):
    """Rosenbrock as a plain Python loop: what a user writes without numpy.

    Also compiled by numba for the compiled-tier limit (same arithmetic, same order).
    """
    total = 0.0
    for i in range(len(x) - 1):
        a = x[i + 1] - x[i] * x[i]
        b = 1.0 - x[i]
        total += 100.0 * a * a + b * b
    return total


def rosenbrock_np(x):
    """Rosenbrock in numpy, one point at a time (asarray: the reference passes a list)."""
    x = np.asarray(x)
    head, tail = x[:-1], x[1:]
    return np.sum(100.0 * (tail - head * head) ** 2 + (1.0 - head) ** 2)


def rosenbrock_rows(X):
    """Rosenbrock in numpy at k points at once: X of shape (k, n) -> k values."""
    X = np.asarray(X)
    head, tail = X[:, :-1], X[:, 1:]
    return np.sum(100.0 * (tail - head * head) ** 2 + (1.0 - head) ** 2, axis=1)


@functools.lru_cache(maxsize=None)
def lsq_data(n):
    """Synthetic least-squares data (A of shape (LSQ_ROWS, n), b), fixed seed per n."""
    rng = np.random.default_rng([LSQ_SEED, n])
    A = rng.standard_normal((LSQ_ROWS, n))
    b = A @ rng.standard_normal(n) + 0.1 * rng.standard_normal(LSQ_ROWS)
    A.flags.writeable = b.flags.writeable = False
    return A, b


@functools.lru_cache(maxsize=None)
def lsq_loss(n):
    """The mean squared error mean((A x - b)**2) on lsq_data(n), as a numpy f."""
    A, b = lsq_data(n)

    def loss(x):
        r = A @ np.asarray(x) - b
        return (r @ r) / LSQ_ROWS
    return loss


@functools.lru_cache(maxsize=None)
def lsq_rows_loss(n):
    """The same loss at k points at once: X of shape (k, n) -> k values (a matrix product)."""
    A, b = lsq_data(n)
    AT = np.ascontiguousarray(A.T)

    def loss(X):
        R = np.asarray(X) @ AT - b
        return np.einsum("ij,ij->i", R, R) / LSQ_ROWS
    return loss


def lsq_loops(x, A, b):
    """The same loss as plain loops, for numba (the compiled-tier limit)."""
    total = 0.0
    for i in range(A.shape[0]):
        r = -b[i]
        for j in range(A.shape[1]):
            r += A[i, j] * x[j]
        total += r * r
    return total / A.shape[0]


# -- start points -----------------------------------------------------------------

def rosenbrock_start(n):
    """The classic start (-1.2, 1, -1.2, 1, ...)."""
    return np.where(np.arange(n) % 2 == 0, -1.2, 1.0)


def textbook_start(n):
    return np.array([1.0, -1.0])


def zeros(n):
    return np.zeros(n)


# -- the workloads -------------------------------------------------------------------

@dataclass(frozen=True)
class CompiledTwin:
    """The same function as a fastgrad compiled objective, and as loops for numba.

    name: the class in fastgrad.objectives; args(n): its constructor arguments;
    loops(n): (a function numba.njit compiles, f(x, *extra), its extra arguments).
    """
    name: str
    args: Callable[[int], tuple] = lambda n: ()
    loops: Optional[Callable[[int], Tuple[Callable, tuple]]] = None


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    style: str                                  # "array", "unpack", "vectorized", "compiled"
    objective: Callable[[int], Callable]        # n -> f
    start: Callable[[int], np.ndarray]          # n -> x0 (float64 array)
    learning_rate: float                        # stable for the descent benchmark
    sizes: Optional[Tuple[int, ...]] = None     # None: every n of the run
    twin: Optional[CompiledTwin] = None
    numba: Optional[Callable[[int], Tuple[Callable, tuple]]] = None  # the compiled-tier limit

    def applies(self, n):
        return self.sizes is None or n in self.sizes


BASE = (
    Workload("textbook", "x**2 + y**2, f(x, y) style", "unpack",
             lambda n: textbook, textbook_start, 0.1, sizes=(2,)),
    Workload("rosen_py", "Rosenbrock, pure Python", "array",
             lambda n: rosenbrock_py, rosenbrock_start, 1e-4,
             twin=CompiledTwin("Rosenbrock", loops=lambda n: (rosenbrock_py, ()))),
    Workload("rosen_np", "Rosenbrock, numpy", "array",
             lambda n: rosenbrock_np, rosenbrock_start, 1e-4),
    Workload("rosen_vec", "Rosenbrock, numpy vectorized (k, n)", "vectorized",
             lambda n: rosenbrock_rows, rosenbrock_start, 1e-4),
    Workload("lsq_np", f"least squares, numpy ({LSQ_ROWS} obs.)", "array",
             lsq_loss, zeros, 0.02,
             twin=CompiledTwin("LeastSquares", args=lsq_data,
                               loops=lambda n: (lsq_loops, lsq_data(n)))),
)


def compiled_workloads(objectives=None):
    """The compiled twins of BASE that the installed fastgrad can build.

    Asks fastgrad what it offers: no ``fastgrad.objectives`` module, or no class
    of that name in it, means no compiled workload (and no rewrite when it appears).
    """
    if objectives is None:
        try:
            objectives = importlib.import_module("fastgrad.objectives")
        except ImportError:
            return []
    found = []
    for base in BASE:
        twin = base.twin
        if twin is None or not hasattr(objectives, twin.name):
            continue
        build = getattr(objectives, twin.name)
        found.append(replace(
            base, key=base.key.split("_")[0] + "_c",
            title=base.title.split(",")[0] + f", compiled: objectives.{twin.name}",
            style="compiled", objective=_cached(lambda n, build=build, twin=twin: build(*twin.args(n))),
            twin=None, numba=twin.loops))
    return found


def _cached(make):
    """Build each n's objective once: construction is setup, not what we time."""
    return functools.lru_cache(maxsize=None)(make)


def all_workloads():
    """Every workload of this run, base ones first."""
    return list(BASE) + compiled_workloads()
