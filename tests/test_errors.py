"""Bad input and faults (DESIGN.md): the exception type, a message naming the
parameter (and the value where the contract says so), raised before f is called,
and the same from both implementations (every test runs against both)."""
import math
import re
import sys
import traceback

import numpy as np
import pytest

import fastgrad
import fastgrad.reference as reference
from _fgtools import METHODS, assert_same_result, bits


class Spy:
    """A harmless f that counts its calls: bad arguments must raise before f runs."""

    def __init__(self):
        self.calls = 0

    def __call__(self, *a):
        self.calls += 1
        return 0.0


def call(impl, which, f, x, **kw):
    if which == "gradient":
        return impl.gradient(f, x, **kw)
    if which == "step":
        return impl.gradient_descent_step(f, x, **kw)
    return impl.gradient_descent(f, x, **kw)


FUNCTIONS = ["gradient", "step", "descent"]


def stable_id(value):
    """A test id from repr(value), without memory addresses (stable from run to run)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value)).replace(" ", "")


def names(message, word):
    """The message names the parameter `word` as a word of its own (x, x[1], h[0]...)."""
    return re.search(rf"(?<![\w.]){re.escape(word)}(?![\w])", message) is not None


def check_raises(impl, which, exc, kw, words, x=(1.0, 2.0), f=None):
    spy = Spy() if f is None else f
    with pytest.raises(exc) as info:
        call(impl, which, spy, list(x) if isinstance(x, tuple) else x, **kw)
    assert type(info.value) is exc, f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    # words[0] is the parameter, which must appear as a name of its own; the
    # others (values, shapes) must appear in the message.
    assert names(message, words[0]), (words[0], message)
    for word in words[1:]:
        assert word in message, (word, message)
    if f is None:
        assert spy.calls == 0, "f was called before the bad argument was rejected"
    # one clean exception (nothing chained into its traceback) ...
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__
    # ... with the same type and message from the other implementation
    other = reference if impl is not reference else fastgrad
    with pytest.raises(exc) as same:
        call(other, which, Spy() if f is None else f,
             list(x) if isinstance(x, tuple) else x, **kw)
    assert (type(same.value), str(same.value)) == (exc, message)
    return message


# -- f ----------------------------------------------------------------------------

@pytest.mark.parametrize("which", FUNCTIONS)
@pytest.mark.parametrize("bad", [None, 3.0, "f", [lambda x: 0.0]], ids=stable_id)
def test_f_not_callable(impl, which, bad):
    with pytest.raises(TypeError) as info:
        call(impl, which, bad, [1.0])
    assert type(info.value) is TypeError
    assert str(info.value).startswith(f"f must be callable, got {type(bad).__name__} ")
    assert other_error(impl, which, bad, [1.0]) == (TypeError, str(info.value))


def other_error(impl, which, f, x, **kw):
    """(type, message) of what the other implementation raises for the same call."""
    other = reference if impl is not reference else fastgrad
    with pytest.raises(Exception) as info:
        call(other, which, f, x, **kw)
    return type(info.value), str(info.value)


# -- x ----------------------------------------------------------------------------

BAD_X = [
    ([], ValueError, ["x", "empty"]),
    ([[1.0, 2.0], [3.0, 4.0]], ValueError, ["x", "1-D"]),
    (np.zeros((2, 2)), ValueError, ["x", "1-D", "(2, 2)"]),
    (np.array(1.0), ValueError, ["x", "1-D"]),
    ([1.0, [2.0]], ValueError, ["x[1]", "1-D"]),
    ([1.0, math.nan], ValueError, ["x[1]", "nan"]),
    ([math.inf, 1.0], ValueError, ["x[0]", "inf"]),
    ([1.0, -math.inf], ValueError, ["x[1]", "-inf"]),
    (np.array([1.0, np.nan]), ValueError, ["x[1]", "nan"]),
    # a non-finite x is reported as such, even when another coordinate is also bad
    ([1e20, math.nan], ValueError, ["x[1]", "nan", "finite"]),
    (np.array([1e300, 1.0, -np.inf]), ValueError, ["x[2]", "inf", "finite"]),
    (np.array([1.0, 2.0, np.inf], dtype=np.float32), ValueError, ["x[2]", "inf"]),
    (["1.0", 2.0], TypeError, ["x[0]", "str"]),
    ("12", TypeError, ["x", "str"]),
    (b"12", TypeError, ["x", "bytes"]),
    ([1.0, 1 + 2j], TypeError, ["x[1]", "complex"]),
    (np.array([1 + 2j, 3.0]), TypeError, ["x[0]", "complex"]),
    ([1.0, None], TypeError, ["x[1]", "None"]),
    (None, TypeError, ["x", "None"]),
    ((v for v in [1.0, 2.0]), TypeError, ["x", "generator"]),
    (3.0, TypeError, ["x", "float"]),
    (np.array(["a", "b"]), TypeError, ["x[0]"]),
]


@pytest.mark.parametrize("which", FUNCTIONS)
@pytest.mark.parametrize("x,exc,words", BAD_X, ids=[stable_id(c[0]) for c in BAD_X])
def test_bad_x(impl, which, x, exc, words):
    check_raises(impl, which, exc, {}, words, x=x)


# -- h ----------------------------------------------------------------------------

@pytest.mark.parametrize("which", FUNCTIONS)
@pytest.mark.parametrize("h", [0.0, -0.0, -1e-5, math.nan, math.inf, -math.inf, 0, -1])
def test_bad_scalar_h(impl, which, h):
    check_raises(impl, which, ValueError, {"h": h}, ["h", repr(h)])


@pytest.mark.parametrize("which", FUNCTIONS)
@pytest.mark.parametrize("h", [[1e-5], [1e-5] * 3, np.full(3, 1e-5), []], ids=repr)
def test_h_of_the_wrong_length(impl, which, h):
    msg = check_raises(impl, which, ValueError, {"h": h}, ["h"])
    assert str(len(h)) in msg and "2" in msg


@pytest.mark.parametrize("which", FUNCTIONS)
@pytest.mark.parametrize("bad", [0.0, -1e-5, math.nan, math.inf])
@pytest.mark.parametrize("container", [list, tuple, np.array])
def test_bad_per_coordinate_h_entry(impl, which, bad, container):
    h = container([1e-5, bad])
    msg = check_raises(impl, which, ValueError, {"h": h}, ["h[1]"])
    assert repr(bad) in msg or str(bad) in msg, msg


@pytest.mark.parametrize("which", FUNCTIONS)
@pytest.mark.parametrize("h", [None, [1e-5, "a"]], ids=repr)
def test_non_numeric_h(impl, which, h):
    check_raises(impl, which, TypeError, {"h": h}, ["h"] if not isinstance(h, list) else ["h[1]"])


@pytest.mark.parametrize("which", FUNCTIONS)
@pytest.mark.parametrize("h", ["1e-5", "Auto", ""], ids=repr)
def test_unknown_step_rule(impl, which, h):
    # a string names a step rule: only "auto" is one
    msg = check_raises(impl, which, ValueError, {"h": h}, ["h", "'auto'", repr(h)])
    assert msg.startswith("h must be a positive number, a sequence of "), msg


@pytest.mark.parametrize("which", FUNCTIONS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("x,h,i", [([1e20], 1e-5, 0), ([0.0, 1e20, 1.0], 1e-5, 1),
                                   ([1.0, 2.0, 3e16], [1e-5, 1e-5, 0.4], 2)])
def test_h_too_small_for_x(impl, which, method, x, h, i):
    # x[i] + h rounds back to x[i]: the realised step is 0; never a silent 0 or inf.
    hi = h if np.ndim(h) == 0 else h[i]
    msg = check_raises(impl, which, ValueError, {"h": h, "method": method},
                       [f"h[{i}]", f"x[{i}]", repr(x[i]), repr(hi)], x=x)
    assert "h" in msg


# -- method, args, flags ----------------------------------------------------------

@pytest.mark.parametrize("which", FUNCTIONS)
@pytest.mark.parametrize("method", ["centre", "CENTRAL", "", None, 0, "cs"], ids=repr)
def test_unknown_method(impl, which, method):
    check_raises(impl, which, ValueError, {"method": method}, ["method", repr(method)])


@pytest.mark.parametrize("which", FUNCTIONS)
@pytest.mark.parametrize("args", [[1.0], 1.0, None, "ab"], ids=repr)
def test_args_not_a_tuple(impl, which, args):
    check_raises(impl, which, TypeError, {"args": args}, ["args"])


@pytest.mark.parametrize("which", FUNCTIONS)
@pytest.mark.parametrize("flag", ["unpack", "vectorized"])
@pytest.mark.parametrize("value", [1, 0, "yes", None, np.True_], ids=repr)
def test_flags_must_be_bool(impl, which, flag, value):
    check_raises(impl, which, TypeError, {flag: value}, [flag])


# -- learning_rate, tol, max_iter, callback, record --------------------------------

@pytest.mark.parametrize("which", ["step", "descent"])
@pytest.mark.parametrize("lr", [0.0, -0.1, math.nan, math.inf, 0, -1])
def test_bad_learning_rate(impl, which, lr):
    check_raises(impl, which, ValueError, {"learning_rate": lr}, ["learning_rate", repr(lr)])


@pytest.mark.parametrize("tol", [-1e-6, -math.inf, math.nan, -1])
def test_bad_tol(impl, tol):
    check_raises(impl, "descent", ValueError, {"tol": tol}, ["tol", repr(tol)])


@pytest.mark.parametrize("max_iter", [-1, 2.5, 10.0, True, False, "10", None, math.inf],
                         ids=repr)
def test_bad_max_iter(impl, max_iter):
    check_raises(impl, "descent", ValueError, {"max_iter": max_iter},
                 ["max_iter", repr(max_iter)])


@pytest.mark.parametrize("callback", [5, "stop", True], ids=repr)
def test_callback_not_callable(impl, callback):
    check_raises(impl, "descent", TypeError, {"callback": callback}, ["callback"])


@pytest.mark.parametrize("record", [1, "yes", None], ids=repr)
def test_record_must_be_bool(impl, record):
    check_raises(impl, "descent", TypeError, {"record": record}, ["record"])


# -- f returning something that is not a real scalar ------------------------------

BAD_RETURNS = [
    ("abc", "str"),
    (1 + 2j, "complex"),
    (None, "NoneType"),
    (np.array([1.0]), "ndarray"),
    (np.array([1.0, 2.0]), "ndarray"),
    ([1.0], "list"),
    (np.complex128(1.0), "complex128"),
    (object(), "object"),
]


@pytest.mark.parametrize("which", FUNCTIONS)
@pytest.mark.parametrize("unpack", [False, True])
@pytest.mark.parametrize("ret,name", BAD_RETURNS, ids=[c[1] + str(i) for i, c in enumerate(BAD_RETURNS)])
def test_f_returning_a_non_real_scalar(impl, which, unpack, ret, name):
    with pytest.raises(TypeError) as info:
        call(impl, which, lambda *a: ret, [1.0, 2.0], unpack=unpack)
    assert type(info.value) is TypeError
    msg = str(info.value)
    assert msg.startswith(f"f must return a real scalar, got {name} "), msg
    if isinstance(ret, np.ndarray):
        assert f"of shape {ret.shape}; " in msg  # and a hint (tests/test_hints.py)
    assert other_error(impl, which, lambda *a: ret, [1.0, 2.0], unpack=unpack) == (TypeError, msg)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_f_returning_a_non_real_scalar_midway(impl):
    # Fine at first, then a string: still a TypeError naming it, from the descent too.
    state = {"n": 0}

    def f(p):
        state["n"] += 1
        return "oops" if state["n"] > 9 else float(p[0]) ** 2

    with pytest.raises(TypeError, match="str 'oops'"):
        impl.gradient_descent(f, [3.0])


@pytest.mark.filterwarnings("ignore::fastgrad.PrecisionWarning")  # f returns low-precision values on purpose
@pytest.mark.parametrize("ret", [True, 3, np.float32(1.5), np.int64(2), np.array(2.5),
                                 np.float64(0.5)], ids=repr)
def test_f_returning_other_real_scalars_is_fine(impl, ret):
    g = impl.gradient(lambda p: ret, [1.0, 2.0])
    assert [float(v) for v in g] == [0.0, 0.0]


# -- vectorized f returning the wrong thing ----------------------------------------

WRONG_SHAPES = [
    lambda k: np.ones((k, 1)),
    lambda k: np.ones(k + 1),
    lambda k: np.ones(k - 1),
    lambda k: np.ones((1, k)),
    lambda k: 1.0,
    lambda k: np.float64(1.0),
    lambda k: [1.0] * (k + 1),
    lambda k: [[1.0]] * k,
]


@pytest.mark.parametrize("which", FUNCTIONS)
@pytest.mark.parametrize("make", WRONG_SHAPES,
                         ids=["k-by-1", "k+1", "k-1", "1-by-k", "float", "float64", "list-k+1",
                              "nested-list"])
def test_vectorized_wrong_shape(impl, which, make):
    def f(X):
        return make(len(X))

    with pytest.raises(ValueError) as info:
        call(impl, which, f, [1.0, 2.0], vectorized=True)
    assert type(info.value) is ValueError
    # the central stencil of n = 2: 4 points, so 4 values
    assert str(info.value).startswith("vectorized f must return an array of shape (4,), got "), \
        str(info.value)
    # ... and the same words from the other implementation
    assert other_error(impl, which, f, [1.0, 2.0], vectorized=True) == \
        (ValueError, str(info.value))


@pytest.mark.parametrize("which", FUNCTIONS)
@pytest.mark.parametrize("make", [lambda k: np.ones(k, dtype=complex),
                                  lambda k: [1j] * k,
                                  lambda k: np.array(["a"] * k)], ids=["complex", "list-complex", "str"])
def test_vectorized_non_real_values(impl, which, make):
    with pytest.raises(TypeError) as info:
        call(impl, which, lambda X: make(len(X)), [1.0, 2.0], vectorized=True)
    assert type(info.value) is TypeError
    assert str(info.value).startswith("vectorized f must return real numbers, got "), \
        str(info.value)
    assert other_error(impl, which, lambda X: make(len(X)), [1.0, 2.0], vectorized=True) == \
        (TypeError, str(info.value))


# -- exceptions raised inside f ----------------------------------------------------

class Boom(Exception):
    pass


def frames(exc):
    return [t.name for t in traceback.extract_tb(exc.__traceback__)]


@pytest.mark.parametrize("which", FUNCTIONS)
@pytest.mark.parametrize("unpack", [False, True])
@pytest.mark.parametrize("vectorized", [False, True])
@pytest.mark.parametrize("after", [0, 3])
def test_exception_in_f_propagates_unchanged(impl, which, unpack, vectorized, after):
    error = Boom("from f")
    count = [0]
    if vectorized and which != "descent":
        after = 0  # one vectorized call makes the whole gradient

    def objective_that_explodes(*a):
        count[0] += 1
        if count[0] > after:
            raise error
        if vectorized:
            X = np.column_stack(a) if unpack else np.asarray(a[0], dtype=float)
            return X.sum(axis=1)
        return float(sum(a)) if unpack else float(sum(a[0]))

    with pytest.raises(Boom) as info:
        call(impl, which, objective_that_explodes, [1.0, 2.0], unpack=unpack,
             vectorized=vectorized)
    assert info.value is error
    assert count[0] == after + 1
    assert frames(info.value)[-1] == "objective_that_explodes"
    assert info.value.__cause__ is None and info.value.__context__ is None


@pytest.mark.parametrize("which", FUNCTIONS)
def test_keyboard_interrupt_from_f_propagates(impl, which):
    count = [0]

    def f(p):
        count[0] += 1
        if count[0] == 5:
            raise KeyboardInterrupt
        return float(p[0]) ** 2 + float(p[1]) ** 2 + float(p[2]) ** 2

    with pytest.raises(KeyboardInterrupt):
        call(impl, which, f, [1.0, 2.0, 3.0])  # 6 evaluations per gradient
    assert count[0] == 5


def test_keyboard_interrupt_mid_descent_is_not_turned_into_a_stop(impl):
    count = [0]

    def f(p):
        count[0] += 1
        if count[0] == 200:
            raise KeyboardInterrupt
        return float(p[0]) ** 2

    with pytest.raises(KeyboardInterrupt):
        impl.gradient_descent(f, [3.0], 0.01, max_iter=10_000)
    assert count[0] == 200


def test_keyboard_interrupt_from_callback_propagates(impl):
    def callback(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        impl.gradient_descent(lambda p: float(p[0]) ** 2, [3.0], callback=callback)


def test_exception_in_callback_propagates_unchanged(impl):
    error = Boom("from callback")

    def my_callback(x):
        raise error

    with pytest.raises(Boom) as info:
        impl.gradient_descent(lambda p: float(p[0]) ** 2, [3.0], callback=my_callback)
    assert info.value is error
    assert frames(info.value)[-1] == "my_callback"


def test_exception_in_f_has_the_raising_line(impl):
    def f(p):
        return 1.0 / 0.0 if float(p[0]) > 1.0 else 0.0

    with pytest.raises(ZeroDivisionError) as info:
        impl.gradient(f, [1.0])
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert last.name == "f" and "1.0 / 0.0" in last.line
    # one unbroken traceback from this test down to f, and nothing chained to it
    assert frames(info.value)[0] == "test_exception_in_f_has_the_raising_line"
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_an_exception_chained_inside_f_keeps_its_chain(impl):
    # f's own chain (raise ... from ..., and the implicit context) arrives as f built it.
    def f(p):
        try:
            {}["missing"]
        except KeyError as e:
            raise Boom("from f") from e

    with pytest.raises(Boom) as info:
        impl.gradient(f, [1.0])
    assert type(info.value.__cause__) is KeyError
    assert info.value.__context__ is info.value.__cause__
    assert info.value.__cause__.__context__ is None


@pytest.mark.parametrize("which", FUNCTIONS + ["batch"])
@pytest.mark.parametrize("vectorized", [False, True])
def test_no_exception_state_leaks(impl, which, vectorized):
    # fastgrad never calls f (or the callback) while an exception is being handled,
    # not even right after f raised in the previous call; and a call after a failed
    # one behaves exactly like a first call.
    states, count = [], [0]
    fail_at = [1 if vectorized and which != "descent" else 3]

    def f(p):
        states.append(sys.exc_info())
        count[0] += 1
        if count[0] == fail_at[0]:
            raise Boom("once")
        p = np.asarray(p, dtype=float)
        return (p * p).sum(axis=-1) + p[..., 0]

    def run():
        kw = dict(vectorized=vectorized)
        if which == "descent":
            kw.update(max_iter=3, callback=lambda x: states.append(sys.exc_info()))
        if which == "batch":
            return impl.gradient_batch(f, [[1.0, 2.0], [3.0, -1.0]], **kw)
        return call(impl, which, f, [1.0, 2.0], **kw)

    with pytest.raises(Boom, match="once") as info:
        run()
    assert info.value.__context__ is None
    failed_run = len(states)
    fail_at[0] = None  # no more failures
    after, fresh = run(), run()
    assert len(states) >= failed_run + 2  # f ran in both later calls
    assert all(state == (None, None, None) for state in states), states
    if which == "descent":
        assert_same_result(after, fresh)
    else:
        assert bits(np.ravel(after)) == bits(np.ravel(fresh))
