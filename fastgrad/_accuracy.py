"""How wrong a gradient may be: GradientResult and its error estimate (both implementations).

Standard library only.  With ``full_output=True`` a gradient is taken twice,
with steps h and 2h (the same stencil row, so the same order p), and f is
evaluated once more at x.  Per entry:

    truncation ~ |g(h) - g(2h)| / (2**p - 1)        (Richardson: the leading
                                                     error term scales as h**p)
    rounding   ~ NOISE * eps * |f(x)| * sum|w_t| / (span * h)

and the estimate is SAFETY * truncation + rounding.  eps is that of the
precision f computes in (float32 values: float32's).  The difference of the two
gradients also carries their rounding noise, so noise that exceeds the model
(an f accurate to fewer digits than eps) shows up in the first term too.
tests/test_accuracy.py measures the estimate against exact derivatives: the
true error lies inside it for >= 95 % of a random battery.
"""
import math
from dataclasses import dataclass
from typing import Any

from ._stencils import EPS32, EPS64

#: f's rounding in units of eps*|f|: a few operations' worth.
NOISE = 8.0
#: The truncation term's safety factor (the h**p model holds only asymptotically).
SAFETY = 2.0


@dataclass
class GradientResult:
    """What ``gradient(..., full_output=True)`` returns.

    Attributes
    ----------
    grad : the gradient (float64 ndarray in ``fastgrad``, list in ``fastgrad.reference``),
        the same values as without full_output.
    error : per-entry estimate of the absolute error of ``grad``.
    nfev : int, evaluations of f (the estimate's included).
    success : bool, False when a value is not finite or an entry's error
        estimate exceeds its scale (``max(|grad_i|, sqrt(eps) * max_j |grad_j|)``).
    message : str, what was found.
    step : the step h_i used per coordinate (h="auto": relative to x).
    """

    grad: Any
    error: Any
    nfev: int
    success: bool
    message: str
    step: Any


def estimate(g, g_double, fx, row, steps, low_precision):
    """(error list, success, message) for g (steps h) from g_double (steps 2h)."""
    eps = EPS32 if low_precision else EPS64
    p = row.order
    width = float(row.span[0] - row.span[1])
    weights = sum(abs(w) for w in row.float_weights)
    errors = []
    for gi, di, hi in zip(g, g_double, steps):
        truncation = abs(gi - di) / (2.0 ** p - 1.0)
        rounding = NOISE * eps * abs(fx) * weights / (width * hi)
        errors.append(SAFETY * truncation + rounding)
    finite = math.isfinite(fx) and all(math.isfinite(v) for v in g) \
        and all(math.isfinite(e) for e in errors)
    if not finite:
        return errors, False, "f is not finite at x or near it: the gradient is not reliable"
    top = max(abs(v) for v in g)
    floor = math.sqrt(eps) * top
    loose = [i for i, (gi, e) in enumerate(zip(g, errors)) if e > max(abs(gi), floor)]
    if loose:
        i = loose[0]
        return errors, False, (
            f"the error estimate exceeds the gradient at {len(loose)} of {len(g)} "
            f"coordinates (first: grad[{i}] = {g[i]!r} +- {errors[i]:.3g}); "
            "try another h, or h=\"auto\"")
    return errors, True, "ok: every entry's error estimate is below its scale"
