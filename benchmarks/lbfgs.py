"""L-BFGS against scipy's L-BFGS-B: evaluations and time to convergence, side by side.

Rosenbrock at n = 2 and 10, from the classic start (-1.2, 1, -1.2, 1, ...) and
from scipy's tutorial start (1.3, 0.7, 0.8, 1.9, 1.2, repeated), on a compiled
objective (``fastgrad.objectives.Rosenbrock``; scipy calls the same object as a
Python callable) and on the pure-Python loop of workloads.rosenbrock_py.

Both use forward differences with steps sqrt(eps) max(1, |x_i|) (fastgrad's
``method="forward", h="auto"``; scipy's default ``jac=None``, "2-point") and
scipy's stopping rule: the relative change of f <= 2.2e-9 (scipy's
``ftol = factr * eps``), or the gradient small (scipy: max |g_i| <= 1e-5;
fastgrad: |g| <= 1e-5).  fastgrad's ``learning_rate=0.1``: the first trial
step has length 0.1 (scipy's has length 1).  scipy's nfev counts every
evaluation of f, its finite differences included, as fastgrad's does.

Times are medians of interleaved repeats (fastgrad._timing.interleaved); the
ratio is scipy's time over fastgrad's, repeat by repeat.  scipy's L-BFGS-B calls
BLAS for its small matrices: with several OpenBLAS threads on a busy machine
each call can wait milliseconds for threads, so scipy runs with BLAS limited to
one thread (threadpoolctl; without it, as it is, and the row says so).
"""
import contextlib

import numpy as np

import fastgrad
from fastgrad._timing import Schedule, fmt_ratio, fmt_time, interleaved, speedups, table

from benchmarks import workloads

FTOL = 2.2e-9  # scipy's L-BFGS-B: factr 1e7 times machine epsilon
TOL = 1e-5     # scipy's L-BFGS-B: gtol
SCIPY_START = (1.3, 0.7, 0.8, 1.9, 1.2)

STARTS = {
    "(-1.2, 1), n = 2": lambda: workloads.rosenbrock_start(2),
    "(-1.2, 1, ...), n = 10": lambda: workloads.rosenbrock_start(10),
    "scipy's (1.3, 0.7, ...), n = 10": lambda: np.array(SCIPY_START * 2),
}


def objectives():
    from fastgrad.objectives import Rosenbrock
    return {"compiled": Rosenbrock(), "pure Python": workloads.rosenbrock_py}


def fastgrad_run(f, x0):
    return fastgrad.gradient_descent(f, x0, 0.1, optimizer="lbfgs", method="forward", h="auto",
                                     tol=TOL, ftol=FTOL, max_iter=15000)


def scipy_run(f, x0):
    from scipy.optimize import minimize
    with blas_threads():
        return minimize(f, x0, method="L-BFGS-B")


def blas_threads():
    """One BLAS thread for scipy's run, if threadpoolctl is installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def blas_limited():
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return False
    return True


def row(schedule, objective, f, start, x0):
    fns = {"fastgrad L-BFGS": lambda: fastgrad_run(f, x0),
           "scipy L-BFGS-B": lambda: scipy_run(f, x0)}
    timed = interleaved(fns, schedule)
    ours, theirs = timed.first_results["fastgrad L-BFGS"], timed.first_results["scipy L-BFGS-B"]
    return {
        "objective": objective, "start": start, "n": len(x0),
        "fastgrad": {"nit": ours.nit, "nfev": ours.nfev, "fun": float(ours.fun),
                     "converged": bool(ours.converged), "message": ours.message,
                     "median_s": timed.timings["fastgrad L-BFGS"].median},
        "scipy": {"nit": int(theirs.nit), "nfev": int(theirs.nfev), "fun": float(theirs.fun),
                  "converged": bool(theirs.success), "message": str(theirs.message),
                  "median_s": timed.timings["scipy L-BFGS-B"].median},
        "scipy_blas_threads_limited": blas_limited(),
        "evaluations_ratio": ours.nfev / theirs.nfev,
        "time_ratio": speedups(timed.timings, "scipy L-BFGS-B")["fastgrad L-BFGS"],
    }


def measure(quick):
    """Every row (needs scipy; the caller reports its absence)."""
    import scipy.optimize  # noqa: F401  (ImportError: the caller skips the table)
    schedule = Schedule(min_repeats=5, max_repeats=5 if quick else 11,
                        target=0.0 if quick else 0.02, cell_seconds=0.0, budget=60.0)
    starts = list(STARTS.items())[:1] if quick else STARTS.items()
    return [row(schedule, objective, f, start, make())
            for objective, f in objectives().items() for start, make in starts]


def markdown(rows):
    return table(
        ["f", "start", "fastgrad nit / nfev / f", "scipy nit / nfev / f",
         "evaluations fastgrad / scipy", "fastgrad time", "scipy time", "scipy / fastgrad time"],
        [[r["objective"] + ("" if r["scipy_blas_threads_limited"] else " (scipy: BLAS threads "
                                                                        "not limited)"),
          r["start"],
          f"{r['fastgrad']['nit']} / {r['fastgrad']['nfev']} / {r['fastgrad']['fun']:.2g}",
          f"{r['scipy']['nit']} / {r['scipy']['nfev']} / {r['scipy']['fun']:.2g}",
          f"{r['evaluations_ratio']:.2f}",
          fmt_time(r["fastgrad"]["median_s"]), fmt_time(r["scipy"]["median_s"]),
          f"**{fmt_ratio(r['time_ratio'])}**"]
         for r in rows], "llllrrrr")


if __name__ == "__main__":
    print(markdown(measure(quick=False)))
