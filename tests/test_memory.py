"""Nothing leaks: reference counts of everything the caller hands over (x, args,
f, callback) and of everything f hands back stay put over 10**5 calls, and
traced memory stays flat over many calls, exceptions from f included.

Small n keeps this fast; one leaked reference per call would show as +10**5.
"""
import gc
import sys
import tracemalloc

import numpy as np
import pytest

import fastgrad
from fastgrad.objectives import Rosenbrock


CALLS = 10**5
#: The reference is pure Python: a reference it leaked would have to be kept by
#: some object, once per call, and shows as exactly in a hundredth of the calls
#: (the counts must stay equal); its traced memory is watched over a quarter of
#: the rounds (a leak of 24 bytes a call still exceeds BOUND).  The compiled
#: core, whose leaks could be small and rare, gets every call.
REFERENCE_SHARE = {"refcounts": 100, "memory": 4}


def calls(impl, count, check="refcounts"):
    """How many calls a check makes with this implementation."""
    return count if impl is fastgrad else count // REFERENCE_SHARE[check]


class Real(float):
    """A float subclass: the core reads it without a conversion call."""


def returns_in_turn(objects):
    """An f that returns the kept objects in turn (each stays alive in the closure)."""
    state = [0]

    def f(*a):
        state[0] += 1
        return objects[state[0] % len(objects)]

    return f


def returned_objects():
    # float subclass, numpy float64 (a float subclass), and three that go through
    # the general conversion: numpy float32, a big int, a 0-d array
    return [Real(1.5), np.float64(2.5), np.float32(0.5), 10**20, np.array(3.0)]


def refcounts(objects):
    return [sys.getrefcount(o) for o in objects]


def expect_raise(exc, words, call, *args, **kwargs):
    """call(*args, **kwargs) raises exc with `words` in its message (asserted: the
    scenario must be the failure it stands for, not a call that quietly succeeds)."""
    try:
        call(*args, **kwargs)
    except exc as e:
        assert words in str(e), (words, str(e))
        return e
    raise AssertionError(f"{call.__name__} did not raise {exc.__name__}")


@pytest.mark.filterwarnings("ignore::fastgrad.PrecisionWarning")  # f returns low-precision values on purpose
@pytest.mark.parametrize("unpack", [False, True])
def test_refcounts_stable_over_many_gradient_calls(impl, unpack):
    x = np.array([1.0]) if not unpack else [1.0]
    a, b = Real(2.0), object()
    args = (a, b)
    kept = returned_objects()
    f = returns_in_turn(kept)
    watched = [x, a, b, args, f] + kept + ([x[0]] if unpack else [])
    impl.gradient(f, x, args=args, unpack=unpack)  # warm up
    before = refcounts(watched)
    for _ in range(calls(impl, CALLS)):
        impl.gradient(f, x, args=args, unpack=unpack)
    after = refcounts(watched)
    assert after == before


