"""``python -m fastgrad``: the textbook examples, two descents, and fast vs reference timings.

Everything runs on built-in defaults; ``--quick`` shortens the timing section,
which uses the harness and table layout of benchmarks/ (``fastgrad._timing``).
``python -m fastgrad demo --out DIR`` writes the demo pictures (needs matplotlib).
"""
import argparse
import functools
import sys
import textwrap
import time

import numpy as np

import fastgrad
from fastgrad import objectives, reference
from fastgrad._timing import Schedule, fmt_ratio, fmt_time, interleaved, speedups, table


# -- the examples -------------------------------------------------------------

def sphere(x, y):
    """x**2 + y**2: gradient (2x, 2y), minimum 0 at (0, 0)."""
    return x**2 + y**2


def cubic(x, y):
    """x**2*y + 3*x*y**3: gradient (2xy + 3y**3, x**2 + 9xy**2)."""
    return x**2 * y + 3 * x * y**3


def cubic_gradient(x, y):
    return np.array([2 * x * y + 3 * y**3, x**2 + 9 * x * y**2])


def rosen2(x, y):
    """2-D Rosenbrock: minimum 0 at (1, 1), at the end of a long curved valley."""
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def rosen(x):
    """n-D Rosenbrock in pure Python: indexes x element by element."""
    return sum(100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
               for i in range(len(x) - 1))


def rosen_unpacked(*x):
    """rosen taking the coordinates as floats (unpack=True)."""
    return rosen(x)


def rosen_rows(X):
    """n-D Rosenbrock in numpy, of every row of X at once (vectorized=True)."""
    X = np.asarray(X)
    return (100.0 * (X[:, 1:] - X[:, :-1] ** 2) ** 2 + (1.0 - X[:, :-1]) ** 2).sum(axis=1)


def show_gradients():
    print("Gradients (central differences, h=1e-5)")
    g = fastgrad.gradient(lambda x, y: x**2 + y**2, [1, -1], unpack=True)
    print(f"  x**2 + y**2        at (1, -1):     {g}  analytic {np.array([2.0, -2.0])}")
    point = (1.5, -0.5)
    g = fastgrad.gradient(cubic, point, unpack=True)
    print(f"  x**2*y + 3*x*y**3  at {point}: {g}  analytic {cubic_gradient(*point)}")
    print()


def show_descent(title, f, x0, **options):
    fast = fastgrad.gradient_descent(f, x0, unpack=True, **options)
    slow = reference.gradient_descent(f, x0, unpack=True, **options)
    fields = ("fun", "nit", "nfev", "converged", "message")
    same = (fast.x.tolist(), fast.grad.tolist()) == (slow.x, slow.grad) and \
        all(getattr(fast, name) == getattr(slow, name) for name in fields)
    settings = ", ".join(f"{k}={v}" for k, v in options.items())
    print(f"gradient_descent: {title} from {tuple(x0)} ({settings or 'defaults'})")
    print(f"  x         = {fast.x}")
    print(f"  fun       = {fast.fun:.6g}")
    print(f"  nit, nfev = {fast.nit}, {fast.nfev}")
    print(f"  converged = {fast.converged}")
    print(f"  message   = {fast.message}")
    print(f"  bit-identical to fastgrad.reference: {'yes' if same else 'NO'}")
    print()


# -- the timings --------------------------------------------------------------

# Each call repeated to last `target` seconds; the two implementations interleaved.
QUICK = Schedule(min_repeats=5, max_repeats=5, target=0.005)
FULL = Schedule(min_repeats=9, max_repeats=9, target=0.05)


X100 = [0.5 + 0.01 * i for i in range(100)]


def benchmarks():
    """(label, fastgrad call, reference call): the same call, no arguments, in each;
    every kind of f in the form fastgrad runs fastest."""
    x2 = [1.0, -1.0]
    cases = [
        ("gradient, f(x, y) unpack=True, n=2",
         lambda m: functools.partial(m.gradient, sphere, x2, unpack=True)),
        ("gradient, pure-Python rosen(*x) unpack=True, n=100",
         lambda m: functools.partial(m.gradient, rosen_unpacked, X100, unpack=True)),
        ("gradient, numpy rosen(X) vectorized=True, n=100",
         lambda m: functools.partial(m.gradient, rosen_rows, X100, vectorized=True)),
        ("gradient, objectives.Rosenbrock(), n=100",
         lambda m: functools.partial(m.gradient, objectives.Rosenbrock(), X100)),
        ("gradient_descent, 2-D Rosenbrock, 2000 its",
         lambda m: functools.partial(m.gradient_descent, rosen2, [-1.2, 1.0], 1e-3,
                                     max_iter=2000, unpack=True)),
    ]
    return [(label, make(fastgrad), make(reference)) for label, make in cases]


