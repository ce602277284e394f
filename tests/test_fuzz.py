"""A fuzz of the whole public API against the reference (issue 13): gradient,
gradient_batch, gradient_descent_step, gradient_descent, jacobian, derivative,
check_grad.

Hypothesis draws the arguments (x of every dtype and shape, NaN/inf, tiny and
huge h, read-only and non-contiguous arrays, odd methods and orders) and an f
that returns something odd (numpy scalars, 0-d and masked arrays, subclasses,
None, text, huge ints, ...).  The two implementations must agree: the same
exception type and message, or results bit for bit (warnings too); the
library itself raises only TypeError or ValueError (f's own exception passes
through); nothing crashes.  The budget is fixed (derandomize=True, a bounded
max_examples), so the run is the same on every machine and takes seconds.
"""
import dataclasses
import re
import datetime
import decimal
import fractions
import math
import warnings

import numpy as np
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import fastgrad
import fastgrad.reference

from _fgtools import bit_key

FUZZ = settings(derandomize=True, max_examples=300, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


class Tagged(np.ndarray):
    """A numpy subclass f may return."""


class FBoom(ArithmeticError):
    """What the raising f raises: it must pass through unchanged."""


# -- what f returns, given the sum of squares s of its point (a Python float) --

def _masked(s):
    return np.ma.masked_array(s, mask=True)


RETURNS = {
    "float": lambda s: s,
    "int": lambda s: int(s) if math.isfinite(s) else s,
    "bool": lambda s: s > 1.0,
    "float64 scalar": np.float64,
    "float32 scalar": np.float32,
    "float16 scalar": np.float16,
    "int64 scalar": lambda s: np.int64(min(s, 1e18)) if math.isfinite(s) else s,
    "bool_ scalar": lambda s: np.bool_(s > 1.0),
    "0-d array": lambda s: np.array(s),
    "0-d float32 array": lambda s: np.array(s, dtype=np.float32),
    "1-element array": lambda s: np.array([s]),
    "masked scalar": lambda s: np.ma.masked_array(s, mask=False),
    "masked out": _masked,
    "masked constant": lambda s: np.ma.masked,
    "subclass 0-d": lambda s: np.array(s).view(Tagged),
    "None": lambda s: None,
    "str": lambda s: "1.0",
    "bytes": lambda s: b"1",
    "huge int": lambda s: 10 ** 400,
    "huge negative int": lambda s: -(10 ** 400),
    "Fraction": lambda s: fractions.Fraction(s) if math.isfinite(s) else s,
    "Decimal": lambda s: decimal.Decimal(1),
    "complex": lambda s: complex(s, 0.0),
    "complex128 scalar": np.complex128,
    "timedelta64": lambda s: np.timedelta64(1, "s"),
    "datetime64": lambda s: np.datetime64("2020-01-01"),
    "timedelta": lambda s: datetime.timedelta(seconds=1),
    "list": lambda s: [s],
    "dict": lambda s: {s: s},
    "object array 0-d": lambda s: np.array(s, dtype=object),
    "nan": lambda s: math.nan,
    "inf": lambda s: math.inf,
    "raises": lambda s: (_ for _ in ()).throw(FBoom("f failed")),
}

#: What a vectorized f returns for k points, given their sums of squares.
VECTOR_RETURNS = {
    "floats": lambda ss: np.array(ss),
    "list": lambda ss: list(ss),
    "float32": lambda ss: np.array(ss, dtype=np.float32),
    "ints": lambda ss: np.array([int(s) if math.isfinite(s) else 0 for s in ss]),
    "bools": lambda ss: np.array([s > 1.0 for s in ss]),
    "complex": lambda ss: np.array(ss, dtype=complex),
    "object": lambda ss: np.array(ss, dtype=object),
    "timedelta64": lambda ss: np.array([1] * len(ss), dtype="m8[s]"),
    "masked": lambda ss: np.ma.masked_array(ss, mask=[i % 2 == 0 for i in range(len(ss))]),
    "2-D": lambda ss: np.array(ss)[:, None],
    "short": lambda ss: list(ss)[:-1],
    "scalar": lambda ss: 1.0,
    "None": lambda ss: None,
    "strings": lambda ss: ["1.0"] * len(ss),
    "nested": lambda ss: [[s] for s in ss],
    "huge ints": lambda ss: [10 ** 400] * len(ss),
    "raises": lambda ss: (_ for _ in ()).throw(FBoom("f failed")),
}


def _square_sum(point):
    # The same Python arithmetic on what either implementation hands f (an
    # ndarray's items are numpy float64s, which round as floats do).
    s = 0.0
    for v in point:
        s += float(v) * float(v)
    return s


def make_f(kind, vectorized, unpack):
    if vectorized:
        wrap = VECTOR_RETURNS[kind]

        def f(*a):
            columns = a if unpack else None
            if unpack:
                rows = [[float(c[r]) for c in columns] for r in range(len(columns[0]))]
            else:
                rows = [list(row) for row in a[0]]
            return wrap([_square_sum(row) for row in rows])
        return f
    wrap = RETURNS[kind]

    def f(*a):
        return wrap(_square_sum(a if unpack else a[0]))
    return f


# -- arguments -------------------------------------------------------------------

DTYPES = ["float64", "float32", "float16", "int64", "int8", "uint8", "bool", "complex128",
          "object", "datetime64[s]", "timedelta64[s]"]
FINITE = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False).map(lambda v: v + 0.0)
ODD_FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, 0.0, -0.0])
NUMBERS = st.one_of(FINITE, FINITE, FINITE, ODD_FLOATS)
ITEMS = st.one_of(
    NUMBERS,
    st.sampled_from([True, 3, 10 ** 400, fractions.Fraction(1, 3), np.float32(0.5),
                     np.int64(2), np.timedelta64(1, "s"), "1.0", None, [1.0], 1j]))


