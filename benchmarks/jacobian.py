"""One Jacobian, side by side: fastgrad.jacobian per tier against scipy's approx_derivative.

    python benchmarks/jacobian.py            # about a minute
    python benchmarks/jacobian.py --quick    # a few seconds

f is Rosenbrock's residual vector, r(x) = (10 (x[i+1] - x[i]^2), 1 - x[i])
for i < n - 1 (m = 2 (n - 1) outputs), in the three forms fastgrad takes:

* numpy, one point at a time (fastgrad's Python tier; scipy as it is);
* vectorized, (k, n) -> (k, m) (fastgrad ``vectorized=True``; scipy given the
  same function through ``workers=``, its map hook, so that it too makes one
  call for the whole stencil);
* compiled: a numba ``@cfunc`` with the vector signature in
  ``fastgrad.objectives.CFunction(..., outputs=m)`` (fastgrad's compiled tier,
  without the GIL); scipy gets the same loops as a numba ``@njit`` function,
  the fastest Python callable it can take.

Both take the same steps (h = 1e-5 central, scipy ``3-point`` with
``abs_step=1e-5``; forward: fastgrad ``method="forward"``, scipy ``2-point``),
so both make 2n (central) or n evaluations plus f(x).  The timing is
fastgrad._timing's interleaved harness (the medians of repeats run in turn);
the ratio is scipy's time over fastgrad's.  Nothing is asserted.
"""
import argparse
import sys

import numpy as np

import fastgrad
from fastgrad._timing import Schedule, fmt_time, interleaved, table

H = 1e-5


def residuals(x):
    x = np.asarray(x)
    return np.concatenate([10.0 * (x[1:] - x[:-1] ** 2), 1.0 - x[:-1]])


def residual_rows(X):
    X = np.asarray(X)
    return np.concatenate([10.0 * (X[:, 1:] - X[:, :-1] ** 2), 1.0 - X[:, :-1]], axis=1)


def compiled_forms():
    """(CFunction factory m -> objective, njit function), or None without numba."""
    try:
        import numba
        from scipy import LowLevelCallable
    except ImportError:
        return None
    from fastgrad.objectives import CFunction
    signature = numba.types.void(numba.types.intc, numba.types.CPointer(numba.types.float64),
                                 numba.types.intc, numba.types.CPointer(numba.types.float64),
                                 numba.types.voidptr)

    @numba.cfunc(signature)
    def in_c(n, x, m, out, user_data):
        for i in range(n - 1):
            out[i] = 10.0 * (x[i + 1] - x[i] * x[i])
            out[n - 1 + i] = 1.0 - x[i]

    @numba.njit
    def jitted(x):
        n = x.shape[0]
        out = np.empty(2 * (n - 1))
        for i in range(n - 1):
            out[i] = 10.0 * (x[i + 1] - x[i] * x[i])
            out[n - 1 + i] = 1.0 - x[i]
        return out

    callback = LowLevelCallable(in_c.ctypes)
    return (lambda m: CFunction(callback, outputs=m)), jitted


def cells(n, compiled):
    """(tier, method) -> {"fastgrad": fn, "scipy": fn} for one n."""
    from scipy.optimize._numdiff import approx_derivative
    x = np.where(np.arange(n) % 2 == 0, -1.2, 1.0)
    m = 2 * (n - 1)

    def rows_map(_f, points):  # scipy's map hook: the whole stencil in one call
        return list(residual_rows(np.array(list(points))))

    out = {}
    for method, scheme in (("central", "3-point"), ("forward", "2-point")):
        out["numpy", method] = {
            "fastgrad": lambda method=method: fastgrad.jacobian(residuals, x, H, method=method),
            "scipy": lambda scheme=scheme: approx_derivative(residuals, x, method=scheme,
                                                             abs_step=H)}
        out["vectorized", method] = {
            "fastgrad": lambda method=method: fastgrad.jacobian(residual_rows, x, H,
                                                                method=method, vectorized=True),
            "scipy": lambda scheme=scheme: approx_derivative(residuals, x, method=scheme,
                                                             abs_step=H, workers=rows_map)}
        if compiled is not None:
            objective, jitted = compiled[0](m), compiled[1]
            out["compiled", method] = {
                "fastgrad": lambda method=method, objective=objective:
                    fastgrad.jacobian(objective, x, H, method=method),
                "scipy": lambda scheme=scheme: approx_derivative(jitted, x, method=scheme,
                                                                 abs_step=H)}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args(argv)
    sizes = (2, 100) if options.quick else (2, 10, 100, 1000)
    schedule = (Schedule(min_repeats=3, max_repeats=3, target=0.002, cell_seconds=0.0)
                if options.quick else
                Schedule(min_repeats=5, max_repeats=15, target=0.01, cell_seconds=1.5))
    compiled = compiled_forms()
    rows = []
    for n in sizes:
        for (tier, method), fns in cells(n, compiled).items():
            J, J_scipy = fns["fastgrad"](), fns["scipy"]()
            differ = float(np.max(np.abs(J - np.reshape(J_scipy, J.shape))))
            timing = interleaved(fns, schedule).timings
            ours, theirs = timing["fastgrad"].median, timing["scipy"].median
            rows.append([str(n), str(2 * (n - 1)), tier, method, fmt_time(ours),
                         fmt_time(theirs), f"{theirs / ours:.1f}×", f"{differ:.1e}"])
        print(f"n = {n}: done", file=sys.stderr)
    if compiled is None:
        print("(numba not installed: no compiled tier)", file=sys.stderr)
    print(table(["n", "m", "tier", "method", "fastgrad.jacobian", "scipy approx_derivative",
                 "scipy / fastgrad", "max |ΔJ|"], rows,
                ["r", "r", "l", "l", "r", "r", "r", "r"]))


if __name__ == "__main__":
    main()
