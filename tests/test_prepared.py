"""Prepared callables: ``Gradient(f, **options)(x)`` is ``gradient(f, x, **options)``,
bit for bit, with the same exceptions and warnings (issue 9, item 1)."""
import pickle
import threading
import warnings

import numpy as np
import pytest

import fastgrad
import fastgrad.reference
from fastgrad.objectives import Rosenbrock, Sphere

from _fgtools import bits, floats


def textbook(x, y):
    return x * x * y + 3.0 * y


def rosen(x):
    return sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
               for i in range(len(x) - 1))


def rosen_rows(X):
    X = np.asarray(X, dtype=float)
    return (100.0 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1.0 - X[:, :-1]) ** 2).sum(axis=1)


CASES = [
    (textbook, {"unpack": True}, [1.5, -0.25]),
    (rosen, {}, [0.3, -1.2, 2.0]),
    (rosen, {"h": 1e-6, "method": "forward"}, [0.3, -1.2, 2.0]),
    (rosen, {"h": [1e-4, 1e-5, 1e-6]}, [0.3, -1.2, 2.0]),
    (rosen, {"h": "auto", "method": "central", "order": 4}, [0.3, -1.2, 2.0]),
    (rosen, {"h": "adaptive"}, [0.3, -1.2]),
    (rosen, {"bounds": ([0.0, -2.0, 1.0], [0.5, 0.0, 2.25])}, [0.3, -1.2, 2.0]),
    (rosen, {"full_output": True}, [0.3, -1.2, 2.0]),
    (rosen, {"method": "backward", "order": 3, "full_output": True, "h": "auto"},
     [0.3, -1.2]),
    (lambda x, a, b: a * x[0] ** 2 + b * x[1], {"args": (2.0, -3.0)}, [0.5, 4.0]),
    (lambda x: x[0] ** 3 * x[1], {"method": "complex"}, [0.5, 4.0]),
    (lambda x: x[0] ** 3 * x[1], {"method": "complex", "h": "auto", "full_output": True},
     [0.5, 4.0]),
    (rosen, {"h": "adaptive", "bounds": ([0.0, -2.0], [0.425, 0.0])}, [0.3, -1.2]),
]


def same(a, b):
    if hasattr(a, "grad"):
        assert bits(a.grad) == bits(b.grad)
        assert bits(a.error) == bits(b.error) and bits(a.step) == bits(b.step)
        assert (a.nfev, a.success, a.message) == (b.nfev, b.success, b.message)
    else:
        assert type(a) is type(b)
        assert bits(a) == bits(b)


@pytest.mark.parametrize("f, options, x", CASES)
def test_a_prepared_gradient_is_the_gradient_bit_for_bit(impl, f, options, x):
    G = impl.Gradient(f, **options)
    for point in (x, [v + 0.125 for v in x], x):  # reused: the same value every time
        same(G(point), impl.gradient(f, point, **options))


def test_vectorized_and_compiled_tiers(impl):
    x = [0.3, -1.2, 2.0, 0.5]
    for f, options in ((rosen_rows, {"vectorized": True}), (Rosenbrock(), {}),
                       (Sphere(), {"h": "auto"}), (Rosenbrock(), {"method": "forward"})):
        G = impl.Gradient(f, **options)
        for _ in range(3):
            same(G(x), impl.gradient(f, x, **options))
            same(G(np.array(x)), impl.gradient(f, np.array(x), **options))


def test_x_of_another_length_gets_a_fresh_evaluator(impl):
    G = impl.Gradient(rosen)
    for x in ([0.5, 1.0], [0.5, 1.0, 2.0], [0.5, 1.0]):
        same(G(x), impl.gradient(rosen, x))


def test_the_implementations_agree():
    x = [0.3, -1.2, 2.0]
    assert bits(fastgrad.Gradient(rosen)(x)) == bits(fastgrad.reference.Gradient(rosen)(x))
    G, R = fastgrad.Gradient(Rosenbrock(), h="auto"), fastgrad.reference.Gradient(Rosenbrock(),
                                                                                   h="auto")
    assert bits(G(x)) == bits(R(x))


def test_the_caller_x_is_not_modified(impl):
    x = np.array([0.3, -1.2, 2.0])
    kept = x.copy()
    for f in (rosen, Rosenbrock()):
        impl.Gradient(f)(x)
        assert bits(x) == bits(kept)


