"""The compiled tier's checkpoints, each measured side by side in one run.

* one gradient of Rosenbrock at n = 1000: fastgrad.objectives.Rosenbrock against
  fastgrad.reference on the pure-Python Rosenbrock, and against a hand-written
  numba @njit central-difference loop;
* gradient_batch at 10^4 points, n = 10: 2 threads against 1;
* 10^4 descent steps on 2-D Rosenbrock: the compiled tier against the reference
  (on the pure-Python Rosenbrock, and on the same compiled objective called as a
  Python callable).

Each is a ratio from interleaved repeats (fastgrad._timing.interleaved).
"""
import fastgrad
import fastgrad.reference as reference
import numpy as np
from fastgrad.objectives import Rosenbrock

from fastgrad._timing import Schedule, fmt_ratio, fmt_time, interleaved, speedups, table

from benchmarks import competitors, workloads


def _ratio(timings, slow, fast):
    return speedups(timings, slow).get(fast)


def _row(label, timings, pairs):
    medians = {name: t.median for name, t in timings.items()}
    return {"aim": label, "median_s": medians,
            "ratios": {f"{slow} / {fast}": _ratio(timings, slow, fast) for slow, fast in pairs}}


def gradient_1000(schedule, n):
    x = workloads.rosenbrock_start(n)
    fns = {
        "fastgrad compiled": lambda: fastgrad.gradient(Rosenbrock(), x),
        "reference, pure-Python f": lambda: reference.gradient(workloads.rosenbrock_py, x.tolist()),
    }
    pairs = [("reference, pure-Python f", "fastgrad compiled")]
    try:
        numba_loop = competitors.numba_central(workloads.rosenbrock_py)
        fns["numba loop"] = lambda: numba_loop(x, competitors.H, ())
        pairs.append(("numba loop", "fastgrad compiled"))
    except ImportError:
        pass
    timed = interleaved(fns, schedule)
    return _row(f"one Rosenbrock gradient, n = {n}", timed.timings, pairs)


def batch_threads(schedule, m, n):
    X = np.random.default_rng(0).normal(size=(m, n))
    fns = {f"{t} thread{'s' if t > 1 else ''}":
           (lambda t=t: fastgrad.gradient_batch(Rosenbrock(), X, num_threads=t)) for t in (1, 2)}
    timed = interleaved(fns, schedule)
    return _row(f"gradient_batch, {m} points, n = {n}, compiled Rosenbrock", timed.timings,
                [("1 thread", "2 threads")])


def long_descent(schedule, steps):
    def rosen2(x, y):
        return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2

    run = dict(learning_rate=1e-3, max_iter=steps, tol=0.0)
    fns = {
        "fastgrad compiled": lambda: fastgrad.gradient_descent(Rosenbrock(), [-1.2, 1.0], **run),
        "reference, pure-Python f": lambda: reference.gradient_descent(
            rosen2, [-1.2, 1.0], unpack=True, **run),
        "reference, compiled f": lambda: reference.gradient_descent(Rosenbrock(), [-1.2, 1.0], **run),
    }
    timed = interleaved(fns, schedule)
    return _row(f"{steps} descent steps, 2-D Rosenbrock", timed.timings,
                [("reference, pure-Python f", "fastgrad compiled"),
                 ("reference, compiled f", "fastgrad compiled")])


def measure_aims(quick):
    schedule = Schedule(min_repeats=5, max_repeats=9 if not quick else 5,
                        target=0.0 if quick else 0.02, cell_seconds=0.0, budget=60.0)
    if quick:
        return [gradient_1000(schedule, 100), batch_threads(schedule, 1000, 10),
                long_descent(schedule, 1000)]
    return [gradient_1000(schedule, 1000), batch_threads(schedule, 10**4, 10),
            long_descent(schedule, 10**4)]


def markdown(rows):
    return table(["checkpoint", "medians", "ratios"], [
        [row["aim"],
         "; ".join(f"{name} {fmt_time(t)}" for name, t in row["median_s"].items()),
         "; ".join(f"{pair}: **{fmt_ratio(value)}**" for pair, value in row["ratios"].items()
                   if value is not None)]
        for row in rows], "lll")
