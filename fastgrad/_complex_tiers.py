"""method="complex" in fastgrad: f evaluated at complex points (fastgrad._complex).

The compiled evaluators (``_evaluators``) hand f float64 points and read float
values: their interface (``Points``, ``double* out``) is real, as the compiled
tier's objectives are.  The complex step needs complex128 points and f's
complex values, and f doing complex arithmetic costs far more per call than a
Python loop over the points does (measured in benchmarks/accuracy.py), so its
two tiers are these Python functions behind the reference's interface
(``values(x, points) -> complex values``); ``_complex`` combines the values
for both implementations, so the gradient is the reference's bit for bit.

* Python tier: f gets a complex128 array of its own per point (x with
  coordinate i replaced by x_i + i h_i), or with unpack=True Python floats and
  the one complex coordinate (as the reference);
* vectorized tier: f gets a (k, n) complex128 array of k points (chunks of
  about 512 KiB, as the real tier: _contract.vectorized_rows_per_call), or
  its n columns with unpack=True.
"""
import numpy as np

from . import _complex as complex_step
from . import _contract as contract


def evaluator(f, args, n, unpack, vectorized, vector=False):
    """values(x, points) for the complex step: f's complex values at the points
    (i, z) -- x (float64 vector) with coordinate i replaced by z (vector: a
    list of m per point)."""
    seen = {"low_precision": False}
    read = complex_step.Reader(vector)

    def note(value):
        if complex_step.is_low_precision(value):
            seen["low_precision"] = True

    if not vectorized:
        def values(x, points):
            out = []
            if unpack:
                base = x.tolist()
                for i, z in points:
                    p = list(base)
                    p[i] = z
                    value = complex_step.call(f, p, True, args)
                    note(value)
                    out.append(read.one(value))
                return out
            base = x.astype(np.complex128)
            for i, z in points:
                p = base.copy()  # f's own array: it may keep or change it
                p[i] = z
                value = complex_step.call(f, p, False, args)
                note(value)
                out.append(read.one(value))
            return out
    else:
        rows = contract.vectorized_rows_per_call(2 * n)  # complex: 2 doubles a number

        def values(x, points):
            out = []
            base = x.astype(np.complex128)
            for start in range(0, len(points), rows):
                chunk = points[start:start + rows]
                block = np.tile(base, (len(chunk), 1))
                block[np.arange(len(chunk)), [i for i, _ in chunk]] = [z for _, z in chunk]
                argument = block.T if unpack else block
                result = complex_step.call(f, argument, unpack, args)
                note(result)
                out.extend(read.rows(result, len(chunk)))
            return out
    values.seen = seen
    return values


def step_list(h, n):
    """h as fastgrad's arguments give it (a float, a float64 vector, "auto") as
    the list (or "auto") _complex reads."""
    if type(h) is str:
        return h
    return [h] * n if isinstance(h, float) else h.tolist()


def gradient(values, x, h, full_output):
    """The gradient at x (float64 vector) with steps h, or its GradientResult."""
    from ._accuracy import GradientResult
    xs = x.tolist()
    steps = complex_step.steps(step_list(h, len(xs)), xs)

    def at(points):
        return values(x, points)

    if not full_output:
        return np.array(complex_step.gradient(at, xs, steps)[0])
    g, errors, nfev, success, message = complex_step.full_output(
        at, xs, steps, lambda: values.seen["low_precision"])
    return GradientResult(grad=np.array(g), error=np.array(errors), nfev=nfev,
                          success=success, message=message, step=np.array(steps))