def raised(call):
    with pytest.raises(Exception) as info:
        call()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("options", [
    {"h": -1.0}, {"h": 0}, {"h": True}, {"method": "sideways"}, {"order": 3},
    {"method": "forward", "order": 9}, {"order": 2.0}, {"unpack": 1}, {"vectorized": None},
    {"full_output": "yes"}, {"args": [1.0]}, {"h": float("nan"), "method": "bad"},
])
def test_bad_options_raise_when_G_is_made_as_gradient_raises_them(impl, options):
    expected = raised(lambda: impl.gradient(rosen, [1.0, 2.0], **options))
    assert raised(lambda: impl.Gradient(rosen, **options)) == expected


def test_f_is_checked_when_G_is_made(impl):
    expected = raised(lambda: impl.gradient(42, [1.0]))
    assert raised(lambda: impl.Gradient(42)) == expected


def test_an_unknown_option_is_a_type_error(impl):
    assert raised(lambda: impl.Gradient(rosen, step=1e-3)) == (
        TypeError, "Gradient() got an unexpected keyword argument 'step'")


@pytest.mark.parametrize("options, x", [
    ({}, [1.0, float("nan")]), ({}, []), ({}, [[1.0]]), ({}, "ab"),
    ({"h": [1e-5, 1e-5]}, [1.0, 2.0, 3.0]),   # h of another length than x
    ({"h": [1e-5, -1.0]}, [1.0, 2.0]),        # a bad entry of a sequence h
    ({"h": "sometimes"}, [1.0, 2.0]),         # messages naming n: raised by G(x)
    ({"h": {1: 2}}, [1.0, 2.0]),
    ({"h": 1e-300}, [1e10, 1.0]),             # the step rounds away at x
    ({"bounds": (0.0, 1.0)}, [2.0, 0.5]),     # x outside the bounds
    ({"bounds": (0.0, 0.0)}, [0.0, 0.0]),     # no room
])
def test_what_depends_on_x_raises_from_G_as_from_gradient(impl, options, x):
    G = impl.Gradient(rosen, **options)
    expected = raised(lambda: impl.gradient(rosen, x, **options))
    assert raised(lambda: G(x)) == expected
    assert raised(lambda: G(x)) == expected


def test_exceptions_of_f_propagate_and_G_still_works(impl):
    def f(x):
        if x[0] > 10.0:
            raise ZeroDivisionError("too far")
        return x[0] ** 2 + x[1]
    for G in (impl.Gradient(f), impl.Gradient(lambda a, b: f([a, b]), unpack=True)):
        with pytest.raises(ZeroDivisionError, match="too far"):
            G([20.0, 1.0])
        assert floats(G([1.0, 1.0])) == floats(impl.gradient(f, [1.0, 1.0]))


def test_a_low_precision_f_warns_from_the_callers_line(impl):
    def f(x):
        return np.float32(x[0] ** 2)
    G = impl.Gradient(f)
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            g = G([1.0])
        assert [w.category for w in caught] == [fastgrad.PrecisionWarning]
        assert caught[0].filename == __file__
        with pytest.warns(fastgrad.PrecisionWarning):
            assert bits(g) == bits(impl.gradient(f, [1.0]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        impl.Gradient(f, full_output=True)([1.0])
    assert [w.filename for w in caught] == [__file__]


def test_a_prepared_gradient_in_many_threads_gives_every_thread_its_values(impl):
    # Each thread's points are its own: a shared scratch would mix them up.
    G = impl.Gradient(textbook, unpack=True)
    C = impl.Gradient(Rosenbrock())
    points = [[0.25 * k, 1.0 - 0.5 * k] for k in range(8)]
    want = {k: (bits(impl.gradient(textbook, p, unpack=True)),
                bits(impl.gradient(Rosenbrock(), p))) for k, p in enumerate(points)}
    wrong = []

    def work(k):
        for _ in range(200):
            got = (bits(G(points[k])), bits(C(points[k])))
            if got != want[k]:
                wrong.append(k)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(points))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_repr_and_pickle(impl):
    G = impl.Gradient(Sphere(), h=1e-4, method="forward")
    assert repr(G) == f"Gradient({Sphere()!r}, h=0.0001, method='forward')"
    copy = pickle.loads(pickle.dumps(G))
    assert type(copy) is type(G) and copy.options == {"h": 1e-4, "method": "forward"}
    assert bits(copy([1.0, 2.0])) == bits(G([1.0, 2.0]))
