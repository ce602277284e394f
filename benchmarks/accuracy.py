"""Accuracy and speed of one gradient and one Hessian, side by side: fastgrad's step rules
against the peers.

    python benchmarks/accuracy.py            # about a minute
    python benchmarks/accuracy.py --quick    # a few seconds

For each function (n = 10, at fixed random points) and each competitor: the
error against the exact gradient (max |g - g_exact| / max |g_exact|, worst
over the points) and the time of one gradient (median of interleaved repeats,
fastgrad._timing).  Then the same for one Hessian (fastgrad's fixed h, "auto"
orders 2-8 and "adaptive", also within bounds, against numdifftools.Hessian and
scipy.differentiate.hessian), with the evaluations of f each one makes.  Every f is a numpy function of a 1-D array; complex-step
competitors get the same formula on complex input.  Nothing is asserted.
"""
import argparse
import math
import sys
import warnings

import numpy as np

import fastgrad
from fastgrad._timing import Schedule, fmt_time, interleaved, table

N = 10


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosen_grad(x):
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


def wave(x):  # exp and trig products
    return np.sum(np.exp(0.3 * x) * np.sin(x)) + np.prod(np.cos(0.1 * x))


def wave_grad(x):
    c = np.cos(0.1 * x)
    others = np.array([np.prod(np.delete(c, i)) for i in range(len(x))])
    return np.exp(0.3 * x) * (0.3 * np.sin(x) + np.cos(x)) - 0.1 * np.sin(0.1 * x) * others


def runge(x):
    return np.sum(1.0 / (1.0 + 25.0 * x ** 2))


def runge_grad(x):
    return -50.0 * x / (1.0 + 25.0 * x ** 2) ** 2


def logs(x):
    return np.sum(np.log1p(x ** 2) * np.arange(1, len(x) + 1))


def logs_grad(x):
    return 2.0 * x / (1.0 + x ** 2) * np.arange(1, len(x) + 1)


FUNCTIONS = {"Rosenbrock": (rosen, rosen_grad, 1.0), "exp-trig": (wave, wave_grad, 1.5),
             "Runge": (runge, runge_grad, 0.8), "log1p": (logs, logs_grad, 2.0)}


# -- exact Hessians of the same functions (the Hessian table) ---------------------------

def rosen_hess(x):
    H = np.zeros((len(x), len(x)))
    i = np.arange(len(x) - 1)
    H[i, i] += 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    H[i + 1, i + 1] += 200.0
    H[i, i + 1] = H[i + 1, i] = -400.0 * x[:-1]
    return H


def wave_hess(x):
    c, s = np.cos(0.1 * x), np.sin(0.1 * x)
    n = len(x)
    H = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            others = np.prod([c[k] for k in range(n) if k not in (i, j)])
            H[i, j] = (-0.01 * c[i] if i == j else 0.01 * s[i] * s[j]) * others
    e = np.exp(0.3 * x)
    H[np.diag_indices(n)] += e * (0.09 * np.sin(x) + 0.6 * np.cos(x) - np.sin(x))
    return H


def runge_hess(x):
    u = 1.0 + 25.0 * x ** 2
    return np.diag((3750.0 * x ** 2 - 50.0) / u ** 3)


def logs_hess(x):
    return np.diag(2.0 * (1.0 - x ** 2) / (1.0 + x ** 2) ** 2 * np.arange(1, len(x) + 1))


HESSIANS = {"Rosenbrock": rosen_hess, "exp-trig": wave_hess, "Runge": runge_hess,
            "log1p": logs_hess}


def hessian_competitors(f):
    """name -> (one Hessian at x): fastgrad's step rules and the peers
    (benchmarks/competitors.hessian_libraries, their defaults)."""
    from competitors import hessian_libraries

    def columns(X):  # scipy.differentiate evaluates f on (n, ...) arrays
        return np.apply_along_axis(f, 0, X)

    out = {
        "fastgrad h=1e-4": lambda x: fastgrad.hessian(f, x),
        'fastgrad "auto"': lambda x: fastgrad.hessian(f, x, "auto"),
        'fastgrad "auto" order 4': lambda x: fastgrad.hessian(f, x, "auto", order=4),
        'fastgrad "auto" order 6': lambda x: fastgrad.hessian(f, x, "auto", order=6),
        'fastgrad "auto" order 8': lambda x: fastgrad.hessian(f, x, "auto", order=8),
        'fastgrad "adaptive"': lambda x: fastgrad.hessian(f, x, "adaptive"),
    }
    out.update(hessian_libraries(f, columns)[0])
    return out