def test_refcounts_stable_on_the_compiled_tier(impl):
    x = np.array([-1.2, 1.0, 0.5])
    callback = lambda v: False  # noqa: E731
    watched = [x, ROSENBROCK, callback]
    impl.gradient_descent(ROSENBROCK, x, 1e-3, max_iter=3, callback=callback)
    before = refcounts(watched)
    for _ in range(calls(impl, CALLS // 100)):
        impl.gradient(ROSENBROCK, x)
        impl.gradient_descent(ROSENBROCK, x, 1e-3, max_iter=3, optimizer="adam",
                              callback=callback, record=True)
        impl.gradient_batch(ROSENBROCK, BATCH)
    assert refcounts(watched) == before


def test_refcounts_stable_with_a_list_x_and_per_coordinate_h(impl):
    x = [1.0, 2.0]
    h = [1e-5, 1e-4]
    item = Real(3.0)
    kept = [Real(0.25)]
    f = returns_in_turn(kept)
    watched = [x, h, x[0], x[1], h[0], item, f, kept[0]]
    before = refcounts(watched)
    for _ in range(calls(impl, CALLS // 2)):
        impl.gradient(f, x, h, args=(item,), method="forward")
    assert refcounts(watched) == before


def test_refcounts_stable_vectorized(impl):
    x = np.array([1.0])
    ret = np.zeros(2)
    item = Real(1.0)
    f = returns_in_turn([ret])
    watched = [x, ret, item, f]
    before = refcounts(watched)
    for _ in range(calls(impl, CALLS // 2)):
        impl.gradient(f, x, args=(item,), vectorized=True)
    assert refcounts(watched) == before


class Truthy:
    def __bool__(self):
        return True


def test_refcounts_stable_over_many_descents(impl):
    x0 = np.array([1.0])
    item = Real(1.0)
    kept = [Real(v) for v in (1.0, 2.0, 4.0, 3.0)]
    f = returns_in_turn(kept)
    stop = [Truthy()]  # an object of its own: True's count moves with any thread

    def callback(x):
        return stop[0]

    watched = [x0, item, f, callback, stop[0]] + kept
    before = refcounts(watched)
    for _ in range(calls(impl, CALLS // 20)):
        impl.gradient_descent(f, x0, args=(item,), callback=callback, record=True,
                              max_iter=3)
    assert refcounts(watched) == before


def test_refcounts_stable_when_f_raises(impl):
    error = ValueError("kept")
    x = np.array([1.0, 2.0])
    item = Real(1.0)

    def f(p, a):
        raise error

    watched = [x, item, f]
    before = refcounts(watched)
    error_before = None
    for i in range(calls(impl, CALLS // 10)):
        assert expect_raise(ValueError, "kept", impl.gradient, f, x, args=(item,)) is error
        if i == 0:
            error.__traceback__ = None
            error_before = sys.getrefcount(error)
    error.__traceback__ = None
    assert refcounts(watched) == before
    assert sys.getrefcount(error) == error_before


def test_refcounts_stable_when_f_returns_a_bad_value(impl):
    bad = "not a number"
    x = np.array([1.0])
    f = returns_in_turn([bad])
    before = refcounts([bad, x, f])
    for _ in range(calls(impl, CALLS // 10)):
        expect_raise(TypeError, "'not a number'", impl.gradient, f, x)
    assert refcounts([bad, x, f]) == before


def test_fast_arrays_kept_by_f_are_released_with_f():
    # The fresh buffers the core swaps in when f keeps its array belong to f alone.
    import fastgrad
    import weakref

    kept = []
    fastgrad.gradient(lambda p: kept.append(p) or 0.0, [1.0, 2.0])
    refs = [weakref.ref(p) for p in kept]
    assert len(kept) == 4
    assert all(sys.getrefcount(p) == 3 for p in kept)  # the list, the loop variable, the call
    del kept
    gc.collect()
    assert all(r() is None for r in refs)


# -- memory flat ----------------------------------------------------------------------

def traced_growth(fn, rounds):
    """Traced memory that rounds calls leave allocated, after as many untraced ones (bytes).

    The window is the second half of 2*rounds calls, as in a comparison of the
    traced memory after rounds and after 2*rounds calls; tracing only that half
    halves the run (a traced call is 4-12x slower).  Blocks allocated before the
    window and freed in it are not subtracted here, so this is never less than
    that difference: a leak of b bytes a call still shows as b*rounds (8 bytes a
    call over 4000 calls: 32,032 bytes, as before), and calls that leak nothing
    show 0-32 bytes.
    """
    for _ in range(rounds + rounds // 10):
        fn()  # warm up caches (type caches, free lists, numpy's), then the first half
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(rounds):
            fn()
        gc.collect()
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


# A leak of one float (24 bytes) per call over 4000 calls is ~96 KB, of one
# stencil buffer far more; 16 KiB leaves room only for allocator noise.
BOUND = 16 * 1024


def sphere(p):
    return float(p[0]) ** 2 + float(p[1]) ** 2


ROSENBROCK = Rosenbrock()
BATCH = np.random.default_rng(0).normal(size=(8, 3))


def raising(p):
    raise RuntimeError("inside f")


def returning_str(p):
    return "x"


def scenarios(impl):
    def gradient():
        impl.gradient(sphere, [1.0, 2.0])

    def gradient_unpack():
        impl.gradient(lambda a, b: a * a + b * b, np.array([1.0, 2.0]), unpack=True)

    def gradient_vectorized():
        impl.gradient(lambda X: np.asarray(X, float).sum(axis=1), [1.0, 2.0], vectorized=True)

    def gradient_keeping_arrays():
        kept = []
        impl.gradient(lambda p: kept.append(p) or 0.0, [1.0, 2.0])

    def descent():
        impl.gradient_descent(sphere, [1.0, 2.0], 0.3, max_iter=20, record=True,
                              callback=lambda x: False)

    def f_raises():
        expect_raise(RuntimeError, "inside f", impl.gradient_descent, raising, [1.0, 2.0])

    def f_returns_str():
        expect_raise(TypeError, "str 'x'", impl.gradient, returning_str, [1.0, 2.0])

    def bad_argument():
        expect_raise(ValueError, "tol must be", impl.gradient_descent, sphere, [1.0, 2.0],
                     tol=-1.0)

    def nan_stop():
        impl.gradient_descent(lambda p: float("nan"), [1.0, 2.0])

    def compiled_descents():  # every optimizer's C state, the path, a callback
        for optimizer in ("momentum", "adam", "armijo"):
            impl.gradient_descent(ROSENBROCK, [-1.2, 1.0], 1e-3, max_iter=10, record=True,
                                  optimizer=optimizer, callback=lambda x: False)

    def compiled_batch():
        impl.gradient_batch(ROSENBROCK, BATCH, num_threads=2)

    def compiled_wrong_length():
        expect_raise(ValueError, "Rosenbrock takes x of length >= 2, got 1", impl.gradient,
                     ROSENBROCK, [1.0])

    return dict(gradient=(gradient, 4000), gradient_unpack=(gradient_unpack, 4000),
                compiled_descents=(compiled_descents, 300),
                compiled_batch=(compiled_batch, 1000),
                compiled_wrong_length=(compiled_wrong_length, 4000),
                gradient_vectorized=(gradient_vectorized, 4000),
                gradient_keeping_arrays=(gradient_keeping_arrays, 4000),
                descent=(descent, 200), f_raises=(f_raises, 4000),
                f_returns_str=(f_returns_str, 4000), bad_argument=(bad_argument, 4000),
                nan_stop=(nan_stop, 4000))


@pytest.mark.parametrize("name", sorted(scenarios(None)))
def test_memory_flat(impl, name):
    fn, rounds = scenarios(impl)[name]
    rounds = calls(impl, rounds, "memory")
    growth = traced_growth(fn, rounds)
    assert growth < BOUND, f"{name}: traced memory grew by {growth} bytes over {rounds} calls"
