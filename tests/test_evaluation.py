"""Which points f sees, in which order, how many, and in what form.

Contract: f(x) first (forward/backward only), then for i = 0..n-1 the plus point,
then the minus point; nfev counts every evaluation.  In fastgrad, f may write to
the array it receives (every call still sees exactly its point), and an array f
keeps still holds the point f saw.
"""
import numpy as np
import pytest

import fastgrad
import fastgrad.reference as reference
from _fgtools import METHODS, floats, is_fast, point_of, stencil_points


class Recorder:
    """A smooth f that records every point it is called at (as tuples of floats)."""

    def __init__(self, unpack=False, vectorized=False):
        self.unpack, self.vectorized = unpack, vectorized
        self.points = []
        self.calls = 0

    @staticmethod
    def value(p):
        return sum((i + 1.0) * v * v + 0.5 * v for i, v in enumerate(p))

    def __call__(self, *args):
        self.calls += 1
        if self.vectorized:
            if self.unpack:
                rows = list(zip(*[[float(v) for v in col] for col in args]))
            else:
                rows = [point_of(r) for r in args[0]]
            self.points.extend(tuple(r) for r in rows)
            return np.array([self.value(r) for r in rows])
        p = tuple(float(v) for v in args) if self.unpack else point_of(args[0])
        self.points.append(p)
        return self.value(p)


X0 = [0.75, -1.5, 2.25]
STEPS = [1e-5, [1e-3, 1e-4, 1e-2]]