def pitfall():
    """The pure-Python rosen called as rosen(x), indexing the array fastgrad hands it."""
    return (functools.partial(fastgrad.gradient, rosen, X100),
            functools.partial(reference.gradient, rosen, X100))


def _compare(fast_call, slow_call, schedule):
    """(fastgrad median, reference median, speed-up), formatted."""
    timings = interleaved({"fastgrad": fast_call, "reference": slow_call}, schedule).timings
    return (fmt_time(timings["fastgrad"].median), fmt_time(timings["reference"].median),
            fmt_ratio(speedups(timings, "reference")["fastgrad"]))


def show_timings(schedule):
    print(f"Timing: fastgrad vs fastgrad.reference "
          f"(median per call of {schedule.min_repeats} interleaved repeats)")
    print("  Each kind of f in its fast form: pure Python with unpack=True (f gets floats),\n"
          "  numpy with vectorized=True (every stencil point in one call), a compiled objective\n"
          "  (the loops in C; the reference calls the same objective from Python).")
    rows = [[label, *_compare(fast_call, slow_call, schedule)]
            for label, fast_call, slow_call in benchmarks()]
    print(textwrap.indent(table(["case", "fastgrad", "reference", "speed-up"], rows, "lrrr"),
                          "  "))
    print("  speed-up: reference time / fastgrad time, repeat by repeat, median.")
    fast, slow, ratio = _compare(*pitfall(), schedule)
    print(f"  Pitfall: the same rosen as rosen(x), n=100: fastgrad {fast}, reference {slow} "
          f"({ratio}).\n"
          "  It indexes fastgrad's float64 array: each x[i] is a numpy scalar, slow in pure "
          "Python. Use unpack=True.")
    print()


def openmp_line():
    """'OpenMP: yes, 2 threads' or 'OpenMP: no': how gradient_batch can run here."""
    config = fastgrad.show_config(mode="dicts")
    openmp, threads = config["openmp"], config["max_threads"]
    if not openmp:
        return "OpenMP: no"
    return f"OpenMP: yes, {threads} thread{'s' if threads != 1 else ''}"


def demo(prog, out):
    """Write the demo pictures into out; a one-line error and status 1 if that fails."""
    from fastgrad._demo import write_demo
    try:
        written = write_demo(out)
    except OSError as error:  # out is a file, not writable, ...
        problem = f"cannot write to --out {out!r}: {error.strerror or error}"
    except ImportError as error:  # no matplotlib: the message names the extra
        problem = str(error)
    else:
        for path in written:
            print(f"wrote {path}")
        return 0
    print(f"{prog} demo: error: {problem}", file=sys.stderr)
    return 1


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m fastgrad",
        description="fastgrad's textbook examples, two gradient descents, and a "
                    "timing of fastgrad against its pure-Python reference; or, with "
                    "'demo', pictures of descent paths, loss curves and a gradient field.")
    parser.add_argument("command", nargs="?", choices=("run", "demo"), default="run",
                        help="run (default): the main job; demo: write the pictures")
    parser.add_argument("--quick", action="store_true",
                        help="run: a shorter timing section (fewer, shorter repeats)")
    parser.add_argument("--out", help="demo: the directory for the PNG files, created if "
                                      "missing (default: fastgrad-demo)")
    options = parser.parse_args(argv)

    if options.command == "demo":
        if options.quick:
            parser.error("--quick applies to 'run' only")
        return demo(parser.prog, "fastgrad-demo" if options.out is None else options.out)
    if options.out is not None:
        parser.error("--out applies to 'demo' only")

    start = time.perf_counter()
    print(f"fastgrad {fastgrad.__version__} ({openmp_line()})\n")
    show_gradients()
    show_descent("x**2 + y**2", sphere, [1.0, -1.0])
    show_descent("2-D Rosenbrock", rosen2, [-1.2, 1.0], learning_rate=1e-3, max_iter=50000)
    show_timings(QUICK if options.quick else FULL)
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
