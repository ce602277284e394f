"""The fingerprint battery: about 1700 fixed calls of fastgrad's public API whose
results are recorded bit for bit, so that a restructure of the core can be shown
to change no result.

What it is
    ``cases()`` yields ``(name, thunk)`` pairs; ``run(thunk)`` calls one and turns
    what it returns (or raises) into a stable string with ``fingerprint()``: floats
    as ``float.hex`` (so -0.0, inf and nan are told apart; every NaN is the same
    NaN, as in _fgtools.bit_key), arrays by dtype, shape, flags and every element
    (a sha256 of them beyond 16), a DescentResult field by field, an exception as
    "raise <Type>: <message>".
    The cases cover every tier (Python f, unpack=True, args=, vectorized=True with
    and without unpack and args, the compiled objectives, C callbacks through
    scipy.LowLevelCallable of ctypes functions) x method x step kind x function
    (gradient, gradient_descent_step, gradient_batch with 1 and 2 threads,
    gradient_descent with every optimizer and option), every stop reason of a
    descent (numeric trouble included), the rules' comparisons at equality, the
    order of evaluation, signed zeros, the kinds of x, h, X and of f's return
    value, and the argument and stencil errors.  Only the public API is used: the
    internals may be rewritten freely.  tests/test_fingerprint.py compares every
    case with the fingerprints recorded in tests/data/fingerprint_wave1.json
    (recorded with the wave-1 code, before the core restructure).

Re-recording (only when a change of behaviour is intended)
    python tests/_battery.py --record /abs/path/tests/data/fingerprint_wave1.json
    (run it with the venv whose installed fastgrad has the intended behaviour, from
    a directory where no fastgrad source tree shadows the installed package, e.g.
    /tmp).  ``--check FILE`` lists the cases that differ from FILE without
    writing anything; review that list before re-recording.  A commit that
    re-records must name every behaviour change it records (which cases, and
    why): the point of this file is that nothing changes unnoticed.  Adding or
    renaming cases also means re-recording (with the code before the change).

The recorded values also depend on the arithmetic of f: the wavy3 f's use
math.sin/exp/log (libm) and LogisticLoss uses exp/log1p, so another platform's
libm may differ in those cases.  Everything else is IEEE + - * / and sqrt, the
same everywhere; the vectorized f's avoid numpy reductions and numpy's SIMD
transcendental functions for that reason.
"""
import ctypes
import hashlib
import json
import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy import LowLevelCallable

import fastgrad
from fastgrad import Adam, Armijo, DescentResult, Momentum, SGD
from fastgrad.objectives import (Beale, Booth, CFunction, Himmelblau, LeastSquares,
                                 LogisticLoss, Quadratic, Rosenbrock, Sphere)

METHODS = ("central", "forward", "backward")
NAN = math.nan
INF = math.inf

# -- fingerprints -----------------------------------------------------------------

_ELEMENTS_SHOWN = 16  # larger arrays: a sha256 of the element list, plus ends


def _float_text(v):
    return float.hex(float(v))  # 'nan', 'inf', '-inf', '-0x0.0p+0', ...


def _array_text(a):
    flags = ("w" if a.flags.writeable else "r") + ("C" if a.flags.c_contiguous else "-")
    head = f"ndarray({a.dtype.str},{list(a.shape)},{flags})"
    if a.dtype.kind in "fc":
        items = [_float_text(v) for v in a.ravel(order="C").tolist()] if a.dtype.kind == "f" \
            else [f"{_float_text(v.real)}{_float_text(v.imag)}j" for v in a.ravel().tolist()]
    elif a.dtype.kind in "biu":
        items = [str(v) for v in a.ravel(order="C").tolist()]
    else:
        items = [repr(v) for v in a.ravel(order="C").tolist()]
    if len(items) <= _ELEMENTS_SHOWN:
        return f"{head}[{','.join(items)}]"
    digest = hashlib.sha256(",".join(items).encode()).hexdigest()[:32]
    return f"{head}[{items[0]},...,{items[-1]};sha256:{digest}]"


_RESULT_FIELDS = ("x", "fun", "grad", "nit", "nfev", "converged", "message", "path", "path_fun")


def fingerprint(value):
    """A stable string for a result: equal strings iff equal bits (NaNs alike)."""
    if isinstance(value, BaseException):
        return f"raise {type(value).__name__}: {value}"
    if isinstance(value, DescentResult):
        fields = ", ".join(f"{name}={fingerprint(getattr(value, name))}"
                           for name in _RESULT_FIELDS)
        return f"{type(value).__name__}({fields})"
    if value is None or value is True or value is False:
        return repr(value)
    if type(value) is int:
        return f"int:{value}"
    if type(value) is float:
        return f"float:{_float_text(value)}"
    if type(value) is str:
        return repr(value)
    if isinstance(value, np.ndarray):
        return _array_text(value)
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        inner = _float_text(value) if isinstance(value, np.floating) else repr(value.item())
        return f"{type(value).__name__}:{inner}"
    if type(value) is list:
        return "[" + ", ".join(map(fingerprint, value)) + "]"
    if type(value) is tuple:
        return "(" + ", ".join(map(fingerprint, value)) + ("," if len(value) == 1 else "") + ")"
    if type(value) is dict:
        return "{" + ", ".join(f"{k!r}: {fingerprint(v)}" for k, v in sorted(value.items())) + "}"
    # Anything else would need a stable text of its own (a repr may hold an address).
    raise TypeError(f"fingerprint: no stable text for {type(value).__name__}")


def run(thunk):
    """The fingerprint of what thunk() returns, or of the exception it raises."""
    try:
        with np.errstate(all="ignore"):  # f's own overflow warnings are not results
            value = thunk()
    except Exception as error:  # noqa: BLE001 -- the exception is the result
        return fingerprint(error)
    return fingerprint(value)


# -- the functions of the battery, one per tier -------------------------------------
# Written so that every tier computes the same bits where it can: the same
# operations in the same order (vectorized versions column by column).

def _rosen(x):
    t = 0.0
    for i in range(len(x) - 1):
        a = x[i + 1] - x[i] * x[i]
        b = 1.0 - x[i]
        t = t + 100.0 * a * a + b * b
    return t


def _rosen_args(x, one, hundred):
    t = 0.0
    for i in range(len(x) - 1):
        a = x[i + 1] - x[i] * x[i]
        b = one - x[i]
        t = t + hundred * a * a + b * b
    return t


def _rosen_cols(cols, one=1.0, hundred=100.0):
    t = np.zeros(cols[0].shape[0])
    for i in range(len(cols) - 1):
        a = cols[i + 1] - cols[i] * cols[i]
        b = one - cols[i]
        t = t + hundred * a * a + b * b
    return t


def _wavy(x):
    """A 3-D f with libm functions (sin, exp, log), bounded below."""
    return (math.exp(0.1 * (x[0] * x[0])) + math.log(1.0 + x[1] * x[1]) + math.sin(x[2])
            + 0.1 * (x[2] * x[2]) + 0.3 * (x[0] * x[1]))