@st.composite
def arrays(draw, rows=None, good=False):
    """An ndarray of some dtype and shape, maybe read-only or non-contiguous;
    good: of a real dtype, 1-D (2-D with rows), n >= 1, finite."""
    dtype = draw(st.sampled_from(DTYPES[:6] if good else DTYPES))
    n = draw(st.integers(1 if good else 0, 3))
    if good:
        shape = (n,) if rows is None else (rows, n)
    else:
        shape = draw(st.sampled_from([(n,), (n,), (n,), (), (2, n)])) if rows is None \
            else draw(st.sampled_from([(rows, n), (rows, n), (n,), (rows, n, 1)]))
    size = int(np.prod(shape))
    values = draw(st.lists(FINITE if good else NUMBERS, min_size=size, max_size=size))
    strided = draw(st.booleans())
    base = np.zeros(size * (2 if strided else 1), dtype=np.float64)
    base[::2 if strided else 1] = values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dtype.startswith(("datetime", "timedelta")):
            data = np.where(np.isfinite(base), base, 0).astype(np.int64).astype(dtype)
        else:
            data = base.astype(dtype)
    if strided:
        data = data[::2]
    data = data.reshape(shape)
    if draw(st.booleans()):
        data.flags.writeable = False
    return data


def points():
    """x for gradient: a list, an ndarray, or something that is no point."""
    good = st.one_of(st.lists(FINITE, min_size=1, max_size=3), arrays(good=True))
    return st.one_of(
        good, good, good,
        st.lists(ITEMS, min_size=0, max_size=3),
        st.lists(NUMBERS, min_size=1, max_size=3).map(tuple),
        arrays(),
        st.sampled_from([1.0, "12", None, {1.0: 2.0}, {1.0}, b"ab", range(2)]))


def batches():
    good = st.one_of(
        st.integers(1, 3).flatmap(lambda m: arrays(rows=m, good=True)),
        st.integers(1, 3).flatmap(lambda n: st.lists(
            st.lists(FINITE, min_size=n, max_size=n), min_size=1, max_size=3)))
    return st.one_of(
        good, good, good,
        st.integers(1, 3).flatmap(lambda m: arrays(rows=m)),
        st.lists(st.lists(ITEMS, min_size=1, max_size=3), min_size=0, max_size=3),
        st.sampled_from([[1.0, 2.0], [[1.0], [1.0, 2.0]], None, "X"]))


STEPS = st.one_of(
    st.just(1e-5), st.just(1e-5), st.just("auto"),
    st.sampled_from([1e-5, 1e-5, 1e-3, 5e-324, 1e-300, 1e-200, 1e300, 1e308, 0.0, -1e-5,
                     math.nan, math.inf, True, 10 ** 400, "auto", "adaptive", "big", None,
                     np.float32(1e-3), np.array(1e-4), [1e-5], [1e-5, 1e-3],
                     np.array([1e-5, 1e-4])]))
METHOD = st.one_of(st.just("central"), st.just("central"),
                   st.sampled_from(["central", "forward", "backward", "sideways", 1]))
BOUNDS = st.one_of(st.none(), st.none(), st.sampled_from([
    (-2.0, 2.0), (0.0, math.inf), (-math.inf, math.inf), (-1e-300, 1e-300), (5.0, 6.0),
    (2.0, -2.0), (math.nan, 1.0), ([-1.0, -1.0], [1.0, 1.0]), ([0.0], [1.0]), (0, 10 ** 400),
    (None, 1.0), "bounds", (1.0,), (np.float32(-3.0), np.array(3.0))]))
