"""Who computes the gradient: a registry of competitors, side by side in one run.

A competitor is a name plus two factories.  Given a workload and n (and, for
descent, a number of steps) a factory does all the setup -- building f, the
start point, pre-built stencil points, a numdifftools object -- and returns a
zero-argument callable that does only the timed work: one gradient, or a fixed
number of descent steps.  It returns None where the competitor does not apply
(numdifftools at large n, scipy on a vectorized f, ...).

The fastgrad tiers come from TIERS, one entry each: a tier names the workload
styles it serves.  A new tier (or a new calling style) is one more Tier entry;
a new compiled objective is picked up by workloads.compiled_workloads().

Every competitor uses the same step h = 1e-5.  Note what each one computes:
fastgrad, the reference, scipy's 3-point approx_derivative, numdifftools and
numba use central differences (2n evaluations; numdifftools adds f(x));
scipy.optimize.approx_fprime is forward differences (n + 1 evaluations), so it
does about half the work at large n.
"""
import functools
import importlib
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np

import fastgrad
import fastgrad.reference

H = 1e-5
#: Rows of the stencil matrix one vectorized call gets (about 512 KiB of points, at most 32 MiB).
from fastgrad._contract import vectorized_rows_per_call  # noqa: E402
NUMDIFFTOOLS_MAX_N = 10

#: What each workload style means in fastgrad's API (the reference takes the same).
STYLE_KWARGS = {
    "array": {},
    "unpack": {"unpack": True},
    "vectorized": {"vectorized": True},
    "compiled": {},
}


def _never(*_):
    return None


@dataclass(frozen=True)
class Competitor:
    name: str
    kind: str                        # "fastgrad", "reference", "library" or "limit"
    gradient: Callable               # (workload, n) -> callable or None
    descent: Callable = _never       # (workload, n, steps) -> callable or None
    requires: Tuple[str, ...] = ()   # optional modules; missing ones skip the competitor
    note: str = ""

    def missing(self):
        """None if every required module imports, else why this competitor is skipped."""
        for module in self.requires:
            try:
                importlib.import_module(module)
            except ImportError as error:
                return f"{module} is not installed ({error})"
        return None


# -- fastgrad and its reference ---------------------------------------------------

@dataclass(frozen=True)
class Tier:
    """A fastgrad evaluation tier: the workload styles it serves.

    memory_f: () -> the cheapest f in this tier's style (it reads two entries of
    x), so that the memory benchmark sees fastgrad's own memory, not f's;
    raises ImportError if what it needs is not installed.
    chunked: the tier hands f the stencil as matrices of vectorized_rows_per_call(n) rows.
    """
    name: str
    styles: Tuple[str, ...]
    memory_f: Optional[Callable[[], Callable]] = None
    note: str = ""
    chunked: bool = False


def _first_plus_last(x):
    return x[0] + x[-1]


def _first_plus_last_rows(X):
    return X[:, 0] + X[:, -1]


def _first_plus_last_in_c():
    """A C callback (numba cfunc as scipy.LowLevelCallable): the compiled tier's cheapest f."""
    importlib.import_module("fastgrad.objectives")  # the compiled tier itself
    numba = importlib.import_module("numba")
    scipy = importlib.import_module("scipy")
    signature = numba.types.float64(numba.types.intc, numba.types.CPointer(numba.types.float64))

    @numba.cfunc(signature)
    def first_plus_last(n, x):
        return x[0] + x[n - 1]
    return scipy.LowLevelCallable(first_plus_last.ctypes)


TIERS = (
    Tier("fastgrad", ("array", "unpack"), lambda: _first_plus_last,
         "Python tier: one call of f per stencil point, the loop in C"),
    Tier("fastgrad vectorized", ("vectorized",), lambda: _first_plus_last_rows,
         "vectorized=True: the stencil in one (chunked) call of f", chunked=True),
    Tier("fastgrad compiled", ("compiled",), _first_plus_last_in_c,
         "fastgrad.objectives: f evaluated in C without the GIL, on the calling thread"),
)