def _wavy_args(x, s, t):
    return (math.exp(s * (x[0] * x[0])) + math.log(1.0 + x[1] * x[1]) + math.sin(x[2])
            + t * (x[2] * x[2]) + 0.3 * (x[0] * x[1]))


def _rows(fun):
    """A vectorized f made of a scalar fun, row by row (same bits as the scalar tiers)."""
    def vectorized(X, *args):
        return np.array([fun(row, *args) for row in X.tolist()], dtype=np.float64)
    return vectorized


def _cols(fun):
    """A vectorized, unpacked f made of a scalar fun (gets the n columns)."""
    def vectorized(*cols_and_args):
        return np.array([fun(row) for row in zip(*(c.tolist() for c in cols_and_args))],
                        dtype=np.float64)
    return vectorized


_DOUBLE_P = ctypes.POINTER(ctypes.c_double)
_C_NO_DATA = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int, _DOUBLE_P)
_C_WITH_DATA = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int, _DOUBLE_P, ctypes.c_void_p)


def _c_callback(fun, with_data=False):
    """fun(list of n floats) as a C function double (int, double *[, void *]).

    A ctypes function: compiled-tier machinery (nogil loops, OpenMP batches) with
    the GIL taken back for each call of fun.  The LowLevelCallable keeps it alive.
    """
    def call(n, x):
        try:
            return float(fun([x[i] for i in range(n)]))
        except (ArithmeticError, ValueError):  # math range errors: a C function gives nan
            return NAN
    if with_data:
        function = _C_WITH_DATA(lambda n, x, data: call(n, x))
    else:
        function = _C_NO_DATA(call)
    return LowLevelCallable(function)


def _scalar_tiers(fun, compiled=None, c=True):
    """tier name -> (f, keyword arguments) for a scalar function fun(sequence)."""
    tiers = {
        "py": (lambda x: fun(x), {}),
        "unpack": (lambda *x: fun(x), {"unpack": True}),
        "vec": (_rows(fun), {"vectorized": True}),
        "vecunpack": (_cols(fun), {"vectorized": True, "unpack": True}),
    }
    if c:
        tiers["ccb"] = (_c_callback(fun), {})
    if compiled is not None:
        tiers["compiled"] = (compiled, {})
    return tiers


def _rosen_tiers():
    return {
        "py": (_rosen, {}),
        "unpack": (lambda *x: _rosen(x), {"unpack": True}),
        "args": (_rosen_args, {"args": (1.0, 100.0)}),
        "vec": (lambda X: _rosen_cols([X[:, i] for i in range(X.shape[1])]),
                {"vectorized": True}),
        "vecunpack": (lambda *cols: _rosen_cols(cols), {"vectorized": True, "unpack": True}),
        "vecargs": (lambda X, one, hundred: _rosen_cols([X[:, i] for i in range(X.shape[1])],
                                                        one, hundred),
                    {"vectorized": True, "args": (1.0, 100.0)}),
        "compiled": (Rosenbrock(), {}),
        "pyobj": (lambda x, _o=Rosenbrock(): _o(x), {}),  # a compiled objective called from Python
        "ccb": (_c_callback(_rosen), {}),
        "ccbdata": (_c_callback(_rosen, with_data=True), {}),
        "cfunction": (CFunction(_c_callback(_rosen), dim=None), {}),
    }


def _wavy_tiers():
    tiers = _scalar_tiers(_wavy)
    tiers["args"] = (_wavy_args, {"args": (0.1, 0.2)})
    tiers["vecargs"] = (_rows(_wavy_args), {"vectorized": True, "args": (0.1, 0.2)})
    return tiers


