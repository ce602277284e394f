"""The compiled descent against a hand-written C descent loop (issue 9, item 3).

Plain gradient descent on 2-D Rosenbrock, central differences with a fixed h,
10^4 updates from (-1.2, 1): the C loop is built here with ``cc -O3
-ffp-contract=off`` (fastgrad's own flags) and takes f as a function pointer,
as a C library's loop would.  It makes the same evaluations in the same order
as fastgrad.gradient_descent (a gradient at every iterate, the last one
included, then f at the last iterate) and the same operations, so its x is
fastgrad's bit for bit (checked).

Rows, timed interleaved (fastgrad._timing.interleaved):

* "C loop": the loop above on the C Rosenbrock (the same arithmetic as
  fastgrad.objectives.Rosenbrock);
* "C loop with fastgrad's checks": the same loop with the tests that
  gradient_descent's stop reasons need at every step, in fastgrad's order: a
  finite gradient (its sum of squares, then each g_i if the sum is not
  finite), the norm (its sqrt) against tol, the rise of the norm (the
  divergence verdict), max_iter, and of the new iterate x - lr g: finite,
  moved (x_new != x), and each coordinate's stencil still usable (the
  realised span (x_i + h) - (x_i - h) nonzero and finite); x and x_new, g and
  the previous g trade places, so that a non-finite gradient can go back to
  the last iterate.  What fastgrad does beyond it per step: the count to its
  next look at the clock (Ctrl-C), the objective's failure flag, the
  evaluation count, and the call of the objective through its class's table;
* "fastgrad, C callback": fastgrad.gradient_descent on that C function
  (a CFunction of the ctypes pointer);
* "fastgrad, Rosenbrock()": on fastgrad.objectives.Rosenbrock.

Run ``python benchmarks/descent_c.py [steps]``; ``--callgrind NAME STEPS``
runs one row once (for ``valgrind --tool=callgrind``: instructions per step are
the difference of two step counts divided by their difference).
"""
import ctypes
import os
import subprocess
import sys
import tempfile

import numpy as np

import fastgrad
from fastgrad.objectives import CFunction, Rosenbrock

from fastgrad._timing import Schedule, fmt_ratio, fmt_time, interleaved, slowdowns

C_SOURCE = r"""
#include <math.h>
#include <string.h>

typedef double (*objective)(int n, double *x, void *data);

/* fastgrad.objectives.Rosenbrock's arithmetic: two interleaved partial sums. */
static double term(const double *x, int i) {
    double a = x[i + 1] - x[i] * x[i], b = 1.0 - x[i];
    return 100.0 * a * a + b * b;
}

double rosenbrock(int n, double *x, void *data) {
    double even = 0.0, odd = 0.0;
    int i;
    for (i = 0; i < n - 2; i += 2) {
        even += term(x, i);
        odd += term(x, i + 1);
    }
    if (n % 2 == 0)
        even += term(x, n - 2);
    return even + odd;
}

/* steps updates x -= lr g, g by central differences (divided by the realised
   span); the gradient at the last iterate too; returns f there. */
double descend(objective f, void *data, int n, double *x, double *g, double lr,
               double h, long steps) {
    long s;
    int i;
    for (s = 0;; s++) {
        for (i = 0; i < n; i++) {
            double xi = x[i], fp, fm;
            x[i] = xi + h;
            fp = f(n, x, data);
            x[i] = xi - h;
            fm = f(n, x, data);
            x[i] = xi;
            g[i] = (fp - fm) / ((xi + h) - (xi - h));
        }
        if (s == steps)
            break;
        for (i = 0; i < n; i++)
            x[i] = x[i] - lr * g[i];
    }
    return f(n, x, data);
}

enum { CONVERGED, MAX_ITER, GRADIENT_NOT_FINITE, STEP_NOT_FINITE = 3, STEP_LOST, STENCIL_LOST,
       START_NOT_FINITE = 10 };

/* descend, with the checks of fastgrad.gradient_descent (the module docstring);
   x_new, g_old: room for the other iterate and gradient.  *reason: why it
   stopped (fastgrad's codes), *rising: the updates in a row after which the
   norm rose (fastgrad's divergence verdict); returns f at the last iterate. */
double descend_checked(objective f, void *data, int n, double *x, double *g, double *x_new,
                       double *g_old, double lr, double h, double tol, long max_iter,
                       int *reason, long *rising_out) {
    double *given = x, *swap, norm, norm_old = 0.0, total;
    long nit = 0, rising = 0, bad;
    int i, finite, same;
    for (;;) {
        total = 0.0;
        for (i = 0; i < n; i++) {
            double xi = x[i], fp, fm, gi;
            x[i] = xi + h;
            fp = f(n, x, data);
            x[i] = xi - h;
            fm = f(n, x, data);
            x[i] = xi;
            gi = (fp - fm) / ((xi + h) - (xi - h));
            g[i] = gi;
            total += gi * gi;
        }
        if (!isfinite(total)) {  /* a finite sum: a finite gradient */
            finite = 1;
            for (i = 0; i < n; i++)
                finite &= isfinite(g[i]) != 0;
            if (!finite) {
                if (nit == 0) {
                    *reason = START_NOT_FINITE;
                    break;
                }
                swap = x, x = x_new, x_new = swap;  /* back to the last iterate */
                swap = g, g = g_old, g_old = swap;
                nit--;
                *reason = GRADIENT_NOT_FINITE;
                break;
            }
        }
        norm = sqrt(total);
        if (nit > 0)
            rising = norm > norm_old ? rising + 1 : 0;
        if (norm <= tol) {
            *reason = CONVERGED;
            break;
        }
        if (nit == max_iter) {
            *reason = MAX_ITER;
            break;
        }
        finite = same = 1;
        bad = -1;
        for (i = 0; i < n; i++) {
            double v = x[i] - lr * g[i], span = (v + h) - (v - h);
            x_new[i] = v;
            finite &= isfinite(v) != 0;
            same &= v == x[i];
            if (bad < 0 && (span == 0.0 || !isfinite(span)))
                bad = i;
        }
        if (!finite || same || bad >= 0) {
            *reason = !finite ? STEP_NOT_FINITE : same ? STEP_LOST : STENCIL_LOST;
            break;
        }
        swap = x, x = x_new, x_new = swap;
        swap = g, g = g_old, g_old = swap;
        norm_old = norm;
        nit++;
    }
    *rising_out = rising;
    if (x != given)
        memcpy(given, x, n * sizeof(double));
    return f(n, x, data);
}
"""