ORDER = st.one_of(st.none(), st.none(), st.sampled_from([None, 2, 4, 1, 3, 2.0, "2"]))


@st.composite
def f_kinds(draw):
    vectorized = draw(st.booleans())
    unpack = draw(st.booleans())
    table = VECTOR_RETURNS if vectorized else RETURNS
    kind = draw(st.sampled_from(sorted(table)))
    return kind, vectorized, unpack


# -- the comparison --------------------------------------------------------------

def canon(value):
    """A result in a form both implementations can be compared by: floats by
    their bits, arrays and lists as nested lists, dataclasses field by field."""
    if dataclasses.is_dataclass(value):
        return (type(value).__name__,
                tuple((f.name, canon(getattr(value, f.name))) for f in dataclasses.fields(value)))
    if isinstance(value, np.ndarray):
        assert value.dtype == np.float64, value.dtype
        return canon(value.tolist())
    if isinstance(value, (list, tuple)):
        return [canon(v) for v in value]
    if isinstance(value, dict):  # a DescentState's buffers
        return sorted((key, canon(v)) for key, v in value.items())
    if type(value) is float:
        return bit_key(value)
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, np.floating):  # a numpy scalar: never handed back
        raise AssertionError(f"a numpy scalar in a result: {value!r}")
    return value


#: How the library's own messages begin: with what was wrong, by its name.
CLEAR = re.compile(
    r"(f|vectorized f|x|X|h|h\[\d+\]|X\[\d+\]:.*|method|order|bounds|lb|ub|lb\[\d+\]|ub\[\d+\]"
    r"|learning_rate|max_iter|tol|ftol|optimizer|callback|record|num_threads|args|unpack"
    r"|vectorized|full_output|grad|direction|seed)\b|h=\"adaptive\"|bounds \[")