def _api_factories(module, *, styles, as_list):
    """Gradient and descent factories for a module with fastgrad's API.

    as_list: hand x over as a list (the reference's own type), so that its time
    is not inflated by converting an array.
    """
    def setup(workload, n):
        if workload.style not in styles:
            return None
        x = workload.start(n)
        return workload.objective(n), (x.tolist() if as_list else x), STYLE_KWARGS[workload.style]

    def gradient(workload, n):
        ready = setup(workload, n)
        if ready is None:
            return None
        f, x, kwargs = ready
        return functools.partial(module().gradient, f, x, H, **kwargs)

    def descent(workload, n, steps):
        ready = setup(workload, n)
        if ready is None:
            return None
        f, x, kwargs = ready
        return functools.partial(module().gradient_descent, f, x, workload.learning_rate,
                                 max_iter=steps, tol=0.0, h=H, **kwargs)
    return gradient, descent


def _tier_competitor(tier):
    gradient, descent = _api_factories(lambda: fastgrad, styles=tier.styles, as_list=False)
    return Competitor(tier.name, "fastgrad", gradient, descent, note=tier.note)


def _prepared():
    """fastgrad.Gradient(f, **options) made once, in the setup; the timed work is G(x)."""
    def gradient(workload, n):
        if workload.style not in ("array", "unpack", "compiled"):
            return None
        G = fastgrad.Gradient(workload.objective(n), h=H, **STYLE_KWARGS[workload.style])
        return functools.partial(G, workload.start(n))
    return Competitor("fastgrad prepared", "fastgrad", gradient,
                      note="fastgrad.Gradient(f, h=1e-5, ...) made beforehand; G(x) timed "
                           "(Python and compiled tiers)")


def _reference():
    gradient, descent = _api_factories(lambda: fastgrad.reference, styles=tuple(STYLE_KWARGS),
                                       as_list=True)
    return Competitor("reference", "reference", gradient, descent,
                      note="fastgrad.reference: the same API in pure Python")


# -- scipy and numdifftools -----------------------------------------------------------

def _scalar_f(workload, n):
    """f as a function of one 1-D array, as scipy and numdifftools call it; None if vectorized."""
    f = workload.objective(n)
    if workload.style == "unpack":
        return lambda x: f(*x)
    return None if workload.style == "vectorized" else f


def _approx_derivative():
    """scipy's approx_derivative: public in some versions, in scipy.optimize._numdiff in others."""
    import scipy.optimize
    found = getattr(scipy.optimize, "approx_derivative", None)
    if found is None:
        from scipy.optimize._numdiff import approx_derivative as found
    return found


def _fprime():
    from scipy.optimize import approx_fprime
    return lambda f: lambda x: approx_fprime(x, f, H)


def _three_point():
    approx_derivative = _approx_derivative()
    return lambda f: lambda x: approx_derivative(f, x, method="3-point", abs_step=H)


def _library_factories(make_gradient_of):
    """Factories for a library function gradient_of(f) -> (x -> g), and a descent loop around it."""
    def gradient(workload, n):
        f = _scalar_f(workload, n)
        if f is None:
            return None
        return functools.partial(make_gradient_of()(f), workload.start(n))

    def descent(workload, n, steps):
        f = _scalar_f(workload, n)
        if f is None:
            return None
        return functools.partial(_descent_loop, make_gradient_of()(f), workload.start(n),
                                 workload.learning_rate, steps)
    return gradient, descent


def _descent_loop(gradient_at, x0, learning_rate, steps):
    """What a user writes around a gradient function: a fixed number of plain steps."""
    x = x0
    for _ in range(steps):
        x = x - learning_rate * gradient_at(x)
    return x


def _numdifftools_gradient(workload, n):
    if n > NUMDIFFTOOLS_MAX_N:
        return None
    f = _scalar_f(workload, n)
    if f is None:
        return None
    numdifftools = importlib.import_module("numdifftools")
    # A fixed step like everyone else: its default adaptive Richardson scheme
    # makes ~30 evaluations per coordinate.
    return functools.partial(numdifftools.Gradient(f, step=H), workload.start(n))


# -- Hessians (a checkpoint of benchmarks/aims.py) -----------------------------------

