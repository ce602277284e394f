"""The compiled tier's checkpoints, each measured side by side in one run.

* one gradient of Rosenbrock at n = 1000: fastgrad.objectives.Rosenbrock against
  fastgrad.reference on the pure-Python Rosenbrock, and against a hand-written
  numba @njit central-difference loop;
* gradient_batch at 10^4 points, n = 10: 2 threads against 1;
* 10^4 descent steps on 2-D Rosenbrock: the compiled tier against the reference
  (on the pure-Python Rosenbrock, and on the same compiled objective called as a
  Python callable);
* the fixed cost of one call at n = 2 and 10: on the compiled Rosenbrock, the
  public fastgrad.gradient() and a prepared fastgrad.Gradient against the
  numba loop; on the Python tier (Rosenbrock in f(x, y, ...) style,
  unpack=True), both against a bare loop of f's 2n calls on prebuilt points;
* the Hessian of Rosenbrock at n = 20: fastgrad.hessian on the compiled,
  Python and vectorized tiers against numdifftools.Hessian and
  scipy.differentiate.hessian (their defaults), with each one's accuracy
  against scipy.optimize.rosen_hess (max |H - H_exact| / max |H_exact|).

* the vectorized tier (Rosenbrock, n = 2 ... 10^4; least squares, a matrix
  product, n = 2 ... 1000): fastgrad.gradient(f, x, vectorized=True) against one
  call of f on the whole stencil built beforehand (while it is at most 32 MiB),
  against f alone on prebuilt blocks of the sizes fastgrad hands it, and against
  the Python tier (the same function one point at a time); BLAS on one thread
  (threadpoolctl, if installed) for all of them.

Each is a ratio from interleaved repeats (fastgrad._timing.interleaved).
"""
import fastgrad
import fastgrad.reference as reference
import numpy as np
from fastgrad._contract import vectorized_rows_per_call
from fastgrad.objectives import Rosenbrock

from fastgrad._timing import Schedule, fmt_ratio, fmt_time, interleaved, speedups, table

from benchmarks import competitors, lbfgs, workloads


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


def per_call(schedule, n):
    """The fixed cost of a call: public gradient() and prepared G(x) against the
    limits of their tier (the numba loop; a bare loop of f's calls)."""
    x, f = workloads.rosenbrock_start(n), Rosenbrock()
    G = fastgrad.Gradient(f)

    def rosen_unpacked(*x):
        return workloads.rosenbrock_py(x)
    G_py = fastgrad.Gradient(rosen_unpacked, unpack=True)
    points = [tuple(p.tolist()) for p in competitors._stencil_points(x)]
    fns = {
        "public, compiled": lambda: fastgrad.gradient(f, x),
        "prepared, compiled": lambda: G(x),
        "public, Python tier": lambda: fastgrad.gradient(rosen_unpacked, x, unpack=True),
        "prepared, Python tier": lambda: G_py(x),
        "bare loop of f's calls": lambda: competitors._call_each_unpacked(rosen_unpacked,
                                                                          points),
    }
    pairs = [("public, Python tier", "bare loop of f's calls"),
             ("prepared, Python tier", "bare loop of f's calls")]
    try:
        numba_loop = competitors.numba_central(workloads.rosenbrock_py)
        fns["numba loop"] = lambda: numba_loop(x, competitors.H, ())
        pairs[:0] = [("public, compiled", "numba loop"), ("prepared, compiled", "numba loop")]
    except ImportError:
        pass
    timed = interleaved(fns, schedule)
    return _row(f"per-call cost, Rosenbrock, n = {n}", timed.timings, pairs)


def hessian_20(schedule, n=20):
    from scipy.optimize import rosen, rosen_hess
    x = workloads.rosenbrock_start(n)
    prepared = fastgrad.Hessian(Rosenbrock())
    fns = {
        "fastgrad compiled": lambda: fastgrad.hessian(Rosenbrock(), x),
        "fastgrad compiled, prepared": lambda: prepared(x),
        "fastgrad compiled, order 4, auto":
            lambda: fastgrad.hessian(Rosenbrock(), x, "auto", order=4),
        "fastgrad Python tier (scipy rosen)": lambda: fastgrad.hessian(rosen, x),
        "fastgrad vectorized": lambda: fastgrad.hessian(workloads.rosenbrock_rows, x,
                                                        vectorized=True),
    }
    libraries, _ = competitors.hessian_libraries(rosen, rosen)
    fns.update({name: (lambda h=h: h(x)) for name, h in libraries.items()})
    timed = interleaved(fns, schedule, set(libraries))
    exact = rosen_hess(x)
    errors = {name: float(np.abs(np.asarray(H) - exact).max() / np.abs(exact).max())
              for name, H in timed.first_results.items()}
    pairs = [(peer, fast) for peer in libraries
             for fast in ("fastgrad compiled", "fastgrad Python tier (scipy rosen)")]
    row = _row(f"Hessian of Rosenbrock, n = {n}", timed.timings, pairs)
    row["error"] = errors
    return row