def outcome(call):
    """("ok", canonical result, warnings) or ("error", type, message, warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
        except FBoom as error:  # f's (or grad's) own: passes through
            return ("f raised", str(error))
        except (TypeError, ValueError) as error:
            assert CLEAR.match(str(error)), f"an unclear message: {error!r}"
            found = ("error", type(error).__name__, str(error))
        else:
            found = ("ok", canon(result))
    return found + (sorted((w.category.__name__, str(w.message)) for w in caught),)


def snapshot(value):
    """What the caller passed, to check that no call changed it."""
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.flags.writeable, value.tobytes())
    if isinstance(value, list):
        return [snapshot(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def same_in_both(call, *passed, rows_per_call_differ=False, returns_differ=False):
    """call(impl) agrees in fastgrad and fastgrad.reference (see the module's
    docstring); any other exception fails the test as it is.

    rows_per_call_differ: gradient_batch with a vectorized f, which fastgrad
    calls with the stencils of many rows at once (README: API), the reference
    with one row's: a wrong shape is reported for the call's own row count.
    returns_differ: derivative over an array (see test_derivative): where
    either refuses what f returned, the other may differ (each outcome still a
    clear error or a result).
    """
    before = [snapshot(value) for value in passed]
    fast = outcome(lambda: call(fastgrad))
    reference = outcome(lambda: call(fastgrad.reference))
    assert [snapshot(value) for value in passed] == before, "the caller's data changed"
    event(fast[0] if fast[0] != "error" else f"error: {fast[2].split(',')[0][:40]}")
    if rows_per_call_differ and fast[0] == reference[0] == "error":
        fast, reference = (o[:2] + (re.sub(r"\((\d+),", "(k,", o[2]),) + o[3:]
                           for o in (fast, reference))
    if returns_differ and any(o[0] == "error" and o[2].startswith("f must return")
                              for o in (fast, reference)):
        return
    assert fast == reference


# -- the fuzz --------------------------------------------------------------------

@FUZZ
@given(x=points(), h=STEPS, method=METHOD, order=ORDER, f=f_kinds(),
       full_output=st.booleans(), bounds=BOUNDS)
def test_gradient(x, h, method, order, f, full_output, bounds):
    kind, vectorized, unpack = f
    g = make_f(kind, vectorized, unpack)
    same_in_both(lambda impl: impl.gradient(
        g, x, h, method=method, order=order, bounds=bounds, unpack=unpack,
        vectorized=vectorized, full_output=full_output), x, h, bounds)


@FUZZ
@given(X=batches(), h=STEPS, method=METHOD, f=f_kinds(), bounds=BOUNDS,
       threads=st.sampled_from([None, 1, 2, 0, 2.0]))
def test_gradient_batch(X, h, method, f, bounds, threads):
    kind, vectorized, unpack = f
    g = make_f(kind, vectorized, unpack)
    same_in_both(lambda impl: impl.gradient_batch(
        g, X, h, method=method, bounds=bounds, unpack=unpack, vectorized=vectorized,
        num_threads=threads), X, h, bounds, rows_per_call_differ=vectorized)


def _callback_raises(x):
    raise FBoom("callback failed")


def _callback_writes(x):
    x[:] = 0.0  # a copy of the iterate: the run must not see it


#: callback for gradient_descent.
CALLBACKS = {"none": None, "stops": lambda x: True, "never stops": lambda x: None,
             "raises": _callback_raises, "writes": _callback_writes,
             "not callable": 3, "truthy array": lambda x: np.array([1.0])}

LEARNING_RATES = st.sampled_from([0.1, 0.1, 0.1, 0.1, 0.1, 1.5, 5e-324, 1e308, 0.0, -1.0, math.nan, True,
                                  np.float32(0.25), "0.1"])


@FUZZ
@given(x=points(), lr=LEARNING_RATES, h=STEPS, method=METHOD, f=f_kinds())
def test_gradient_descent_step(x, lr, h, method, f):
    kind, vectorized, unpack = f
    g = make_f(kind, vectorized, unpack)
    same_in_both(lambda impl: impl.gradient_descent_step(
        g, x, lr, h, method=method, unpack=unpack, vectorized=vectorized), x, h)


@FUZZ
@given(x=points(), lr=LEARNING_RATES, h=STEPS, f=f_kinds(),
       max_iter=st.sampled_from([0, 1, 5, 5, 5, 30, 30, -1, 2.0, True]),
       tol=st.sampled_from([1e-6, 1e-6, 1e-6, 0.0, math.inf, -1.0, math.nan]),
       ftol=st.sampled_from([None, None, None, 1e-12, -1.0]),
       optimizer=st.sampled_from([None, None, "sgd", "momentum", "nesterov", "adam", "armijo",
                                  "lbfgs", "newton", 3]),
       record=st.sampled_from([False, False, True, True, 1]),
       callback=st.sampled_from(sorted(CALLBACKS) + ["none"] * 6))
def test_gradient_descent(x, lr, h, f, max_iter, tol, ftol, optimizer, record, callback):
    kind, vectorized, unpack = f
    g = make_f(kind, vectorized, unpack)
    same_in_both(lambda impl: impl.gradient_descent(
        g, x, lr, max_iter=max_iter, tol=tol, ftol=ftol, h=h, optimizer=optimizer,
        unpack=unpack, vectorized=vectorized, record=record,
        callback=CALLBACKS[callback]), x, h)


# -- jacobian, derivative, check_grad --------------------------------------------

#: What a vector-valued f returns, given its point (a list of floats) and the
#: sum of squares s.
JACOBIAN_RETURNS = {
    "floats": lambda p, s: np.array([s, p[0]]),
    "list": lambda p, s: [s, p[0]],
    "tuple": lambda p, s: (s,),
    "float32": lambda p, s: np.array([s, p[0]], dtype=np.float32),
    "ints": lambda p, s: np.array([int(s) if math.isfinite(s) else 0, 1]),
    "bools": lambda p, s: [s > 1.0, True],
    "complex": lambda p, s: np.array([s], dtype=complex),
    "object": lambda p, s: np.array([s, p[0]], dtype=object),
    "timedelta64": lambda p, s: np.array([1, 2], dtype="m8[s]"),
    "masked": lambda p, s: np.ma.masked_array([s, p[0]], mask=[False, True]),
    "subclass": lambda p, s: np.array([s, p[0]]).view(Tagged),
    "2-D": lambda p, s: np.array([[s, p[0]]]),
    "empty": lambda p, s: np.array([]),
    "scalar": lambda p, s: s,
    "None": lambda p, s: None,
    "strings": lambda p, s: ["1.0", "2.0"],
    "nested": lambda p, s: [[s], [p[0]]],
    "huge ints": lambda p, s: [10 ** 400, -(10 ** 400)],
    "length varies": lambda p, s: [s] * (1 + (p[0] > 0.0)),
    "nan": lambda p, s: [math.nan, s],
    "raises": lambda p, s: (_ for _ in ()).throw(FBoom("f failed")),
}


def make_vector_f(kind, vectorized, unpack):
    wrap = JACOBIAN_RETURNS[kind]
    if vectorized:
        def f(*a):
            rows = ([[float(c[r]) for c in a] for r in range(len(a[0]))] if unpack
                    else [[float(v) for v in row] for row in a[0]])
            values = [wrap(row, _square_sum(row)) for row in rows]
            try:
                return np.array(values, dtype=float)
            except (TypeError, ValueError, OverflowError):  # as f returned them
                return values
        return f

    def f(*a):
        point = [float(v) for v in (a if unpack else a[0])]
        return wrap(point, _square_sum(point))
    return f


@FUZZ
@given(x=points(), h=STEPS, method=METHOD, order=ORDER, bounds=BOUNDS,
       kind=st.sampled_from(sorted(JACOBIAN_RETURNS)), vectorized=st.booleans(),
       unpack=st.booleans(), full_output=st.booleans())
# found in CI: the vectorized f's own float conversion overflowed on huge ints
@example(x=[0.0], h=1e-05, method="central", order=None, bounds=None, kind="huge ints",
         vectorized=True, unpack=False, full_output=False)
def test_jacobian(x, h, method, order, bounds, kind, vectorized, unpack, full_output):
    g = make_vector_f(kind, vectorized, unpack)
    same_in_both(lambda impl: impl.jacobian(
        g, x, h, method=method, order=order, bounds=bounds, unpack=unpack,
        vectorized=vectorized, full_output=full_output), x, h, bounds,
        rows_per_call_differ=vectorized)


def _sq(v):
    """v * v, silently (numpy warns of an overflow on arrays, Python not on floats)."""
    with np.errstate(all="ignore"):
        return v * v


#: What an elementwise f returns for v (a float or an array of them).
DERIVATIVE_RETURNS = {
    "same": lambda v: _sq(v),
    "float32": lambda v: np.float32(_sq(v)) if np.ndim(v) == 0 else (_sq(v)).astype(np.float32),
    "list": lambda v: np.asarray(_sq(v)).tolist(),
    "scalar": lambda v: 1.0,
    "ravelled": lambda v: np.ravel(_sq(v)),
    "None": lambda v: None,
    "complex": lambda v: _sq(v) + 0j,
    "masked": lambda v: np.ma.masked_array(_sq(v), mask=np.ones(np.shape(v), dtype=bool)),
    "timedelta64": lambda v: np.zeros(np.shape(v), dtype="m8[s]"),
    "huge int": lambda v: 10 ** 400,
    "raises": lambda v: (_ for _ in ()).throw(FBoom("f failed")),
}


@FUZZ
@given(x=st.one_of(FINITE, NUMBERS, points(), st.integers(1, 3).flatmap(
           lambda m: arrays(rows=m, good=True))),
       h=STEPS, method=METHOD, order=ORDER, kind=st.sampled_from(sorted(DERIVATIVE_RETURNS)))
def test_derivative(x, h, method, order, kind):
    g = DERIVATIVE_RETURNS[kind]
    # For an array x, fastgrad calls f on whole arrays, the reference on each
    # element's float (its docstring): what f returns is judged against
    # another call, so a refused return may be refused with other words, and
    # a scalar is fine per element only.  Everything else must agree.
    by_element = not (isinstance(x, (int, float, np.generic))
                      or (isinstance(x, np.ndarray) and x.ndim == 0))
    same_in_both(lambda impl: impl.derivative(g, x, h, method=method, order=order), x, h,
                 returns_differ=by_element)


#: grad for check_grad, given the point.
GRADS = {
    "right": lambda p: [2.0 * float(v) for v in p],
    "array": lambda p: np.array([2.0 * float(v) for v in p]),
    "off": lambda p: [2.0 * float(v) + 1.0 for v in p],
    "short": lambda p: [1.0],
    "None": lambda p: None,
    "strings": lambda p: ["1"] * len(p),
    "nan": lambda p: [math.nan] * len(p),
    "raises": lambda p: (_ for _ in ()).throw(FBoom("grad failed")),
}


@FUZZ
@given(x=points(), h=STEPS, method=METHOD, order=ORDER,
       kind=st.sampled_from(sorted(RETURNS) + ["float"] * 8),
       grad=st.sampled_from(sorted(GRADS)),
       direction=st.sampled_from(["all", "all", "random", "sideways", None]),
       seed=st.sampled_from([0, 0, 7, None, 1.5, True]))
def test_check_grad(x, h, method, order, kind, grad, direction, seed):
    if seed is None and direction == "random":
        seed = 3  # fresh entropy would draw another direction in each implementation
    f = make_f(kind, False, False)
    same_in_both(lambda impl: impl.check_grad(
        f, GRADS[grad], x, h=h, method=method, order=order, direction=direction, seed=seed),
        x, h)
