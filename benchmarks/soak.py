"""Leak soak: many calls per tier, watching the memory they leave behind.

    python benchmarks/soak.py                   # 10**6 calls per tier (minutes)
    python benchmarks/soak.py --calls 20000     # what tests/test_soak.py runs
    python benchmarks/soak.py --json            # one JSON object per tier

Each tier (the Python tier, unpack, vectorized, a compiled objective, a C
callback, a ctypes callback of Python code, gradient_batch on threads,
descents, error paths) is warmed up, then called `calls` times (the slow
gradient_batch-on-threads tiers a share of that: SLOW).  Measured,
with no debug build of Python needed (no sys.gettotalrefcount):

* RSS (resident set size, /proc/self/statm) after the warm-up and at the end,
  and the bytes per call between them;
* the memory tracemalloc sees -- every Python allocation, numpy's array data,
  and the core's PyMem_Raw* buffers -- measured over a share of the calls with
  tracing on (it slows every allocation down): bytes per call;
* objects the garbage collector tracks (len(gc.get_objects())), before and
  after.

A leak of one small object per call shows as >= 16 bytes per call in the
traced memory; noise (free lists, caches) is a few kB in all.  --check exits 1
if a tier's traced growth exceeds --traced-limit bytes in all, its RSS growth
--rss-limit bytes, or its tracked objects grow by more than 100.
"""
import argparse
import ctypes
import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings

import numpy as np

import fastgrad
from fastgrad.objectives import Rosenbrock, Sphere