#: The vectorized tier's workloads: (name, n -> f on rows, n -> f on one point, sizes).
VECTORIZED = (
    ("Rosenbrock", lambda n: workloads.rosenbrock_rows, lambda n: workloads.rosenbrock_np,
     (2, 10, 100, 1000, 10**4)),
    ("least squares, A 128 x n", workloads.lsq_rows_loss, workloads.lsq_loss,
     (2, 10, 100, 1000)),
)
#: The whole stencil goes to f in one call in the comparison while it is at most this big.
ONE_CALL_BYTES = 32 * 2**20


def _in_blocks(f, blocks):
    for block in blocks:
        f(block)


def stencil_rows(x, start, stop):
    """Rows start..stop-1 of x's central stencil in fastgrad's order (x + h e_i, x - h e_i)."""
    k = np.arange(start, stop)
    block = np.tile(x, (stop - start, 1))
    block[k - start, k // 2] += np.where(k % 2 == 0, competitors.H, -competitors.H)
    return block


def vectorized_tier(schedule, name, f_rows, f_point, n):
    """fastgrad's vectorized tier at n against f on the prebuilt stencil and the Python tier."""
    x = workloads.rosenbrock_start(n)
    k, rows = 2 * n, vectorized_rows_per_call(n)
    # f alone on blocks of the sizes fastgrad hands it, built beforehand; where the
    # whole stencil is over ONE_CALL_BYTES, the first block stands for every full one
    # (f's cost does not depend on which points it gets).
    if k * n * 8 <= ONE_CALL_BYTES:
        blocks = [stencil_rows(x, start, min(k, start + rows)) for start in range(0, k, rows)]
    else:
        full = stencil_rows(x, 0, rows)
        blocks = [full] * (k // rows) + ([stencil_rows(x, k - k % rows, k)] if k % rows else [])
    fns = {
        "fastgrad vectorized": lambda: fastgrad.gradient(f_rows, x, competitors.H,
                                                         vectorized=True),
        "f on fastgrad's blocks, prebuilt": lambda: _in_blocks(f_rows, blocks),
        "fastgrad Python tier": lambda: fastgrad.gradient(f_point, x, competitors.H),
    }
    pairs = [("fastgrad vectorized", "f on fastgrad's blocks, prebuilt"),
             ("fastgrad vectorized", "fastgrad Python tier")]
    if k * n * 8 <= ONE_CALL_BYTES:
        stencil = stencil_rows(x, 0, k)
        fns["one call of f, prebuilt stencil"] = lambda: f_rows(stencil)
        pairs.insert(0, ("fastgrad vectorized", "one call of f, prebuilt stencil"))
    timed = interleaved(fns, schedule)
    calls = -(-k // rows)
    shape = "the whole stencil in one call" if calls == 1 else f"{calls} calls of <= {rows} points"
    return _row(f"vectorized tier, {name}, n = {n} ({shape})", timed.timings, pairs)


def vectorized_rows(schedule, quick):
    # BLAS on one thread for every competitor alike (lbfgs.py's reason: OpenBLAS
    # threads on a busy machine make a small matrix product wait milliseconds).
    with lbfgs.blas_threads():
        return [vectorized_tier(schedule, name, f_rows(n), f_point(n), n)
                for name, f_rows, f_point, sizes in VECTORIZED
                for n in (sizes if not quick else (2, 100))]


def measure_aims(quick):
    schedule = Schedule(min_repeats=5, max_repeats=9 if not quick else 5,
                        target=0.0 if quick else 0.02, cell_seconds=0.0, budget=60.0)
    if quick:
        return [per_call(schedule, 2), gradient_1000(schedule, 100),
                batch_threads(schedule, 1000, 10),
                long_descent(schedule, 1000), hessian_20(schedule)] \
            + vectorized_rows(schedule, quick)
    return [per_call(schedule, 2), per_call(schedule, 10), gradient_1000(schedule, 1000),
            batch_threads(schedule, 10**4, 10),
            long_descent(schedule, 10**4), hessian_20(schedule)] + vectorized_rows(schedule, quick)


def markdown(rows):
    return table(["checkpoint", "medians", "ratios"], [
        [row["aim"],
         "; ".join(f"{name} {fmt_time(t)}" + (f" (error {row['error'][name]:.1e})"
                                              if name in row.get("error", {}) else "")
                   for name, t in row["median_s"].items()),
         "; ".join(f"{pair}: **{fmt_ratio(value)}**" for pair, value in row["ratios"].items()
                   if value is not None)]
        for row in rows], "lll")