def hessian_table(rng, options, schedule):
    """The Hessian rows: error against the exact Hessian (max |H - H_exact| /
    max |H_exact|, worst over the points), evaluations of f and time of one
    Hessian, n = 10 (Rosenbrock also with bounds: x on a bound, one-sided rows)."""
    rows = []
    for name, (f, _, spread) in FUNCTIONS.items():
        points = [rng.uniform(-spread, spread, N) for _ in range(3 if not options.quick else 1)]
        calls = []

        def counted(x, f=f):
            calls.append(1)
            return f(x)
        fns, tally = hessian_competitors(f), hessian_competitors(counted)
        if name == "Rosenbrock":
            for h in ("auto", "adaptive"):
                for g, out in ((f, fns), (counted, tally)):
                    out[f'fastgrad "{h}", x on a bound'] = (
                        lambda x, h=h, g=g: fastgrad.hessian(g, x, h, bounds=(x, np.inf)))
        errors, counts = {}, {}
        for competitor, fn in fns.items():
            worst = 0.0
            calls.clear()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tally[competitor](points[0])
            counts[competitor] = len(calls)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for x in points:
                    H, exact = np.asarray(fn(x), dtype=float), HESSIANS[name](x)
                    worst = max(worst, float(np.max(np.abs(H - exact)) / np.max(np.abs(exact))))
            errors[competitor] = worst
        x = points[0]
        timing = interleaved({c: (lambda fn=fn: fn(x)) for c, fn in fns.items()}, schedule)
        base = timing.timings["numdifftools.Hessian"].median \
            if "numdifftools.Hessian" in timing.timings else None
        for competitor in fns:
            t = timing.timings[competitor].median if competitor in timing.timings else math.nan
            faster = f"{base / t:.1f}×" if base else "–"
            rows.append([name, competitor, f"{errors[competitor]:.1e}",
                         str(counts[competitor]), fmt_time(t), faster])
        print(f"{name} (Hessian): done", file=sys.stderr)
    return table(["f (n = 10)", "Hessian by", "max rel. error", "evaluations",
                  "time / Hessian", "vs numdifftools"], rows, ["l", "l", "r", "r", "r", "r"])


def competitors(f):
    """name -> (one gradient at x), for f a numpy function of a 1-D array."""
    def vectorized(X):
        return np.array([f(row) for row in X])

    out = {
        "fastgrad h=1e-5": lambda x: fastgrad.gradient(f, x),
        'fastgrad "auto"': lambda x: fastgrad.gradient(f, x, "auto"),
        'fastgrad "auto" order 4': lambda x: fastgrad.gradient(f, x, "auto", order=4),
        'fastgrad "auto" order 8': lambda x: fastgrad.gradient(f, x, "auto", order=8),
        'fastgrad "auto" order 8, vectorized':
            lambda x: fastgrad.gradient(vectorized, x, "auto", order=8, vectorized=True),
        'fastgrad "auto" complex': lambda x: fastgrad.gradient(f, x, "auto", method="complex"),
        'fastgrad "auto" complex, vectorized':
            lambda x: fastgrad.gradient(vectorized, x, "auto", method="complex",
                                        vectorized=True),
    }
    try:
        from scipy.optimize import approx_fprime
        from scipy.optimize._numdiff import approx_derivative
        out["scipy approx_fprime"] = lambda x: approx_fprime(x, f)
        out["scipy approx_derivative 3-point"] = lambda x: approx_derivative(f, x, method="3-point")
        out["scipy approx_derivative cs"] = lambda x: approx_derivative(f, x, method="cs")
    except ImportError:
        pass
    try:
        from scipy.differentiate import jacobian

        def columns(X):  # scipy.differentiate evaluates f on (n, ...) arrays
            return np.apply_along_axis(f, 0, X)

        out["scipy.differentiate.jacobian"] = lambda x: jacobian(columns, x).df
    except ImportError:
        pass
    try:
        import numdifftools
        out["numdifftools Gradient"] = lambda x: numdifftools.Gradient(f)(x)
    except ImportError:
        pass
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args(argv)
    rng = np.random.default_rng(20261202)
    schedule = (Schedule(min_repeats=3, max_repeats=3, target=0.002, cell_seconds=0.0)
                if options.quick else
                Schedule(min_repeats=5, max_repeats=9, target=0.02, cell_seconds=2.0))
    rows = []
    for name, (f, grad, spread) in FUNCTIONS.items():
        points = [rng.uniform(-spread, spread, N) for _ in range(3 if not options.quick else 1)]
        fns = competitors(f)
        errors = {}
        for competitor, fn in fns.items():
            worst = 0.0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for x in points:
                    g, exact = np.asarray(fn(x), dtype=float).ravel(), grad(x)
                    worst = max(worst, float(np.max(np.abs(g - exact)) / np.max(np.abs(exact))))
            errors[competitor] = worst
        x = points[0]
        timing = interleaved({c: (lambda fn=fn: fn(x)) for c, fn in fns.items()}, schedule)
        base = timing.timings["numdifftools Gradient"].median \
            if "numdifftools Gradient" in timing.timings else None
        for competitor in fns:
            t = timing.timings[competitor].median if competitor in timing.timings else math.nan
            faster = f"{base / t:.0f}×" if base else "–"
            rows.append([name, competitor, f"{errors[competitor]:.1e}", fmt_time(t), faster])
        print(f"{name}: done", file=sys.stderr)
    print(table(["f (n = 10)", "competitor", "max rel. error", "time / gradient",
                 "vs numdifftools"], rows, ["l", "l", "r", "r", "r"]))
    print()
    print(hessian_table(rng, options, schedule))


if __name__ == "__main__":
    main()