def _hvec(n):
    """A per-coordinate step: different magnitudes, none the default."""
    return [(1e-4, 3e-6, 2.5e-3)[i % 3] * (1 + i // 3) for i in range(n)]


def _h_variants(n, as_array):
    steps = _hvec(n)
    return {"hdef": None, "h1e-3": 1e-3,
            "hvec": np.array(steps) if as_array else steps}


def _kw(base, **more):
    out = dict(base)
    out.update({k: v for k, v in more.items() if v is not None})
    return out


# The tiers whose batches run on OpenMP threads.  Waking threads costs
# milliseconds on a loaded machine, so most of their batches use one thread.
GIL_FREE_TIERS = ("compiled", "ccb", "ccbdata", "cfunction")
# The tiers with batches of their own beyond the rosen2 matrix, and with rosen7.
BATCH_TIERS = ("py", "vec", "vecunpack", "compiled", "ccb", "ccbdata", "cfunction")
ROSEN7_TIERS = ("py", "unpack", "vec", "compiled", "ccb")
# The tiers that get every combination of options.
FULL_TIERS = ("py", "compiled")

OPTIMIZERS = {
    "none": None,
    "sgd": "sgd",
    "SGD()": SGD(),
    "momentum": "momentum",
    "nesterov": "nesterov",
    "adam": "adam",
    "armijo": "armijo",
    "Momentum(0.5,0.1)": Momentum(momentum=0.5, dampening=0.1),
    "Momentum(0.7,nesterov)": Momentum(momentum=0.7, nesterov=True),
    "Adam(beta1=0.8)": Adam(beta1=0.8),
    "Armijo(0.3,0.7,5)": Armijo(c=0.3, shrink=0.7, max_backtracks=5),
}
# None / "sgd", the four named rules, and one object of each parameterised kind.
MAIN_OPTIMIZERS = ("none", "momentum", "nesterov", "adam", "armijo", "Momentum(0.5,0.1)",
                   "Adam(beta1=0.8)", "Armijo(0.3,0.7,5)")


def _stop_after(k, seen):
    """A callback that keeps what it saw and asks to stop on its k-th call."""
    def callback(x):
        seen.append(x)
        return len(seen) >= k
    return callback


# -- the cases ----------------------------------------------------------------------

def _build():
    out = []

    def case(name, thunk):
        out.append((name, thunk))

    G, S, B, D = (fastgrad.gradient, fastgrad.gradient_descent_step, fastgrad.gradient_batch,
                  fastgrad.gradient_descent)

    # Selection: the Python and compiled tiers (FULL_TIERS) get every combination;
    # every other tier gets every method x step kind in gradient, every method in
    # step, batch and descent, and every optimizer in a descent; where not all
    # combinations are taken, the choices rotate with the tier's index t.
    H_NAMES = ("hdef", "h1e-3", "hvec")

    # 1. The stencil: tier x method x h for gradient, gradient_descent_step, gradient_batch.
    rosen2_x0, rosen2_X = [-1.2, 1.0], [[-1.2, 1.0], [0.5, -0.25], [2.0, 3.5]]
    rosen7_x0 = [-1.2, 1.0, 0.3, 0.8, -0.5, 1.5, 0.1]
    rosen7_X = [rosen7_x0, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]]
    wavy3_x0 = [0.7, -0.3, 1.9]
    wavy3_X = [wavy3_x0, [-2.5, 1.25, 0.0], [1e-3, 4.0, -7.5]]

    def batch_kw(tname, k):
        if tname in GIL_FREE_TIERS:
            k = dict(k, num_threads=1)  # threads: in the cases below
        return k

    for t, (tname, (f, kw)) in enumerate(_rosen_tiers().items()):
        for m, method in enumerate(METHODS):
            for j, hname in enumerate(H_NAMES):
                k = _kw(kw, method=method, h=_h_variants(2, as_array=False)[hname])
                case(f"gradient/rosen2/{tname}/{method}/{hname}",
                     lambda f=f, k=k: G(f, rosen2_x0, **k))
                ka = _kw(kw, method=method, h=_h_variants(2, as_array=True)[hname])
                if tname in FULL_TIERS or hname == "hvec":
                    case(f"step/rosen2/{tname}/{method}/{hname}",
                         lambda f=f, k=ka: S(f, rosen2_x0, 0.01, **k))
                    case(f"batch/rosen2/{tname}/{method}/{hname}",
                         lambda f=f, k=batch_kw(tname, ka): B(f, rosen2_X, **k))
        if tname in ROSEN7_TIERS:
            for method in METHODS:
                for hname in H_NAMES:
                    k = _kw(kw, method=method, h=_h_variants(7, as_array=False)[hname])
                    case(f"gradient/rosen7/{tname}/{method}/{hname}",
                         lambda f=f, k=k: G(f, rosen7_x0, **k))
            method = METHODS[t % 3]
            case(f"batch/rosen7/{tname}/{method}",
                 lambda f=f, k=batch_kw(tname, _kw(kw, method=method)): B(f, rosen7_X, **k))
    for t, (tname, (f, kw)) in enumerate(_wavy_tiers().items()):
        for method in METHODS:
            for hname in H_NAMES:
                k = _kw(kw, method=method, h=_h_variants(3, as_array=False)[hname])
                case(f"gradient/wavy3/{tname}/{method}/{hname}",
                     lambda f=f, k=k: G(f, wavy3_x0, **k))
        method, hname = METHODS[t % 3], H_NAMES[(t + 1) % 3]
        k = _kw(kw, method=method, h=_h_variants(3, as_array=True)[hname])
        case(f"step/wavy3/{tname}/{method}/{hname}", lambda f=f, k=k: S(f, wavy3_x0, 0.01, **k))
        case(f"batch/wavy3/{tname}/{method}/{hname}",
             lambda f=f, k=batch_kw(tname, k): B(f, wavy3_X, **k))

    # Batches with 1 and 2 threads (the same bits for any count: OpenMP on the
    # gil-free tiers, the calling thread on the others).
    Xr = [[-1.2, 1.0], [0.5, -0.25], [2.0, 3.5], [1.0, 1.0], [-0.0, 0.0]]
    for tname, (f, kw) in _rosen_tiers().items():
        if tname not in BATCH_TIERS:
            continue
        for threads in (1, 2) if tname in GIL_FREE_TIERS else (None, 2):
            for method in ("central", "backward"):
                case(f"batch/rosen2/{tname}/{method}/threads={threads}",
                     lambda f=f, kw=kw, t=threads, m=method:
                     B(f, Xr, method=m, num_threads=t, **kw))
    big = ((np.arange(40.0 * 7) - 140.0) / 64.0).reshape(40, 7)  # exact values
    for tname in ("compiled", "ccb", "vec", "py"):
        f, kw = _rosen_tiers()[tname]
        case(f"batch/rosen7x40/{tname}/threads=2",
             lambda f=f, kw=kw: B(f, big, num_threads=2, **kw))

    # 2. The compiled objectives: gradient (method x h), step, batch, descents.
    # Literal data (no random generator, no BLAS): the same bits on any machine.
    A = np.array([[0.7, -1.3, 0.25], [2.1, 0.4, -0.9], [-0.6, 1.8, 1.1]])
    A_spd = np.array([[3.5, -0.7, 0.2], [-0.7, 2.25, 0.9], [0.2, 0.9, 1.6]])
    Xd = np.array([[0.3, -1.2, 0.8], [1.5, 0.1, -0.4], [-0.7, 0.9, 2.2],
                   [0.05, -0.35, -1.1], [2.4, 1.3, 0.6], [-1.6, -0.2, 0.45]])
    yd = np.array([0.9, -0.3, 1.7, -1.05, 2.2, -0.8])
    labels = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    objectives = [
        ("Sphere", Sphere(), [1.5, -0.5, 0.25], 0.1),
        ("Rosenbrock2", Rosenbrock(), [-1.2, 1.0], 1e-3),
        ("Rosenbrock7", Rosenbrock(), [-1.2, 1.0, 0.3, 0.8, -0.5, 1.5, 0.1], 1e-3),
        ("Quadratic", Quadratic(A_spd, [1.0, -2.0, 0.5], c=3.0), [1.0, 2.0, -1.0],
         0.05),
        ("QuadraticAsym", Quadratic(A, [0.0, 1.0, 0.0]), [0.3, -0.2, 0.1], 0.05),
        ("LeastSquares", LeastSquares(Xd, yd), [0.0, 0.0, 0.0], 0.1),
        ("LogisticLoss", LogisticLoss(Xd, labels), [0.5, -0.5, 0.1], 0.5),
        ("LogisticLossL2", LogisticLoss(Xd, labels, l2=0.1), [0.5, -0.5, 0.1], 0.5),
        ("Himmelblau", Himmelblau(), [0.0, 0.0], 0.01),
        ("Booth", Booth(), [0.0, 0.0], 0.05),
        ("Beale", Beale(), [1.0, 1.0], 0.01),
    ]
    for t, (oname, objective, x0, lr) in enumerate(objectives):
        n = len(x0)
        case(f"call/{oname}", lambda o=objective, x0=x0: o(x0))
        case(f"call/{oname}/array", lambda o=objective, x0=x0: o(np.array(x0)))
        for method in METHODS:
            for hname in (H_NAMES if oname == "Rosenbrock2" else ("hdef", "hvec")):
                k = _kw({}, method=method, h=_h_variants(n, as_array=False)[hname])
                case(f"gradient/{oname}/compiled/{method}/{hname}",
                     lambda o=objective, k=k, x0=x0: G(o, x0, **k))
        case(f"step/{oname}/compiled/central",
             lambda o=objective, x0=x0, lr=lr: S(o, x0, lr))
        Xo = [x0, [v * 0.5 - 0.25 for v in x0], [-v for v in x0]]
        case(f"batch/{oname}/compiled/threads=1",
             lambda o=objective, Xo=Xo: B(o, Xo, num_threads=1))
        if oname in ("Sphere", "Quadratic", "LogisticLossL2", "Beale"):
            case(f"batch/{oname}/compiled/threads=2",
                 lambda o=objective, Xo=Xo: B(o, Xo, num_threads=2))
        case(f"batch/{oname}/compiled/forward/hvec/threads=1",
             lambda o=objective, Xo=Xo, n=n: B(o, Xo, method="forward", h=np.array(_hvec(n)),
                                               num_threads=1))
        if oname == "Rosenbrock2":
            chosen = list(OPTIMIZERS)
        else:  # four of the eight, in rotation
            chosen = [MAIN_OPTIMIZERS[(t + 2 * i) % len(MAIN_OPTIMIZERS)] for i in range(4)]
        for optname in chosen:
            case(f"descent/{oname}/compiled/{optname}",
                 lambda o=objective, x0=x0, lr=lr, opt=OPTIMIZERS[optname]:
                 D(o, x0, lr, max_iter=150, optimizer=opt))
        case(f"descent/{oname}/compiled/record+ftol",
             lambda o=objective, x0=x0, lr=lr: D(o, x0, lr, max_iter=60, ftol=1e-9, record=True))
        case(f"descent/{oname}/py(objective)/sgd",
             lambda o=objective, x0=x0, lr=lr: D(lambda x: o(x), x0, lr, max_iter=40))

    # 3. Descents: tier x optimizer, and tier x method x h (optimizers in rotation).
    for pname, tiers, x0, lr in (("rosen2", _rosen_tiers(), rosen2_x0, 1e-3),
                                 ("wavy3", _wavy_tiers(), wavy3_x0, 0.05)):
        n = len(x0)
        for t, (tname, (f, kw)) in enumerate(tiers.items()):
            if pname == "rosen2":
                chosen = list(OPTIMIZERS) if tname in FULL_TIERS else MAIN_OPTIMIZERS
            else:
                chosen = [MAIN_OPTIMIZERS[(t + 3 * i) % len(MAIN_OPTIMIZERS)] for i in range(3)]
            for optname in chosen:
                case(f"descent/{pname}/{tname}/{optname}",
                     lambda f=f, kw=kw, x0=x0, lr=lr, opt=OPTIMIZERS[optname]:
                     D(f, x0, lr, max_iter=120, optimizer=opt, **kw))
            for m, method in enumerate(METHODS):
                for j, hname in enumerate(H_NAMES):
                    if pname == "rosen2" and tname not in FULL_TIERS and j != (t + m) % 3:
                        continue
                    if pname == "wavy3" and (tname != "py" or hname != "hvec"):
                        continue
                    optname = MAIN_OPTIMIZERS[(t + 3 * m + j) % len(MAIN_OPTIMIZERS)]
                    k = _kw(kw, method=method, h=_h_variants(n, as_array=False)[hname],
                            optimizer=OPTIMIZERS[optname])
                    case(f"descent/{pname}/{tname}/{method}/{hname}/{optname}",
                         lambda f=f, k=k, x0=x0, lr=lr: D(f, x0, lr, max_iter=50, **k))

    # 4. Descent options on rosen2: tol, ftol, record, a stopping callback, small
    # max_iter: every option x every optimizer on the compiled tier, x four
    # optimizers on the Python tier, and half of the options (optimizers in
    # rotation) on each other tier.
    x0r, lrr = rosen2_x0, 1e-3
    options = {
        "tol=0": dict(tol=0.0, max_iter=100),
        "tol=1e-2": dict(tol=1e-2, max_iter=200),
        "tol=50": dict(tol=50.0, max_iter=200),
        "ftol=1e-9": dict(ftol=1e-9, max_iter=200),
        "ftol=1e-3": dict(ftol=1e-3, max_iter=200),
        "record": dict(record=True, max_iter=30),
        "record+ftol": dict(record=True, ftol=1e-4, max_iter=200),
        "max_iter=0": dict(max_iter=0),
        "max_iter=1": dict(max_iter=1),
        "max_iter=3": dict(max_iter=3, record=True),
    }
    optnames = list(OPTIMIZERS)
    four = ("none", "nesterov", "Adam(beta1=0.8)", "Armijo(0.3,0.7,5)")
    for t, (tname, (f, kw)) in enumerate(_rosen_tiers().items()):
        for o, (oname, opts) in enumerate(options.items()):
            if tname == "compiled":
                chosen = MAIN_OPTIMIZERS
            elif tname == "py":
                chosen = four
            elif (t + o) % 2 == 0:
                chosen = [optnames[(t + o) % len(optnames)]]
            else:
                continue
            for optname in chosen:
                k = _kw(kw, optimizer=OPTIMIZERS[optname], **opts)
                case(f"descent/rosen2/{tname}/{optname}/{oname}",
                     lambda f=f, k=k: D(f, x0r, lrr, **k))
        for optname in four if tname in FULL_TIERS else (optnames[t % len(optnames)],):
            def stopped(f=f, kw=kw, opt=OPTIMIZERS[optname]):
                seen = []
                result = D(f, x0r, lrr, max_iter=50, optimizer=opt,
                           callback=_stop_after(3, seen), **kw)
                return result, seen
            case(f"descent/rosen2/{tname}/{optname}/callback-stop-3", stopped)

    def truthy_callback(value):
        def thunk():
            return D(_rosen, x0r, lrr, max_iter=10, callback=lambda x: value)
        return thunk
    for label, value in (("0", 0), ("1", 1), ("empty", ""), ("text", "yes"),
                         ("np.True_", np.True_), ("np.False_", np.False_), ("None", None)):
        case(f"descent/rosen2/py/callback-returns-{label}", truthy_callback(value))

    # 5. The order and the points of evaluation (what f receives, call by call).
    def logged_py(method, fn, h=None, **extra):
        def thunk():
            log = []

            def f(x):
                log.append(x.tolist())
                return _rosen(x)
            k = _kw(extra, method=method, h=h)
            return fn(f, [-1.2, 1.0], **k), log
        return thunk

    def logged_vec(method, fn, **extra):
        def thunk():
            log = []

            def f(X):
                log.append(X.tolist())
                return _rosen_cols([X[:, i] for i in range(X.shape[1])])
            return fn(f, [-1.2, 1.0], method=method, vectorized=True, **extra), log
        return thunk

    for method in METHODS:
        case(f"evalorder/gradient/py/{method}", logged_py(method, G))
        case(f"evalorder/gradient/py/{method}/hvec", logged_py(method, G, h=[0.5, 0.25]))
        case(f"evalorder/gradient/vec/{method}", logged_vec(method, G))
        case(f"evalorder/descent/py/{method}", logged_py(method, D, max_iter=2))
        case(f"evalorder/descent/py/{method}/record+ftol",
             logged_py(method, D, max_iter=2, record=True, ftol=0.0))
        case(f"evalorder/descent/py/{method}/armijo",
             logged_py(method, D, max_iter=2, optimizer="armijo", learning_rate=1.0))
        case(f"evalorder/descent/vec/{method}", logged_vec(method, D, max_iter=2))

    def logged_batch(vectorized):
        def thunk():
            log = []

            def f(x):
                log.append(x.tolist())
                if vectorized:
                    return _rosen_cols([x[:, i] for i in range(x.shape[1])])
                return _rosen(x)
            return B(f, [[1.0, 2.0], [3.0, -4.0]], vectorized=vectorized), log
        return thunk
    case("evalorder/batch/py", logged_batch(False))
    case("evalorder/batch/vec", logged_batch(True))

    # 6. Signed zeros.
    def neg_zero_right(x):
        return math.copysign(0.0, -x[0])  # -0.0 right of 0, +0.0 left of it
    for tname, (f, kw) in _scalar_tiers(neg_zero_right).items():
        for method in METHODS:
            for x in ([0.0], [-0.0]) if tname in ("py", "ccb") else ([-0.0],):
                case(f"zeros/gradient/copysign/{tname}/{method}/x={x[0]!r}",
                     lambda f=f, kw=kw, m=method, x=x: G(f, x, method=m, **kw))
    for tname, (f, kw) in _scalar_tiers(lambda x: -0.0).items():
        case(f"zeros/gradient/const-0/{tname}", lambda f=f, kw=kw: G(f, [-0.0, 0.0], **kw))
        case(f"zeros/step/const-0/{tname}", lambda f=f, kw=kw: S(f, [-0.0, 0.0, -0.0], **kw))
        case(f"zeros/descent/const-0/{tname}",
             lambda f=f, kw=kw: D(f, [-0.0, 0.0], record=True, **kw))
        case(f"zeros/batch/const-0/{tname}",
             lambda f=f, kw=kw: B(f, [[-0.0, 0.0], [0.0, -0.0]], num_threads=1, **kw))
    for method in METHODS:
        case(f"zeros/gradient/Sphere/{method}", lambda m=method: G(Sphere(), [-0.0, 0.0], method=m))
        case(f"zeros/step/Sphere/{method}", lambda m=method: S(Sphere(), [-0.0, 0.0], method=m))
        case(f"zeros/gradient/product/{method}",
             lambda m=method: G(lambda x: x[0] * x[1], [-0.0, 0.0], method=m))
    case("zeros/descent/Sphere", lambda: D(Sphere(), [-0.0, 0.0], record=True))
    case("zeros/descent/Sphere/lr=0.5", lambda: D(Sphere(), [1.0, -1.0], 0.5, tol=0.0, record=True))
    case("zeros/batch/Sphere", lambda: B(Sphere(), [[-0.0, 0.0], [0.0, -0.0]], num_threads=2))

    # 7. Numeric trouble in a descent: each stop reason, on every tier.
    def sq(x):
        return x[0] * x[0]

    def nan_below_half(x):
        return x[0] * x[0] if x[0] >= 0.5 else NAN

    def tiny(x):
        return 1e-30 * (x[0] * x[0])

    def neg_sq(x):
        return -(x[0] * x[0])

    def inf_beyond_5(x):
        return -(x[0] * x[0]) if abs(x[0]) < 5.0 else INF

    def nan_everywhere(x):
        return NAN

    trouble = [
        # name, scalar fun, compiled equivalent, x0, descent keywords
        ("gradient-not-finite", nan_below_half, None, [3.0], dict(learning_rate=0.1)),
        ("gradient-not-finite-at-x0", nan_everywhere, None, [3.0, 1.0], dict()),
        ("gradient-not-finite-Sphere", sq, Sphere(), [1e200], dict(h=1e190)),
        ("step-overflows", sq, Sphere(), [1e150], dict(h=1e140, learning_rate=1e160)),
        ("step-lost", tiny, Quadratic([[2e-30]], [0.0]), [1.0], dict(tol=0.0)),
        ("h-too-small-next-x", neg_sq, Quadratic([[-2.0]], [0.0]), [1.0],
         dict(learning_rate=1e3)),
        ("h-too-small-next-x-hvec", None, Quadratic(-2.0 * np.eye(2), [0.0, 0.0]), [1.0, 1e-3],
         dict(learning_rate=1e3, h=[1e-3, 1e-5])),
        ("armijo-fails-0", sq, Sphere(), [1.0],
         dict(learning_rate=10.0, optimizer=Armijo(max_backtracks=0))),
        ("armijo-fails-5", sq, Sphere(), [1.0],
         dict(learning_rate=1e6, optimizer=Armijo(c=0.3, shrink=0.7, max_backtracks=5))),
        ("armijo-trials-not-finite", sq, Sphere(), [1e150],
         dict(h=1e140, learning_rate=1e160, optimizer="armijo")),
        ("f-not-finite-ftol", sq, Sphere(), [1e153], dict(h=1e145, learning_rate=10.0, ftol=1e-9)),
        ("f-not-finite-record", sq, Sphere(), [1e153],
         dict(h=1e145, learning_rate=10.0, record=True)),
        ("f-inf-at-trials-armijo", sq, Sphere(), [1e153],
         dict(h=1e145, learning_rate=10.0, optimizer="armijo")),
        ("f-inf-ftol", inf_beyond_5, None, [1.0], dict(learning_rate=3.0, ftol=1e-9)),
        ("f-inf-record", inf_beyond_5, None, [1.0], dict(learning_rate=3.0, record=True)),
        ("f-inf-armijo", inf_beyond_5, None, [1.0], dict(learning_rate=3.0, optimizer="armijo")),
        ("f-inf-plain", inf_beyond_5, None, [1.0], dict(learning_rate=3.0)),
        # h too small for the first update's x (no growth of the gradient: not divergence).
        ("h-too-small-first-x", lambda x: -x[0], Quadratic([[0.0]], [-1.0]), [1.0],
         dict(learning_rate=1e12)),
        # Divergence: the gradient norm rising with |x| until numeric trouble.
        ("diverges-lr-1.5", sq, Sphere(), [1.0], dict(learning_rate=1.5)),
        ("diverges-rosenbrock", _rosen, Rosenbrock(), [-1.2, 1.0], dict()),
        ("diverges-to-overflow", sq, Sphere(), [1e100], dict(h=1e90, learning_rate=1e3)),
    ]
    for name, fun, compiled, x0t, kw in trouble:
        tiers = _scalar_tiers(fun, compiled) if fun is not None else {"compiled": (compiled, {})}
        for tname, (f, tkw) in tiers.items():
            more = "optimizer" not in kw and tname in ("py", "compiled")
            for optname in (None, "momentum", "adam") if more else (None,):
                k = dict(kw, **tkw)
                if optname is not None:
                    k["optimizer"] = optname
                label = f"trouble/{name}/{tname}" + (f"/{optname}" if optname else "")
                case(label, lambda f=f, k=k, x0=x0t: D(f, x0, max_iter=200, **k))
        if fun is not None:
            case(f"trouble/{name}/gradient-at-x0/py", lambda fun=fun, x0=x0t, kw=kw:
                 G(fun, x0, **({"h": kw["h"]} if "h" in kw else {})))
    # The rules' comparisons at equality (<=, not <): gradient norm == tol,
    # relative change of f == ftol, f at the trial point == the Armijo bound.
    def line(x):
        return x[0]  # central gradient exactly 1, so every bound is exact

    def armijo_edge(x):
        # near 1: f = x; elsewhere 0.5, which is f(1) - c s |g|^2 at the first trial
        return x[0] if abs(x[0] - 1.0) < 0.01 else 0.5
    edges = [
        ("tol", line, Quadratic([[0.0]], [1.0]), dict(tol=1.0)),
        ("ftol", line, Quadratic([[0.0]], [1.0]), dict(learning_rate=0.5, ftol=0.5)),
        ("armijo", armijo_edge, None, dict(learning_rate=1.0, optimizer=Armijo(c=0.5))),
    ]
    for name, fun, compiled, kw in edges:
        for tname, (f, tkw) in _scalar_tiers(fun, compiled).items():
            case(f"edge/{name}/{tname}",
                 lambda f=f, k=dict(kw, **tkw): D(f, [1.0], max_iter=5, **k))

    case("trouble/gradient/nan-at-0.5/py", lambda: G(nan_below_half, [0.5]))
    case("trouble/gradient/nan-at-0.5/forward/py",
         lambda: G(nan_below_half, [0.5], method="forward"))
    case("trouble/gradient/inf-beyond-5/central", lambda: G(inf_beyond_5, [5.0]))
    case("trouble/batch/nan-rows/ccb",
         lambda: B(_c_callback(nan_below_half), [[0.5], [3.0], [0.4]], num_threads=2))
    case("trouble/batch/nan-rows/vec",
         lambda: B(_rows(nan_below_half), [[0.5], [3.0], [0.4]], vectorized=True))

    # 8. What f may return (Python tier), and what a vectorized f may return.
    returns = {
        "int": lambda x: 3, "bool": lambda x: True, "np.float32": lambda x: np.float32(x[0] / 3.0),
        "np.int64": lambda x: np.int64(7), "0-d array": lambda x: np.array(x[0] * 1.5),
        "1-elem array": lambda x: np.array([x[0]]), "Fraction": lambda x: Fraction(1, 3),
        "complex": lambda x: 1j, "str": lambda x: "1.0", "None": lambda x: None,
        "list": lambda x: [1.0], "huge int": lambda x: 10**400, "nan": lambda x: NAN,
        "-inf": lambda x: -INF,
    }
    for label, f in returns.items():
        case(f"f-returns/{label}/gradient", lambda f=f: G(f, [1.0, 2.0]))
        case(f"f-returns/{label}/descent", lambda f=f: D(f, [1.0, 2.0], max_iter=3))
        case(f"f-returns/{label}/batch", lambda f=f: B(f, [[1.0, 2.0]]))
    vec_returns = {
        "list": lambda X: [float(r[0]) for r in X],
        "column": lambda X: X[:, :1].copy(),
        "float32": lambda X: X[:, 0].astype(np.float32) / np.float32(3),
        "int": lambda X: np.arange(X.shape[0]),
        "bool": lambda X: X[:, 0] > 1.0,
        "too-short": lambda X: X[:-1, 0].copy(),
        "scalar": lambda X: 1.0,
        "complex": lambda X: X[:, 0] + 1j,
        "object": lambda X: np.array([None] * X.shape[0]),
        "big-endian": lambda X: (X[:, 0] * 0.1).astype(">f8"),
        "strided": lambda X: np.repeat(X[:, 0] * 0.1, 2)[::2],
    }
    for label, f in vec_returns.items():
        case(f"vec-returns/{label}/gradient", lambda f=f: G(f, [1.0, 2.0], vectorized=True))
        case(f"vec-returns/{label}/descent",
             lambda f=f: D(f, [1.0, 2.0], max_iter=3, vectorized=True))
        case(f"vec-returns/{label}/batch",
             lambda f=f: B(f, [[1.0, 2.0], [0.5, 0.5]], vectorized=True))

    # Exceptions raised by f propagate unchanged.
    def boom(x, *rest):
        raise ZeroDivisionError("boom from f")
    for label, kw in (("py", {}), ("unpack", {"unpack": True}), ("vec", {"vectorized": True}),
                      ("args", {"args": (1,)})):
        case(f"f-raises/gradient/{label}", lambda kw=kw: G(boom, [1.0, 2.0], **kw))
        case(f"f-raises/descent/{label}", lambda kw=kw: D(boom, [1.0, 2.0], **kw))
        case(f"f-raises/step/{label}", lambda kw=kw: S(boom, [1.0, 2.0], **kw))
        case(f"f-raises/batch/{label}", lambda kw=kw: B(boom, [[1.0, 2.0]], **kw))

    def late_boom():
        calls = []

        def f(x):
            calls.append(1)
            if len(calls) > 20:
                raise KeyError("late")
            return _rosen(x)
        return D(f, [-1.2, 1.0], 1e-3, max_iter=100)
    case("f-raises/descent/py/late", late_boom)

    def callback_raises():
        def cb(x):
            raise RuntimeError(f"callback saw {x.tolist()}")
        return D(_rosen, [-1.2, 1.0], 1e-3, callback=cb)
    case("callback-raises/descent/py", callback_raises)
    case("callback-raises/descent/compiled",
         lambda: D(Rosenbrock(), [-1.2, 1.0], 1e-3, callback=lambda x: 1 / 0))

    # 9. How x, h and X may be given (all the same point, or an error).
    xs = {
        "list-int": [1, 2, 3], "tuple": (1.0, 2.0, 3.0), "np-int64": np.array([1, 2, 3]),
        "np-float32": np.array([0.1, 0.2, 0.3], dtype=np.float32),
        "np-bool": np.array([True, False, True]),
        "list-np-scalars": [np.float64(0.1), np.int8(2), np.float32(0.3)],
        "fractions": [Fraction(1, 3), Fraction(2, 3), 1], "strided": np.arange(6.0)[::2],
        "big-endian": np.array([0.1, 0.2, 0.3], dtype=">f8"), "readonly": np.arange(3.0).copy(),
        "range": range(3), "bools": [True, False, True],
        "empty": [], "2-D": [[1.0, 2.0, 3.0]], "nested": [1.0, [2.0], 3.0],
        "nan": [1.0, NAN, 3.0], "inf": [1.0, 2.0, -INF], "string": "abc",
        "str-entry": [1.0, "2", 3.0],
        "complex": [1.0, 2j, 3.0], "np-complex": np.array([1.0, 2.0, 3.0], dtype=complex),
        "scalar": 1.0, "None": None, "huge-int": [1, 10**400, 3],
        "0-d": np.array(1.0), "2-D-array": np.ones((1, 3)),
        "object-array": np.array([1.0, 2.0, 3.0], dtype=object),
    }
    xs["readonly"].flags.writeable = False
    for label, x in xs.items():
        f3 = lambda v: v[0] * v[0] - 2.0 * v[1] + v[2] * v[0]  # noqa: E731
        case(f"x-kinds/{label}/gradient", lambda x=x, f3=f3: G(f3, x))
        case(f"x-kinds/{label}/gradient/compiled", lambda x=x: G(Sphere(), x))
        case(f"x-kinds/{label}/step", lambda x=x, f3=f3: S(f3, x, 0.5))
        case(f"x-kinds/{label}/descent", lambda x=x: D(Sphere(), x, max_iter=5))
    case("x-kinds/generator/gradient", lambda: G(Sphere(), (v for v in [1.0, 2.0, 3.0])))

    def x_unchanged():
        x = np.array([1.0, 2.0, 3.0])
        r = D(Sphere(), x, max_iter=5, record=True)
        return x, r
    case("x-kinds/caller-x-unchanged", x_unchanged)

    case("h-kinds/tuple/batch", lambda: B(Sphere(), [[1.0, 2.0, 3.0]], (1e-3, 2e-3, 3e-3),
                                          num_threads=1))
    case("h-kinds/short/batch", lambda: B(Sphere(), [[1.0, 2.0, 3.0]], [1e-3, 2e-3]))
    hs = {
        "int": 1, "np.float64": np.float64(1e-3), "np.float32": np.float32(1e-3),
        "Fraction": Fraction(1, 1000), "bool": True, "tuple": (1e-3, 2e-3, 3e-3),
        "list-int": [1, 2, 3], "np-float32": np.array([1e-3, 2e-3, 3e-3], dtype=np.float32),
        "np-int": np.array([1, 2, 3]), "big-endian": np.array([1e-3, 2e-3, 3e-3], dtype=">f8"),
        "strided": np.array([1e-3, 9.0, 2e-3, 9.0, 3e-3, 9.0])[::2],
        "zero": 0.0, "negative": -1e-5, "nan": NAN, "inf": INF, "complex": 1e-5j, "string": "1e-5",
        "None": None, "short": [1e-3, 2e-3], "long": [1e-3] * 4, "2-D": np.full((3, 1), 1e-3),
        "entry-zero": [1e-3, 0.0, 1e-3], "entry-nan": np.array([1e-3, NAN, 1e-3]),
        "entry-str": [1e-3, "a", 1e-3], "0-d": np.array(1e-3), "huge": 1e300,
    }
    for label, h in hs.items():
        case(f"h-kinds/{label}/gradient",
             lambda h=h: G(lambda v: v[0] * v[1] + v[2], [1.0, 2.0, 3.0], h))
        case(f"h-kinds/{label}/gradient/compiled", lambda h=h: G(Sphere(), [1.0, 2.0, 3.0], h))
        case(f"h-kinds/{label}/descent", lambda h=h: D(Sphere(), [1.0, 2.0, 3.0], max_iter=3, h=h))

    Xs = {
        "tuples": ((1.0, 2.0), (3.0, 4.0)), "int-array": np.array([[1, 2], [3, 4]]),
        "fortran": np.asfortranarray([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
        "float32": np.array([[0.1, 0.2]], dtype=np.float32),
        "strided": np.arange(12.0).reshape(3, 4)[:, ::2],
        "big-endian": np.array([[0.1, 0.2]], dtype=">f8"),
        "list-of-arrays": [np.array([1.0, 2.0]), np.array([3, 4])],
        "1-D": [1.0, 2.0], "3-D": np.ones((1, 1, 2)), "empty": [], "empty-rows": [[]],
        "ragged": [[1.0, 2.0], [3.0]],
        "nan": [[1.0, 2.0], [3.0, NAN]], "str-row": [[1.0, 2.0], "ab"], "str-entry": [[1.0, "2"]],
        "complex": [[1.0, 2j]], "scalar": 3.0, "None": None, "huge": [[1.0, 1e20], [1.0, 2.0]],
        "zero-rows": np.zeros((0, 2)),
    }
    for label, X in Xs.items():
        case(f"X-kinds/{label}/compiled", lambda X=X: B(Sphere(), X, num_threads=1))
        case(f"X-kinds/{label}/py", lambda X=X: B(lambda v: v[0] * v[-1], X))

    # 10. Stencil errors: h too small for x[i] (or X[r, i]) before any call of f.
    for method in METHODS:
        for label, x, h in (("x=1e20", [1e20], 1e-5), ("x[1]=1e20", [1.0, 1e20], 1e-5),
                            ("hvec[1]=1e-30", [1.0, 1.0], [1e-5, 1e-30]),
                            ("x=-1e300,h=1e300", [-1.7e308], 1e300)):
            case(f"stencil-error/gradient/{method}/{label}",
                 lambda m=method, x=x, h=h: G(lambda v: sum(v), x, h, method=m))
            case(f"stencil-error/gradient/compiled/{method}/{label}",
                 lambda m=method, x=x, h=h: G(Sphere(), x, h, method=m))
            case(f"stencil-error/descent/{method}/{label}",
                 lambda m=method, x=x, h=h: D(lambda v: sum(v), x, h=h, method=m))
            case(f"stencil-error/step/{method}/{label}",
                 lambda m=method, x=x, h=h: S(lambda v: sum(v), x, h=h, method=m))
        case(f"stencil-error/batch/{method}/row2",
             lambda m=method: B(Sphere(), [[1.0, 1.0], [2.0, 2.0], [3.0, 1e21]], method=m))
        case(f"stencil-error/batch/vec/{method}/row1",
             lambda m=method: B(lambda X: X[:, 0], [[1.0, 1.0], [1e21, 2.0]], method=m,
                                vectorized=True))
        case(f"stencil-error/batch/py/{method}/hvec",
             lambda m=method: B(lambda v: v[0], [[1.0, 1.0], [2.0, 2.0]], [1e-5, 1e-17], method=m))

    # 11. Argument errors, for every function.
    f2 = lambda v: v[0] * v[1]  # noqa: E731
    bad_common = {
        "f-not-callable": (3.0, {}), "f-None": (None, {}),
        "method-unknown": (f2, {"method": "upwind"}), "method-int": (f2, {"method": 3}),
        "method-None": (f2, {"method": None}), "method-upper": (f2, {"method": "Central"}),
        "args-list": (f2, {"args": [1.0]}), "args-None": (f2, {"args": None}),
        "unpack-int": (f2, {"unpack": 1}), "unpack-str": (f2, {"unpack": "yes"}),
        "vectorized-None": (f2, {"vectorized": None}),
        "vectorized-np-bool": (f2, {"vectorized": np.True_}),
        "h-zero": (f2, {"h": 0.0}), "f-not-callable-and-h-zero": (3.0, {"h": 0.0}),
        "method-and-h-bad": (f2, {"method": "x", "h": -1.0}),
    }
    for label, (f, kw) in bad_common.items():
        case(f"arg-error/gradient/{label}", lambda f=f, kw=kw: G(f, [1.0, 2.0], **kw))
        case(f"arg-error/step/{label}", lambda f=f, kw=kw: S(f, [1.0, 2.0], **kw))
        case(f"arg-error/descent/{label}", lambda f=f, kw=kw: D(f, [1.0, 2.0], **kw))
        case(f"arg-error/batch/{label}", lambda f=f, kw=kw: B(f, [[1.0, 2.0]], **kw))
    bad_lr = {"zero": 0.0, "negative": -0.1, "nan": NAN, "inf": INF, "str": "0.1", "None": None,
              "complex": 0.1j, "int": 1, "Fraction": Fraction(1, 10)}
    for label, lr_ in bad_lr.items():
        case(f"arg-error/step/learning_rate-{label}", lambda lr_=lr_: S(f2, [1.0, 2.0], lr_))
        case(f"arg-error/descent/learning_rate-{label}",
             lambda lr_=lr_: D(f2, [1.0, 2.0], lr_, max_iter=2))
    bad_descent = {
        "max_iter=-1": dict(max_iter=-1), "max_iter=1.5": dict(max_iter=1.5),
        "max_iter=True": dict(max_iter=True), "max_iter=None": dict(max_iter=None),
        "max_iter=np.int64": dict(max_iter=np.int64(2)),
        "max_iter=2**70": dict(max_iter=2**70, tol=1e300),
        "tol=-1": dict(tol=-1.0), "tol=nan": dict(tol=NAN), "tol=str": dict(tol="0"),
        "tol=inf": dict(tol=INF), "tol=int": dict(tol=1),
        "ftol=-1": dict(ftol=-1.0), "ftol=nan": dict(ftol=NAN), "ftol=str": dict(ftol="a"),
        "ftol=0": dict(ftol=0, max_iter=3), "ftol=inf": dict(ftol=INF, max_iter=3),
        "callback=3": dict(callback=3), "record=1": dict(record=1),
        "record=None": dict(record=None),
        "optimizer=bfgs": dict(optimizer="bfgs"), "optimizer=3": dict(optimizer=3),
        "optimizer=SGD-class": dict(optimizer=SGD),
        "optimizer=Nesterov": dict(optimizer="Nesterov"),
        "optimizer=dict": dict(optimizer={"momentum": 0.9}),
        "lr-and-max_iter-bad": dict(learning_rate=0.0, max_iter=-1),
        "x-and-lr-bad": dict(learning_rate=0.0, x0=[]),
        "objective-length-and-tol-bad": dict(f=Booth(), x0=[1.0, 2.0, 3.0], tol=-1.0),
        "objective-length": dict(f=Booth(), x0=[1.0, 2.0, 3.0]),
    }
    for label, kw in bad_descent.items():
        kw = dict(kw)
        f = kw.pop("f", f2)
        x = kw.pop("x0", [1.0, 2.0])
        case(f"arg-error/descent/{label}", lambda f=f, x=x, kw=kw: D(f, x, **kw))
    bad_threads = {"0": 0, "-1": -1, "1.5": 1.5, "True": True, "str": "2", "np.int64": np.int64(2),
                   "huge": 10**6}
    for label, t in bad_threads.items():
        case(f"arg-error/batch/num_threads={label}",
             lambda t=t: B(Sphere(), [[1.0, 2.0]], num_threads=t))
        case(f"arg-error/batch/py/num_threads={label}",
             lambda t=t: B(f2, [[1.0, 2.0]], num_threads=t))
    bad_optimizers = {
        "Momentum(momentum=1.0)": lambda: Momentum(momentum=1.0),
        "Momentum(momentum=-0.1)": lambda: Momentum(momentum=-0.1),
        "Momentum(momentum='a')": lambda: Momentum(momentum="a"),
        "Momentum(dampening=1.0)": lambda: Momentum(dampening=1.0),
        "Momentum(nesterov=1)": lambda: Momentum(nesterov=1),
        "Momentum(nesterov,dampening)": lambda: Momentum(nesterov=True, dampening=0.1),
        "Momentum(nesterov,momentum=0)": lambda: Momentum(nesterov=True, momentum=0.0),
        "Adam(beta1=1.0)": lambda: Adam(beta1=1.0), "Adam(beta2=-1)": lambda: Adam(beta2=-1),
        "Adam(eps=0)": lambda: Adam(eps=0.0), "Adam(eps=nan)": lambda: Adam(eps=NAN),
        "Armijo(c=0)": lambda: Armijo(c=0.0), "Armijo(shrink=1)": lambda: Armijo(shrink=1.0),
        "Armijo(max_backtracks=-1)": lambda: Armijo(max_backtracks=-1),
        "Armijo(max_backtracks=1.5)": lambda: Armijo(max_backtracks=1.5),
        "Momentum-ok": lambda: Momentum(momentum=np.float32(0.5), dampening=0),
        "Adam-ok": lambda: Adam(beta1=0, beta2=Fraction(1, 2), eps=1),
        "Armijo-ok": lambda: Armijo(c=0.5, shrink=np.float64(0.25), max_backtracks=np.int64(3)),
    }
    for label, make in bad_optimizers.items():
        def made(make=make):
            o = make()
            return {k: getattr(o, k) for k in ("momentum", "dampening", "nesterov", "beta1",
                                                "beta2", "eps", "c", "shrink", "max_backtracks")
                    if hasattr(o, k)}
        case(f"optimizer-args/{label}", made)

    # Compiled objectives and C callbacks used in other ways.
    case("objective/unpack", lambda: G(Rosenbrock(), [1.0, 2.0], unpack=True))
    case("objective/vectorized", lambda: G(Rosenbrock(), [1.0, 2.0], vectorized=True))
    case("objective/args", lambda: G(Rosenbrock(), [1.0, 2.0], args=(1,)))
    case("objective/length-1", lambda: G(Rosenbrock(), [1.0]))
    case("objective/Booth-length-3", lambda: G(Booth(), [1.0, 2.0, 3.0]))
    case("objective/Booth-length-3/batch", lambda: B(Booth(), [[1.0, 2.0, 3.0]]))
    case("objective/Quadratic-length", lambda: G(Quadratic(np.eye(2), [0.0, 0.0]), [1.0, 2.0, 3.0]))
    case("objective/CFunction-dim-2", lambda: G(CFunction(_c_callback(_rosen), dim=2), [1.0, 2.0]))
    case("objective/CFunction-dim-mismatch",
         lambda: G(CFunction(_c_callback(_rosen), dim=2), [1.0, 2.0, 3.0]))
    case("objective/ccb-args", lambda: G(_c_callback(_rosen), [1.0, 2.0], args=(1,)))
    case("objective/ccb-call", lambda: CFunction(_c_callback(_rosen))([1.0, 2.0, 3.0]))
    case("objective/ccbdata-call", lambda: CFunction(_c_callback(_rosen, True))([1.0, 2.0, 3.0]))

    names = [name for name, _ in out]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise AssertionError(f"duplicate case names: {dup}")
    return out


def cases():
    """(name, thunk) pairs, in a fixed order; thunk() gives the result to fingerprint."""
    yield from _build()


def record():
    """{case name: fingerprint} for the installed fastgrad."""
    return {name: run(thunk) for name, thunk in cases()}


def write(path, table):
    text = json.dumps(dict(sorted(table.items())), indent=1, sort_keys=True)
    Path(path).write_text(text + "\n", encoding="utf-8")


def main(argv):
    usage = "usage: python tests/_battery.py (--record OUT.json | --check STORED.json)"
    if len(argv) != 2 or argv[0] not in ("--record", "--check"):
        print(usage, file=sys.stderr)
        return 2
    table = record()
    if argv[0] == "--record":
        write(argv[1], table)
        print(f"recorded {len(table)} cases from fastgrad at {fastgrad.__file__} into {argv[1]}")
        return 0
    stored = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    differ = sorted(name for name in set(table) & set(stored) if table[name] != stored[name])
    for name in differ:
        print(f"{name}\n  stored:   {stored[name]}\n  computed: {table[name]}")
    for name in sorted(set(stored) - set(table)):
        print(f"{name}: stored, no longer in the battery")
    for name in sorted(set(table) - set(stored)):
        print(f"{name}: in the battery, not stored")
    print(f"{len(table)} cases, {len(differ)} differ")
    return 1 if differ or set(table) != set(stored) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