def hessian_libraries(f, vectorized_f):
    """name -> callable x -> (n, n) Hessian, for the peers that are installed, each
    with its defaults (their accuracy is measured beside their time); name -> the
    reason for those that are not.

    f takes one point x of shape (n,); vectorized_f takes x of shape (n, ...) and
    returns shape (...) (scipy.differentiate's convention: coordinates first).
    """
    found, missing = {}, {}
    try:
        numdifftools = importlib.import_module("numdifftools")
        # Its default: central differences with adaptive Richardson extrapolation.
        found["numdifftools.Hessian"] = numdifftools.Hessian(f)
    except ImportError as error:
        missing["numdifftools.Hessian"] = str(error)
    try:
        differentiate = importlib.import_module("scipy.differentiate")
        found["scipy.differentiate.hessian"] = lambda x: differentiate.hessian(vectorized_f, x).ddf
    except ImportError as error:
        missing["scipy.differentiate.hessian"] = str(error)
    return found, missing


# -- the limits: what no gradient code can beat --------------------------------------

def _stencil_points(x):
    """The 2n central-difference points around x, in fastgrad's order (+h, then -h)."""
    points = []
    for i in range(x.shape[0]):
        for value in (x[i] + H, x[i] - H):
            point = x.copy()
            point[i] = value
            points.append(point)
    return points


def _call_each(f, points):
    for p in points:
        f(p)


def _call_rows(f, matrix):
    f(matrix)


def _call_each_unpacked(f, points):
    for p in points:
        f(*p)


def _bare_loop_gradient(workload, n):
    """f at the 2n pre-built stencil points and nothing else: the per-call limit.

    The points have the type fastgrad hands f (arrays; floats with unpack; one
    (2n, n) matrix for a vectorized f), so the difference to fastgrad is
    fastgrad's own overhead.
    """
    f, points = workload.objective(n), _stencil_points(workload.start(n))
    if workload.style == "vectorized":
        return functools.partial(_call_rows, f, np.array(points))
    if workload.style == "unpack":
        return functools.partial(_call_each_unpacked, f, [tuple(p.tolist()) for p in points])
    return functools.partial(_call_each, f, points)


@functools.lru_cache(maxsize=None)
def numba_central(source):
    """A hand-written central-difference loop around f = numba.njit(source).

    f is bound at compile time (a closure, not an argument), so numba inlines
    it and a call costs no dispatch on f's type: the loop is a fair stand-in for
    hand-written C.
    """
    numba = importlib.import_module("numba")
    f = numba.njit(source)

    @numba.njit
    def central(x, h, extra):
        g = np.empty_like(x)
        p = x.copy()
        for i in range(x.shape[0]):
            xp = x[i] + h
            xm = x[i] - h
            p[i] = xp
            fp = f(p, *extra)
            p[i] = xm
            fm = f(p, *extra)
            p[i] = x[i]
            g[i] = (fp - fm) / (xp - xm)
        return g
    return central


def _numba_gradient(workload, n):
    if workload.numba is None:
        return None
    source, extra = workload.numba(n)
    return functools.partial(numba_central(source), workload.start(n), H, extra)


# -- the registry -------------------------------------------------------------------------

def registry():
    """Every competitor, in table order: fastgrad tiers, reference, libraries, limits."""
    fprime_gradient, fprime_descent = _library_factories(_fprime)
    three_gradient, three_descent = _library_factories(_three_point)
    return [_tier_competitor(tier) for tier in TIERS] + [
        _prepared(),
        _reference(),
        Competitor("scipy approx_fprime", "library", fprime_gradient, fprime_descent,
                   requires=("scipy",),
                   note="scipy.optimize.approx_fprime(x, f, 1e-5): forward differences, "
                        "n + 1 evaluations; descent: a Python loop around it"),
        Competitor("scipy 3-point", "library", three_gradient, three_descent,
                   requires=("scipy",),
                   note="scipy approx_derivative(f, x, method='3-point', abs_step=1e-5); "
                        "descent: a Python loop around it"),
        Competitor("numdifftools", "library", _numdifftools_gradient,
                   requires=("numdifftools",),
                   note=f"numdifftools.Gradient(f, step=1e-5), n <= {NUMDIFFTOOLS_MAX_N} only"),
        Competitor("bare loop", "limit", _bare_loop_gradient,
                   note="limit: f called on the 2n pre-built stencil points, nothing else "
                        "(one call on the pre-built (2n, n) matrix for a vectorized f)"),
        Competitor("numba loop", "limit", _numba_gradient, requires=("numba",),
                   note="limit for the compiled tier: a hand-written @njit central-difference "
                        "loop calling an @njit f"),
    ]