@pytest.mark.parametrize("h", STEPS, ids=["h-scalar", "h-per-coordinate"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("unpack", [False, True], ids=["array", "unpack"])
@pytest.mark.parametrize("vectorized", [False, True], ids=["python", "vectorized"])
def test_gradient_evaluation_order(impl, method, h, unpack, vectorized):
    rec = Recorder(unpack, vectorized)
    impl.gradient(rec, X0, h, method=method, unpack=unpack, vectorized=vectorized)
    expected = stencil_points(X0, h, method)
    assert rec.points == expected
    if not vectorized:
        assert rec.calls == len(expected) == (6 if method == "central" else 4)
    else:
        assert rec.calls == 1


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("unpack", [False, True], ids=["array", "unpack"])
@pytest.mark.parametrize("vectorized", [False, True], ids=["python", "vectorized"])
def test_same_points_in_both_implementations(method, unpack, vectorized):
    recs = []
    for impl in (fastgrad, reference):
        rec = Recorder(unpack, vectorized)
        impl.gradient_descent(rec, X0, 0.05, max_iter=5, h=[1e-3, 1e-4, 1e-2], method=method,
                              unpack=unpack, vectorized=vectorized, record=True)
        recs.append(rec.points)
    assert recs[0] == recs[1]
    assert len(recs[0]) > 5


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("vectorized", [False, True], ids=["python", "vectorized"])
def test_descent_nfev_counts_every_evaluation(impl, method, record, vectorized):
    rec = Recorder(vectorized=vectorized)
    r = impl.gradient_descent(rec, X0, 0.05, max_iter=7, method=method, record=record,
                              vectorized=vectorized)
    assert r.nit == 7
    assert r.nfev == len(rec.points)  # a vectorized call of k points counts k
    k = 2 * len(X0) if method == "central" else len(X0) + 1
    gradients = r.nit + 1
    # one stencil per gradient, plus f at each recorded iterate, or f at the end
    assert r.nfev == gradients * k + (r.nit + 1 if record else 1)
    if record:
        # f at x0 comes first, then x0's stencil; the path ends at the returned x
        assert rec.points[0] == tuple(X0)
        assert rec.points[1:1 + k] == stencil_points(X0, 1e-5, method)
        assert tuple(floats(r.path[-1])) == tuple(floats(r.x))
        # the run ends with f at the last iterate, then the stencil around it
        assert rec.points[-(k + 1)] == tuple(floats(r.x))
        assert rec.points[-k:] == stencil_points(floats(r.x), 1e-5, method)
    else:
        assert rec.points[:k] == stencil_points(X0, 1e-5, method)
        # the stencil around the returned x, then f at it (fun)
        assert rec.points[-(k + 1):-1] == stencil_points(floats(r.x), 1e-5, method)
        assert rec.points[-1] == tuple(floats(r.x))


def test_descent_final_evaluation_is_at_the_returned_x(impl):
    rec = Recorder()
    r = impl.gradient_descent(rec, X0, 0.05, max_iter=3)
    assert r.nit == 3
    assert rec.points[-1] == tuple(floats(r.x))
    assert floats([r.fun]) == [Recorder.value(tuple(floats(r.x)))]


# -- what f receives --------------------------------------------------------------

def test_f_receives_float64_vector_or_list(impl):
    kinds = []

    def f(p):
        kinds.append((type(p), getattr(p, "dtype", None), getattr(p, "shape", None),
                      tuple(type(v) for v in p) if isinstance(p, list) else None))
        return 0.0

    impl.gradient(f, np.array([1, 2], dtype=np.int32))
    if is_fast(impl):
        assert all(k[:3] == (np.ndarray, np.float64, (2,)) for k in kinds)
    else:
        assert all(k[0] is list and k[3] == (float, float) for k in kinds)


def test_unpack_passes_python_floats(impl):
    types = []

    def f(*values):
        types.append(tuple(type(v) for v in values))
        return 0.0

    impl.gradient(f, np.array([1.0, 2.0], dtype=np.float32), unpack=True)
    impl.gradient_descent(f, [1, 2], unpack=True, max_iter=2, record=True)
    assert types and all(t == (float, float) for t in types)


@pytest.mark.parametrize("method", METHODS)
def test_f_may_write_to_the_array_it_gets(method, impl):
    # (tests/test_reliability.py has more: every tier, views, x.base, the form.)
    seen = []

    def f(p):
        seen.append(point_of(p))
        value = float(p[0] ** 2 + p[1] ** 2)
        p[0] = 123.0  # scipy gh13740: f may scribble on its argument
        return value

    x = np.array([1.0, -1.0])
    g = impl.gradient(f, x, method=method)
    assert seen == stencil_points([1.0, -1.0], 1e-5, method)  # each call saw its point
    assert x.tolist() == [1.0, -1.0]
    assert floats(g) == floats(reference.gradient(lambda p: float(p[0] ** 2 + p[1] ** 2),
                                                  [1.0, -1.0], method=method))


def test_fast_vectorized_f_may_write_to_the_points():
    def f(X):
        values = X.sum(axis=1)
        X[:] = 5.0
        return values

    g = fastgrad.gradient(f, [1.0, 2.0], vectorized=True)
    assert g.tolist() == fastgrad.gradient(lambda X: X.sum(axis=1), [1.0, 2.0],
                                           vectorized=True).tolist()


def test_fast_f_never_gets_the_callers_array():
    x = np.array([1.0, 2.0])
    shared = []
    fastgrad.gradient(lambda p: shared.append(np.shares_memory(p, x)) or 0.0, x)
    fastgrad.gradient_descent(lambda p: shared.append(np.shares_memory(p, x)) or float(p @ p),
                              x, max_iter=2)
    assert shared and not any(shared)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("keep", ["array", "view", "every-other"])
def test_fast_arrays_kept_by_f_hold_the_points_f_saw(method, keep):
    # The core reuses one buffer from point to point; if f keeps the array (or a
    # view of it), the core must move on to a fresh buffer and leave f's alone.
    kept, seen = [], []

    def f(p):
        seen.append(tuple(p.tolist()))
        if keep == "array":
            kept.append(p)
        elif keep == "view":
            kept.append(p[1:])
        elif len(seen) % 2:
            kept.append(p)
        else:
            kept.append(None)
        return float(p @ p)

    x = [0.5, -2.0, 3.0]
    h = [1e-3, 1e-2, 1e-1]
    fastgrad.gradient(f, x, h, method=method)
    expected = stencil_points(x, h, method)
    assert seen == expected
    for p, k in zip(expected, kept):
        if k is None:
            continue
        assert tuple(k.tolist()) == (p[1:] if keep == "view" else p)


def test_fast_arrays_kept_by_f_during_descent():
    kept = []

    def f(p):
        kept.append(p)
        return float(p[0] * p[0] + p[1] * p[1])

    r = fastgrad.gradient_descent(f, [1.0, -1.0], 0.25, max_iter=3, record=True)
    # A recorder that copies each point (and computes the same values) sees:
    rec = Recorder()
    rec.value = lambda p: p[0] * p[0] + p[1] * p[1]
    r2 = fastgrad.gradient_descent(rec, [1.0, -1.0], 0.25, max_iter=3, record=True)
    assert [tuple(p.tolist()) for p in kept] == rec.points
    assert r.nfev == r2.nfev == len(kept)
    assert floats(r.x) == floats(r2.x)


@pytest.mark.parametrize("unpack", [False, True])
def test_fast_vectorized_arrays_kept_by_f_hold_the_points(unpack):
    kept = []

    def f(*a):
        X = np.column_stack(a) if unpack else a[0]
        kept.append(a)
        return X[:, 0] + X[:, 1]

    x = [1.0, 2.0]
    fastgrad.gradient_descent(f, x, 0.1, max_iter=2, vectorized=True, unpack=unpack,
                              record=True)
    rows = []
    for a in kept:
        X = np.column_stack(a) if unpack else a[0]
        rows.extend(tuple(r) for r in X.tolist())
    # Replay with a recorder that copies: the same points in the same order.
    rec = Recorder(unpack=unpack, vectorized=True)
    rec.value = lambda p: p[0] + p[1]
    fastgrad.gradient_descent(rec, x, 0.1, max_iter=2, vectorized=True, unpack=unpack,
                              record=True)
    assert rows == rec.points


def test_fast_vectorized_matrix_kept_by_f_is_never_handed_out_again():
    # Successive gradient() calls share one matrix of points (page faults at
    # n ~ 100), unless f kept it: then what f kept holds the points it saw.
    kept, addresses = [], []

    def keeps(X):
        kept.append(X)
        return X.sum(axis=1)

    def looks(X):
        addresses.append(X.ctypes.data)
        return X.sum(axis=1)

    fastgrad.gradient(keeps, [1.0, 2.0], h=0.5, vectorized=True)
    first = kept[0].copy()
    assert first.tolist() == [[1.5, 2.0], [0.5, 2.0], [1.0, 2.5], [1.0, 1.5]]
    g = fastgrad.gradient(looks, [3.0, 4.0], h=0.5, vectorized=True)
    fastgrad.gradient(looks, [5.0, 6.0], h=0.5, vectorized=True)
    assert kept[0].tolist() == first.tolist()
    assert addresses[0] != kept[0].ctypes.data
    assert addresses[0] == addresses[1]  # not kept: the next call's matrix
    assert g.tolist() == reference.gradient(lambda p: p[0] + p[1], [3.0, 4.0], h=0.5)


@pytest.mark.parametrize("change", ["frozen", "reshaped", "written"])
def test_fast_vectorized_matrix_changed_by_f_gives_the_same_gradients(change):
    # f may write to the points or change the array's form; the next call's
    # gradient is the reference's all the same.
    def f(X):
        values = X[:, 0] ** 2 + X[:, 1]
        if change == "frozen":
            X.flags.writeable = False
        elif change == "reshaped":
            X.shape = (X.size,)
        else:
            X[:] = np.nan
        return values

    for x in ([1.0, 2.0], [3.0, -4.0]):
        assert fastgrad.gradient(f, x, h=0.5, vectorized=True).tolist() == \
            reference.gradient(lambda p: p[0] ** 2 + p[1], x, h=0.5)



def test_fast_vectorized_matrix_of_an_evaluator_collected_in_a_cycle():
    # An error caught in a function leaves the evaluator in a cycle (the
    # function's frame -> the exception -> its traceback -> the frame); the
    # garbage collector frees it, and its matrix becomes the next call's: whole,
    # not cleared by the collector (f was handed None here once).  The
    # collector runs by itself, as in a program (gc.collect() after each error
    # happens to clear the objects in an order that hid the fault).
    def wrong_shape(X):
        return np.ones((len(X), 1))

    def refused():
        with pytest.raises(ValueError) as info:
            fastgrad.gradient_descent(wrong_shape, [1.0, 2.0], vectorized=True)
        return info is not None

    for _ in range(300):
        assert refused()
        g = fastgrad.gradient(lambda X: X[:, 0] * X[:, 1], [1.0, 2.0], h=0.5, vectorized=True)
        assert g.tolist() == [2.0, 1.0]
