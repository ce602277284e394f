"""Helpers shared by the test modules (imported as a plain module: pytest puts
tests/ on sys.path because tests/ is not a package; the package under test is
always the installed ``fastgrad``)."""
import concurrent.futures
import dataclasses
import math
import multiprocessing
import threading
import time

import numpy as np
import pytest

import fastgrad
import fastgrad.reference

EPS = np.finfo(np.float64).eps  # 2**-52
METHODS = ("central", "forward", "backward")


def is_fast(impl):
    return impl is fastgrad


def floats(v):
    """A result vector (float64 ndarray or list) as a list of Python floats."""
    if isinstance(v, np.ndarray):
        return [float(t) for t in v.tolist()]
    return [float(t) for t in v]


def bit_key(value):
    """A float's exact identity: -0.0 and 0.0 differ; every NaN is the same NaN.

    The sign/payload of a NaN carries no meaning in IEEE 754, so NaNs compare
    equal to each other here, deliberately; everything else must match bit for bit.
    """
    value = float(value)
    return "nan" if math.isnan(value) else value.hex()


def bits(v):
    return [bit_key(t) for t in floats(v)]


def assert_bits_equal(a, b, what=""):
    ka, kb = bits(a), bits(b)
    assert ka == kb, f"{what}: not bit-identical\n  fast:      {floats(a)}\n  reference: {floats(b)}"


def check_vector(impl, v, n):
    """fastgrad returns new float64 ndarrays of shape (n,); the reference lists of floats."""
    if is_fast(impl):
        assert isinstance(v, np.ndarray), type(v)
        assert v.dtype == np.float64
        assert v.shape == (n,)
    else:
        assert isinstance(v, list), type(v)
        assert len(v) == n
        assert all(type(t) is float for t in v), [type(t) for t in v]


def check_matrix(impl, m, rows, n):
    if is_fast(impl):
        assert isinstance(m, np.ndarray)
        assert m.dtype == np.float64
        assert m.shape == (rows, n)
    else:
        assert isinstance(m, list) and len(m) == rows
        for r in m:
            assert isinstance(r, list) and len(r) == n
            assert all(type(t) is float for t in r)


def point_of(arg):
    """What f received (ndarray in fastgrad, list in the reference) as a tuple of floats."""
    return tuple(float(t) for t in (arg.tolist() if isinstance(arg, np.ndarray) else arg))


def stencil_points(x, h, method):
    """The points the contract says are evaluated, in order (tuples of floats)."""
    x = [float(v) for v in x]
    n = len(x)
    h = [float(h)] * n if np.ndim(h) == 0 else [float(v) for v in h]
    points = [] if method == "central" else [tuple(x)]
    for i in range(n):
        if method != "backward":
            p = list(x)
            p[i] = x[i] + h[i]
            points.append(tuple(p))
        if method != "forward":
            p = list(x)
            p[i] = x[i] - h[i]
            points.append(tuple(p))
    return points


RESULT_FIELDS = ("x", "fun", "grad", "nit", "nfev", "converged", "message", "path", "path_fun")


def _comparable(value):
    """One field of a DescentResult as an exactly comparable value.

    An ndarray becomes (dtype, shape, bytes); a list (the reference's vectors and
    paths) becomes its bit keys, nested as the list is; a float its bit key and type.
    An ndarray and a list describe the same vector when the array's bit keys equal the
    list's: see same_field().
    """
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, list):
        return ("list", [bits(v) if isinstance(v, list) else bit_key(v) for v in value],
                [type(v).__name__ for v in value])
    if isinstance(value, float):
        return ("float", type(value).__name__, bit_key(value))
    return (type(value).__name__, value)


def _keys(value):
    """An ndarray or a (nested) list of floats as nested lists of bit keys."""
    rows = value.tolist() if isinstance(value, np.ndarray) else value
    return [bits(r) if isinstance(r, list) else bit_key(r) for r in rows]


def same_field(a, b):
    """Whether two values of one DescentResult field are the same, bit for bit.

    Two ndarrays: the same dtype, shape and bytes.  Two lists, or a float64 ndarray
    and a list (fastgrad against fastgrad.reference): the same bit keys (bit_key: NaNs
    equal, -0.0 != 0.0), and the list holds Python floats only.  Anything else: the
    same type and an equal value (floats by bit_key).
    """
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return _comparable(a) == _comparable(b)
    if isinstance(a, (np.ndarray, list)) and isinstance(b, (np.ndarray, list)):
        for v in (a, b):
            if isinstance(v, np.ndarray) and v.dtype != np.float64:
                return False
            if isinstance(v, list) and not all(
                    type(t) is float or (isinstance(t, list) and all(type(u) is float for u in t))
                    for t in v):
                return False
        return np.ndim(a) == np.ndim(b) and _keys(a) == _keys(b)
    return _comparable(a) == _comparable(b)


def assert_same_result(a, b, what=""):
    """Two DescentResults are the same, field by field, bit for bit.

    Floats compare by bit_key, arrays by bytes, an ndarray of fastgrad against a list
    of the reference by bit keys (see same_field); every other field (nit, nfev,
    converged, message, a None path) by type and value.
    """
    differ = [name for name in RESULT_FIELDS
              if not same_field(getattr(a, name), getattr(b, name))]
    assert not differ, (f"{what}: DescentResults differ in {differ}\n"
                        + "\n".join(f"  {name}: {getattr(a, name)!r}\n"
                                     f"  {' ' * len(name)}  {getattr(b, name)!r}"
                                     for name in differ))