CHECKED = "C loop with fastgrad's checks"
START = (-1.2, 1.0)
LEARNING_RATE = 1e-3
H = 1e-5

_OBJECTIVE = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int, ctypes.POINTER(ctypes.c_double),
                              ctypes.c_void_p)


def build(directory):
    """The C loop and Rosenbrock as a ctypes library, built with fastgrad's flags."""
    source = os.path.join(directory, "descent.c")
    library = os.path.join(directory, "descent.so")
    with open(source, "w") as out:
        out.write(C_SOURCE)
    subprocess.run([os.environ.get("CC", "cc"), "-O3", "-ffp-contract=off", "-fPIC", "-shared",
                    "-o", library, source], check=True)
    lib = ctypes.CDLL(library)
    lib.descend.restype = ctypes.c_double
    vector = ctypes.POINTER(ctypes.c_double)
    lib.descend.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, vector, vector,
                            ctypes.c_double, ctypes.c_double, ctypes.c_long]
    lib.descend_checked.restype = ctypes.c_double
    lib.descend_checked.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, vector,
                                    vector, vector, vector, ctypes.c_double, ctypes.c_double,
                                    ctypes.c_double, ctypes.c_long, ctypes.POINTER(ctypes.c_int),
                                    ctypes.POINTER(ctypes.c_long)]
    return lib


def contenders(lib, steps):
    """name -> a callable running `steps` updates and returning the final x."""
    from scipy import LowLevelCallable
    pointer = ctypes.cast(lib.rosenbrock, ctypes.c_void_p).value
    callback = CFunction(LowLevelCallable(_OBJECTIVE(pointer)))
    run = dict(learning_rate=LEARNING_RATE, max_iter=steps, tol=0.0, h=H)
    x, g, x_new, g_old = (np.empty(2) for _ in range(4))
    xp, gp, x_new_p, g_old_p = (v.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
                                for v in (x, g, x_new, g_old))
    reason, rising = ctypes.c_int(-1), ctypes.c_long(0)

    def c_loop():
        x[:] = START
        lib.descend(pointer, None, 2, xp, gp, LEARNING_RATE, H, steps)
        return x.copy()

    def c_loop_checked():
        x[:] = START
        lib.descend_checked(pointer, None, 2, xp, gp, x_new_p, g_old_p, LEARNING_RATE, H,
                            run["tol"], steps, ctypes.byref(reason), ctypes.byref(rising))
        if reason.value != 1:  # MAX_ITER, as fastgrad's run
            raise AssertionError(f"the checked C loop stopped early (reason {reason.value})")
        return x.copy()

    return {
        "C loop": c_loop,
        "C loop with fastgrad's checks": c_loop_checked,
        "fastgrad, C callback": lambda: fastgrad.gradient_descent(callback, START, **run).x,
        "fastgrad, Rosenbrock()": lambda: fastgrad.gradient_descent(Rosenbrock(), START, **run).x,
    }


def measure(steps=10**4, schedule=None):
    schedule = schedule or Schedule(min_repeats=15, max_repeats=41, target=0.01,
                                    cell_seconds=0.0, budget=60.0)
    with tempfile.TemporaryDirectory() as directory:
        fns = contenders(build(directory), steps)
        results = {name: fn() for name, fn in fns.items()}
        for name, x in results.items():
            if x.tobytes() != results["C loop"].tobytes():
                raise AssertionError(f"{name} ends at {x!r}, the C loop at {results['C loop']!r}")
        timed = interleaved(fns, schedule)
    ratios = slowdowns(timed.timings, "C loop")
    checked = slowdowns(timed.timings, CHECKED)
    return {name: (t.median, ratios.get(name), checked.get(name))
            for name, t in timed.timings.items()}


def main(argv):
    if argv[:1] == ["--callgrind"]:
        # one fixed directory: the profiles of two runs name the same library
        name, steps, directory = argv[1], int(argv[2]), os.path.join(tempfile.gettempdir(),
                                                                    "fastgrad-descent-c")
        os.makedirs(directory, exist_ok=True)
        fn = contenders(build(directory), steps)[name]
        fn()  # warm: imports, first-call setup
        fn()
        return
    steps = int(argv[0]) if argv else 10**4
    print(f"{steps} plain descent steps, 2-D Rosenbrock, central h={H}; medians of ratios")
    for name, (median, ratio, checked) in measure(steps).items():
        cost = "" if name == "C loop" else f"  {fmt_ratio(ratio)} the C loop"
        if name not in ("C loop", CHECKED):
            cost += f", {fmt_ratio(checked)} the checked C loop"
        print(f"  {name:30s} {fmt_time(median)}{cost}")


if __name__ == "__main__":
    main(sys.argv[1:])