C_SOURCE = r"""
double sphere(int n, double *x, void *user_data) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}
"""
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss():
    """Resident set size in bytes (Linux: /proc/self/statm; elsewhere the peak)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * PAGE
    except OSError:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def c_callback(directory):
    """sphere() compiled from C as a scipy.LowLevelCallable, or None (no compiler)."""
    from scipy import LowLevelCallable
    source = os.path.join(directory, "soak.c")
    library = os.path.join(directory, "soak.so")
    with open(source, "w") as out:
        out.write(C_SOURCE)
    compiler = os.environ.get("CC", "cc")
    try:
        subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", library, source],
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    lib = ctypes.CDLL(library)
    lib.sphere.restype = ctypes.c_double
    lib.sphere.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_double), ctypes.c_void_p]
    return LowLevelCallable(lib.sphere)


SIGNATURE = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int, ctypes.POINTER(ctypes.c_double),
                             ctypes.c_void_p)


@SIGNATURE
def python_sphere(n, x, data):
    return x[0] * x[0] + x[1] * x[1]


@SIGNATURE
def python_raises(n, x, data):
    raise ZeroDivisionError("soak")


def quiet(call):
    """call, with the one error it is meant to raise swallowed."""
    def run():
        try:
            call()
        except (ValueError, TypeError, ZeroDivisionError):
            pass
    return run


def raising_f(x):
    raise ZeroDivisionError("soak")


KEPT = [None]


def keeps(x):
    """An f that keeps the array it gets (the core then hands out a fresh one)."""
    KEPT[0] = x
    return x[0] * x[0]


#: Tiers that get this share of --calls: a gradient_batch on threads costs
#: 0.1-1.5 ms a call (thread start-up and hand-over, on a loaded machine more).
SLOW = {"batch, 2 threads": 0.05, "batch, C callback, 2 threads": 0.05,
        "python, full_output": 0.2}


def tiers(directory):
    """{name: a function making one call}, every tier and error path."""
    from scipy import LowLevelCallable
    x = np.array([1.0, -0.5])
    X = np.array([[1.0, -0.5], [0.25, 2.0], [3.0, 1.0], [-1.0, 0.5]])
    sphere = Sphere()
    table = {
        "python": lambda: fastgrad.gradient(lambda p: p[0] * p[0] + p[1] * p[1], x),
        "python unpack": lambda: fastgrad.gradient(lambda a, b: a * a + b * b, x, unpack=True),
        "python, f writes to x": lambda: fastgrad.gradient(
            lambda p: p.fill(0.0) or 1.0, x),
        "python, f keeps x": lambda: fastgrad.gradient(keeps, x),
        "python, full_output": lambda: fastgrad.gradient(lambda p: p.sum(), x,
                                                         full_output=True),
        "vectorized": lambda: fastgrad.gradient(lambda P: (P * P).sum(axis=1), x,
                                                vectorized=True),
        "compiled": lambda: fastgrad.gradient(sphere, x),
        "compiled h=auto": lambda: fastgrad.gradient(sphere, x, h="auto"),
        "ctypes callback": lambda: fastgrad.gradient(LowLevelCallable(python_sphere), x),
        "batch, 2 threads": lambda: fastgrad.gradient_batch(sphere, X, num_threads=2),
        "batch, python f": lambda: fastgrad.gradient_batch(lambda p: p[0] * p[1], X),
        "descent, compiled": lambda: fastgrad.gradient_descent(Rosenbrock(), x, 1e-3,
                                                               max_iter=5, record=True),
        "descent, python f": lambda: fastgrad.gradient_descent(
            lambda a, b: a * a + b * b, x, 0.1, max_iter=5, unpack=True, optimizer="adam"),
        "descent step": lambda: fastgrad.gradient_descent_step(sphere, x),
        "error: x not finite": quiet(lambda: fastgrad.gradient(sphere, [1.0, math.nan])),
        "error: bad h": quiet(lambda: fastgrad.gradient(sphere, x, h=[1e-5])),
        "error: f raises": quiet(lambda: fastgrad.gradient(raising_f, x)),
        "error: f returns text": quiet(lambda: fastgrad.gradient(lambda p: "1", x)),
        "error: ctypes callback raises": quiet(
            lambda: fastgrad.gradient(LowLevelCallable(python_raises), x)),
        "error: batch f raises": quiet(lambda: fastgrad.gradient_batch(raising_f, X)),
    }
    callback = c_callback(directory)
    if callback is not None:
        table["C callback"] = lambda: fastgrad.gradient(callback, x)
        table["batch, C callback, 2 threads"] = lambda: fastgrad.gradient_batch(
            callback, X, num_threads=2)
    return table


def soak(call, calls, traced_share):
    """The measures of one tier: `calls` calls after a warm-up."""
    warm = max(100, calls // 100)
    for _ in range(warm):
        call()
    gc.collect()
    objects0, rss0, started = len(gc.get_objects()), rss(), time.perf_counter()
    untraced = calls - int(calls * traced_share)
    for _ in range(untraced):
        call()
    traced = calls - untraced
    tracemalloc.start()
    for _ in range(warm):  # tracemalloc's own tables settle first
        call()
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(traced):
        call()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    seconds = time.perf_counter() - started
    gc.collect()
    rss1, objects1 = rss(), len(gc.get_objects())
    return {"calls": calls, "seconds": round(seconds, 2),
            "rss_start": rss0, "rss_growth": rss1 - rss0,
            "rss_per_call": (rss1 - rss0) / max(1, untraced),
            "traced_calls": traced, "traced_growth": after - before,
            "traced_per_call": (after - before) / max(1, traced),
            "objects_growth": objects1 - objects0}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10**6, help="calls per tier")
    parser.add_argument("--traced-share", type=float, default=0.2,
                        help="share of the calls made with tracemalloc on")
    parser.add_argument("--only", default=None, help="tiers whose name contains this")
    parser.add_argument("--json", action="store_true", help="one JSON object per tier")
    parser.add_argument("--check", action="store_true", help="exit 1 on growth over the limits")
    parser.add_argument("--traced-limit", type=int, default=16 * 1024)
    parser.add_argument("--rss-limit", type=int, default=32 * 2**20)
    options = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    failed = []
    with tempfile.TemporaryDirectory() as directory:
        table = tiers(directory)
        for name, call in table.items():
            if options.only and options.only not in name:
                continue
            calls = max(1000, int(options.calls * SLOW.get(name, 1.0)))
            result = soak(call, calls, options.traced_share)
            result["tier"] = name
            if options.json:
                print(json.dumps(result), flush=True)
            else:
                print(f"{name:32s} {result['calls']:>8d} calls {result['seconds']:7.1f} s  "
                      f"RSS {result['rss_start'] / 2**20:6.1f} MB "
                      f"{result['rss_growth'] / 2**10:+8.0f} kB "
                      f"({result['rss_per_call']:+.3f} B/call)  traced "
                      f"{result['traced_growth']:+7d} B ({result['traced_per_call']:+.4f} "
                      f"B/call)  gc objects {result['objects_growth']:+d}", flush=True)
            if (result["traced_growth"] > options.traced_limit
                    or result["rss_growth"] > options.rss_limit
                    or result["objects_growth"] > 100):
                failed.append(name)
    if options.check and failed:
        print(f"growth over the limits: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