# -- finite-difference error bounds -------------------------------------------
#
# f is evaluated in floating point with an absolute error |df| <= ops*EPS*S,
# where S bounds the sum of the absolute values of the terms that make up f
# near x and ops counts the roundings along the way.  A difference quotient
# (f(a) - f(b)) / step then carries the rounding error 2*ops*EPS*S/step (the
# step itself is the *realised* one, so it adds no error).  On top of that
# comes the truncation error of the formula (Taylor):
#   central:  |g - f'| <= h**2/6 * max|f'''| on [x-h, x+h]      (O(h**2))
#   forward/backward:  |g - f'| <= h/2 * max|f''| on [x, x+-h]   (O(h))

def fd_bound(method, h, d2, d3, scale, ops=16):
    """Bound on |finite difference - exact derivative| for one coordinate."""
    if method == "central":
        return h * h / 6.0 * d3 + 2 * ops * EPS * scale / (2 * h)
    return h / 2.0 * d2 + 2 * ops * EPS * scale / h


def nested_bits(value):
    """A result's exact bits, however nested: floats by bit_key, lists, tuples and
    arrays element by element, dataclasses (GradientResult, HessianResult...) field
    by field; anything else (ints, strings, None) as it is."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [nested_bits(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return bit_key(value)
    if dataclasses.is_dataclass(value):
        return {field.name: nested_bits(getattr(value, field.name))
                for field in dataclasses.fields(value)}
    return value


# -- workers=: the engines (tests/test_workers*.py) -----------------------------------
#
# A test module imports the pool fixtures its engines need and makes its `engine`
# fixture with engines(...): e.g.
#     from _fgtools import engines, fork_pool, thread_pool
#     engine = engines("int", "threads", "threads.map", "map", "fork")

#: The processes of the pools the fixtures made (warm: all started), which stay.
FIXTURE_PIDS = set()


def warm(pool, processes):
    """Start all of a pool's processes (a spawn pool starts them as tasks wait)."""
    list(pool.map(time.sleep, [0.2] * 2 * len(processes())))
    FIXTURE_PIDS.update(p.pid for p in processes())
    return pool


@pytest.fixture(scope="module")
def thread_pool():
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        yield pool


def _process_pool(start_method):
    """A ProcessPoolExecutor of 2 processes started by start_method, warm."""
    with concurrent.futures.ProcessPoolExecutor(
            2, mp_context=multiprocessing.get_context(start_method)) as pool:
        pool.submit(abs, 0).result()
        yield warm(pool, lambda: list(pool._processes.values()))


@pytest.fixture(scope="module")
def fork_pool():
    yield from _process_pool("fork")


@pytest.fixture(scope="module")
def spawn_pool():
    yield from _process_pool("spawn")


@pytest.fixture(scope="module")
def mp_pool():
    with multiprocessing.get_context("fork").Pool(2) as pool:
        yield warm(pool, lambda: list(pool._pool))


#: workers= of each kind, from the pool fixtures (fixture(name) gives one).
ENGINES = {
    "int": lambda fixture: 2,  # a pool fastgrad makes per call, and closes
    "threads": lambda fixture: fixture("thread_pool"),
    "threads.map": lambda fixture: fixture("thread_pool").map,
    "map": lambda fixture: map,  # the builtin: serial, in order
    "fork": lambda fixture: fixture("fork_pool"),
    "spawn": lambda fixture: fixture("spawn_pool"),
    "Pool.map": lambda fixture: fixture("mp_pool").map,
}


def engines(*kinds):
    """A test module's `engine` fixture: workers= of each of these kinds (ENGINES)."""
    @pytest.fixture(params=kinds)
    def engine(request):
        return ENGINES[request.param](request.getfixturevalue)
    return engine


def no_children_left():
    """No process that fastgrad made is left running (the fixtures' pools stay)."""
    left = [p for p in multiprocessing.active_children() if p.pid not in FIXTURE_PIDS]
    assert left == []


# -- descents on every tier (tests/test_callbacks.py, tests/test_resume.py) -------------

def quadratic(x, y):
    return x * x + 10.0 * y * y + math.sin(x * y)


def quadratic_rows(X):
    X = np.asarray(X, dtype=float)
    return X[:, 0] ** 2 + 10.0 * X[:, 1] ** 2 + np.sin(X[:, 0] * X[:, 1])


def tiers(compiled):
    """name -> (f, gradient_descent's keywords): the quadratic on each tier, and the
    objective `compiled` (a fastgrad.objectives instance) on the compiled one."""
    return {
        "python": (lambda v: v[0] * v[0] + 10.0 * v[1] * v[1] + math.sin(v[0] * v[1]), {}),
        "unpack": (quadratic, {"unpack": True}),
        "vectorized": (quadratic_rows, {"vectorized": True}),
        "compiled": (compiled, {}),
    }


def counting(f):
    """f, recording the points it is called at (threads: under a lock)."""
    seen, lock = [], threading.Lock()

    def counted(x, *args):
        with lock:
            seen.append(nested_bits(np.asarray(x, dtype=np.float64).tolist()))
        return f(x, *args)
    return counted, seen


def counting_rows(f):
    """f, recording how many points each of its (vectorized) calls gets."""
    sizes = []

    def counted(X, *args):
        sizes.append(len(X))
        return f(X, *args)
    return counted, sizes
