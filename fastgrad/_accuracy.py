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

from ._contract import EPS32, EPS64  # not _stencils: `import fastgrad` stays light

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


def batch_result(results, matrix):
    """gradient_batch(full_output=True): one GradientResult from its rows' results
    (row r is gradient(f, X[r], full_output=True)).  grad, error and step are
    (m, n) (``matrix`` builds them from the rows); nfev counts every evaluation;
    success only if every row succeeded; the message names the first row that
    did not."""
    failed = [r for r, result in enumerate(results) if not result.success]
    if failed:
        r = failed[0]
        message = (f"{len(failed)} of {len(results)} rows failed; first X[{r}]: "
                   f"{results[r].message}")
    else:
        message = results[0].message
    return GradientResult(grad=matrix([result.grad for result in results]),
                          error=matrix([result.error for result in results]),
                          nfev=sum(result.nfev for result in results), success=not failed,
                          message=message, step=matrix([result.step for result in results]))


@dataclass
class JacobianResult:
    """What ``jacobian(..., full_output=True)`` returns.

    Attributes
    ----------
    jac : the Jacobian ((m, n) float64 ndarray in ``fastgrad``, m lists of n in
        ``fastgrad.reference``), the same values as without full_output.
    error : per-entry estimate of the absolute error of ``jac`` (row r as
        ``gradient(f_r, x, full_output=True)`` estimates it).
    nfev : int, evaluations of f (the estimate's included).
    success : bool, False when a value is not finite or an entry's error
        estimate exceeds its row's scale.
    message : str, what was found (the first output that failed, if one did).
    step : the step h_i used per coordinate (h="auto": relative to x).
    """

    jac: Any
    error: Any
    nfev: int
    success: bool
    message: str
    step: Any


def jacobian_estimate(J, J_double, f0, x, plans, plans_double, low_precision):
    """(error rows, success, message) for J from J_double (steps 2h): estimate()
    per output row r, with f_r(x) = f0[r]; the message names the first row
    whose estimate failed."""
    rows = [estimate(g, g_double, fx, x, plans, plans_double, low_precision)
            for g, g_double, fx in zip(J, J_double, f0)]
    success, message = _outputs_judged([(ok, text) for _, ok, text in rows])
    return [errors for errors, _, _ in rows], success, message


def jacobian_richardson(jacobians, steps, f0, x, row, low_precision):
    """h="adaptive" for a Jacobian: richardson() per output row r over the
    Jacobians jacobians[j] (steps steps[j]), with f_r(x) = f0[r].  Returns (J,
    error, step) as m lists of n -- each entry its own best step -- and
    (success, message) as jacobian_estimate()."""
    rows = [richardson([J[r] for J in jacobians], steps, fx, x, row, low_precision)
            for r, fx in enumerate(f0)]
    success, message = _outputs_judged([(ok, text) for _, _, _, ok, text in rows])
    return ([g for g, _, _, _, _ in rows], [e for _, e, _, _, _ in rows],
            [u for _, _, u, _, _ in rows], success, message)


def _outputs_judged(judged):
    """(success, message) of a Jacobian from its rows' (success, message): the
    first row that failed is named."""
    failed = [r for r, (success, _) in enumerate(judged) if not success]
    if not failed:
        return True, judged[0][1]
    r = failed[0]
    return False, f"{len(failed)} of {len(judged)} outputs failed; first f(x)[{r}]: {judged[r][1]}"


def no_estimate(i):
    """The message when the doubled steps have no usable stencil at x[i]."""
    return f"no error estimate: the doubled step has no usable stencil at x[{i}]"


def estimate(g, g_double, fx, x, plans, plans_double, low_precision):
    """(error list, success, message) for g from g_double.

    plans[i] / plans_double[i]: (row, step) coordinate i used in g / g_double
    (the rows and steps bounds may have turned one-sided or shrunk).  Where
    both used the same step, nothing is known of the truncation: inf.
    """
    eps = EPS32 if low_precision else EPS64
    scale = f_scale(fx, g, x)
    errors = []
    for gi, di, (row, hi), (_, hd) in zip(g, g_double, plans, plans_double):
        ratio = hd / hi
        if not ratio > 1.0:
            errors.append(math.inf)
            continue
        truncation = abs(gi - di) / (ratio ** row.order - 1.0)
        width = float(row.span[0] - row.span[1])
        weights = sum(abs(w) for w in row.float_weights)
        rounding = NOISE * eps * scale * weights / (width * hi)
        errors.append(SAFETY * truncation + rounding)
    success, message = judge(g, errors, fx, x, eps)
    if any(e == math.inf for e in errors) and all(map(math.isfinite, g)):
        i = errors.index(math.inf)
        message = (f"no error estimate at x[{i}]: the bounds shrank its steps h and 2h to "
                   "the same one")
    return errors, success, message


def f_scale(fx, g, x):
    """The magnitude f's rounding scales with: |f(x)|, or the size of f's linear
    part where f(x) itself is small (a residual, a root: f's terms still round)."""
    return max([abs(fx)] + [abs(gi) * max(1.0, abs(xi)) for gi, xi in zip(g, x)])


# -- h="adaptive": Richardson extrapolation over a geometric sequence of steps -------

#: The steps h_j = BASE * max(1, |x_i|) / RATIO**j, j = 0 .. STEPS - 1.
ADAPTIVE_BASE = 0.1
ADAPTIVE_RATIO = 2.0
ADAPTIVE_STEPS = 10
#: Richardson levels tried (each removes one more term of the error expansion).
ADAPTIVE_LEVELS = 4


def _fits(row, xi, h, lbi, ubi):
    """Whether every point of row at step h lies in [lbi, ubi] (bounded_choice's test)."""
    return xi + max(row.offsets) * h <= ubi and xi + min(row.offsets) * h >= lbi


def _largest_fit(row, xi, h, lbi, ubi):
    """The largest step <= h at which row fits in [lbi, ubi] (0.0: none)."""
    if _fits(row, xi, h, lbi, ubi):
        return h
    step = h
    if max(row.offsets) > 0:
        step = min(step, (ubi - xi) / max(row.offsets))
    if min(row.offsets) < 0:
        step = min(step, (xi - lbi) / -min(row.offsets))
    while step > 0.0 and not _fits(row, xi, step, lbi, ubi):
        step = math.nextafter(step, 0.0)
    return max(step, 0.0)


def adaptive_steps(x, row, bounds=None):
    """h="adaptive"'s sequence: (rows, levels) with rows[i] the stencil row
    coordinate i uses at every level and levels[j][i] = h0_i / RATIO**j.

    Without bounds, h0_i = BASE * max(1, |x_i|) and rows[i] = row.  Within
    bounds, Richardson needs one row per coordinate over the whole sequence
    (its error expansion is the row's) and the compiled core, like
    bounded_choice, takes the first of sides(row) that fits at each step.  So
    each candidate side starts at the largest step <= BASE * max(1, |x_i|) at
    which it fits (its room), and is consistent if every side preferred to it
    fits at none of its steps; the consistent side with the largest start wins
    (the row itself first on a tie).  No room at all: the default step, for
    the stencil check to name the coordinate.
    """
    from ._stencils import sides  # (a light, standard-library module)
    finest = ADAPTIVE_RATIO ** (ADAPTIVE_STEPS - 1)
    rows, starts = [], []
    for i, xi in enumerate(x):
        default = ADAPTIVE_BASE * max(1.0, abs(xi))
        if bounds is None or _fits(row, xi, default, bounds[0][i], bounds[1][i]):
            rows.append(row)
            starts.append(default)
            continue
        candidates = sides(row)
        fits = [_largest_fit(side, xi, default, bounds[0][i], bounds[1][i])
                for side in candidates]
        best = None
        for k, start in enumerate(fits):
            consistent = all(start / finest > earlier for earlier in fits[:k])
            if start > 0.0 and consistent and (best is None or start > fits[best]):
                best = k
        rows.append(candidates[0] if best is None else candidates[best])
        starts.append(default if best is None else fits[best])
    levels = [[h0 / ADAPTIVE_RATIO ** j for h0 in starts] for j in range(ADAPTIVE_STEPS)]
    return rows, levels


def extrapolate(sequence, p, s, rounding, noisy_finest=False):
    """Richardson's table over one entry's values at the steps h_j = h_0 / RATIO**j:
    (error, value, j) of the extrapolated value with the smallest error estimate
    (j: the finest step it used).

    The values' error expands in h^p, h^(p+s), h^(p+2s), ... (s = 2 central,
    1 one-sided).  Level k of the table removes the k-th term:
        R[j][k] = R[j][k-1] + (R[j][k-1] - R[j-1][k-1]) / (RATIO^(p+(k-1)s) - 1),
    estimated to err by SAFETY * (|R[j][k] - R[j][k-1]| + |R[j][k] - R[j-1][k]|)
    plus rounding(j) (f's rounding in the values at step j) amplified by the
    extrapolation (2^k).  A step sequence can alias an oscillating f (sin(1000 x):
    the coarse estimates agree on a wrong value): the finest extrapolated value
    must agree, else the error grows to cover the difference -- less that
    value's own rounding if noisy_finest (a second difference's rounding grows
    as 1 / h^2: at the finest steps it may dwarf the best value's error).
    """
    count = len(sequence)
    levels = [list(sequence)]
    for k in range(1, ADAPTIVE_LEVELS + 1):
        factor = ADAPTIVE_RATIO ** (p + (k - 1) * s) - 1.0
        below = levels[k - 1]
        levels.append([None] * k + [below[j] + (below[j] - below[j - 1]) / factor
                                    for j in range(k, count)])
    best = None
    for k in range(1, ADAPTIVE_LEVELS + 1):
        for j in range(k + 1, count):
            value = levels[k][j]
            truncation = abs(value - levels[k - 1][j]) + abs(value - levels[k][j - 1])
            error = SAFETY * truncation + rounding(j) * 2.0 ** k
            if best is None or error < best[0]:
                best = (error, value, j)
    finest = levels[ADAPTIVE_LEVELS][count - 1]
    disagreement = abs(best[1] - finest)
    if noisy_finest:
        disagreement = max(0.0, disagreement - rounding(count - 1) * 2.0 ** ADAPTIVE_LEVELS)
    return max(best[0], SAFETY * disagreement), best[1], best[2]


def richardson(gradients, steps, fx, x, row, low_precision):
    """Per coordinate, the extrapolated entry with the smallest error estimate.

    gradients[j] (steps steps[j]) use one stencil row of order p per
    coordinate (row, or rows[i] if row is a list), whose error expands in
    h^p, h^(p+s), h^(p+2s), ... (s = 2 central, 1 one-sided).
    Level k of the table removes the k-th term:
        R[j][k] = R[j][k-1] + (R[j][k-1] - R[j-1][k-1]) / (RATIO^(p+(k-1)s) - 1),
    estimated to err by SAFETY * (|R[j][k] - R[j][k-1]| + |R[j][k] - R[j-1][k]|)
    plus the rounding of f amplified by the extrapolation (2^k).
    Returns (grad, error, step) lists and (success, message) as estimate().
    """
    eps = EPS32 if low_precision else EPS64
    rows = row if isinstance(row, list) else [row] * len(gradients[0])
    scale = f_scale(fx, gradients[-1], x)
    grad, errors, used = [], [], []
    for i in range(len(gradients[0])):
        row = rows[i]
        width = float(row.span[0] - row.span[1])
        weights = sum(abs(w) for w in row.float_weights)
        error, value, j = extrapolate(
            [g[i] for g in gradients], row.order, 2 if row.method == "central" else 1,
            lambda j: NOISE * eps * scale * weights / (width * steps[j][i]))
        errors.append(error)
        grad.append(value)
        used.append(steps[j][i])
    success, message = judge(grad, errors, fx, x, eps)
    return grad, errors, used, success, message


def judge(g, errors, fx, x, eps=EPS64):
    """(success, message): every value finite and every estimate below its scale,
    max(|g_i|, sqrt(eps) * the scale of g and of f per unit of x)."""
    if not (math.isfinite(fx) and all(math.isfinite(v) for v in g)
            and all(math.isfinite(e) for e in errors)):
        if math.isfinite(fx) and all(math.isfinite(v) for v in g):
            return False, "no error estimate for every entry"
        return False, "f is not finite at x or near it: the gradient is not reliable"
    top = max(max(abs(v) for v in g), abs(fx) / max(1.0, max(abs(v) for v in x)))
    floor = math.sqrt(eps) * top
    loose = [i for i, (gi, e) in enumerate(zip(g, errors)) if e > max(abs(gi), floor)]
    if loose:
        i = loose[0]
        return False, (
            f"the error estimate exceeds the gradient at {len(loose)} of {len(g)} "
            f"coordinates (first: grad[{i}] = {g[i]!r} +- {errors[i]:.3g}); "
            "try another h")
    return True, "ok: every entry's error estimate is below its scale"


# -- second derivatives: hessian(..., full_output=True) ------------------------------

@dataclass
class HessianResult:
    """What ``hessian(..., full_output=True)`` returns.

    Attributes
    ----------
    hess : the Hessian (float64 (n, n) ndarray in ``fastgrad``, list of lists in
        ``fastgrad.reference``), the same values as without full_output.
    error : per-entry estimate of the absolute error of ``hess`` (symmetric).
    nfev : int, evaluations of f (the estimate's included).
    success : bool, False when a value is not finite or an entry's error
        estimate exceeds its scale (``max(|H_ij|, eps**(1/3) * max |H|)``).
    message : str, what was found.
    step : the step h_i used per coordinate (h="auto": relative to x; within
        bounds: as they shrank it); h="adaptive": (n, n), step[i, j] the step of
        coordinate i at the level H_ij came from.
    """

    hess: Any
    error: Any
    nfev: int
    success: bool
    message: str
    step: Any


def estimate_hessian(H, H_double, fx, x, plans, plans_double, low_precision):
    """(error rows, success, message) for the Hessian H from H_double (steps 2h,
    rows of the same order p), as estimate() does for a gradient:

        truncation ~ |H_ij(h) - H_ij(2h)| / (ratio**p - 1)
        rounding   ~ NOISE * eps * scale * sum|w| / (h_i h_j)

    plans[i] / plans_double[i]: (row, step) coordinate i used in H / H_double
    (a second row of _stencils.SECOND_SIDES: bounds may turn it one-sided or
    shrink its step); ratio = min over i, j of the steps' ratios (2 without
    bounds; <= 1: nothing is known of the truncation, inf).  sum|w| is the
    diagonal's or the mixed entry's weights, and scale the size of f's
    quadratic part: max(|f(x)|, |H_ij| max(1, |x_i|) max(1, |x_j|)).
    """
    eps = EPS32 if low_precision else EPS64
    n = len(x)
    scale = _hessian_scale(H, fx, x)
    ratios = [hd / hi for (_, hi), (_, hd) in zip(plans, plans_double)]
    errors = [[0.0] * n for _ in range(n)]
    for i in range(n):
        row_i, hi = plans[i]
        for j in range(i, n):
            row_j, hj = plans[j]
            ratio = min(ratios[i], ratios[j])
            if not ratio > 1.0:
                errors[i][j] = errors[j][i] = math.inf
                continue
            truncation = abs(H[i][j] - H_double[i][j]) / (ratio ** row_i.order - 1.0)
            weights = row_i.diagonal_weights if i == j else mixed_weight_sum(row_i, row_j)
            rounding = NOISE * eps * scale * weights / (hi * hj)
            errors[i][j] = errors[j][i] = SAFETY * truncation + rounding
    success, message = judge_hessian(H, errors, fx, x, eps)
    unknown = [(i, j) for i in range(n) for j in range(n) if errors[i][j] == math.inf]
    if unknown and message.startswith("the error estimate exceeds"):
        message = (f"no error estimate at hess[{unknown[0][0]}, {unknown[0][1]}]: the bounds "
                   "shrank its steps h and 2h to the same ones")
    return errors, success, message


def judge_hessian(H, errors, fx, x, eps=EPS64):
    """(success, message): every value finite and every estimate below its scale,
    max(|H_ij|, eps**(1/3) * the scale of H and of f per unit of x squared).

    The floor is coarser than a gradient's (sqrt(eps)): a second difference at
    its best step is accurate to about eps**(1/2) of the Hessian's scale (order
    2), so entries that are 0 (most of a sparse Hessian) are judged against
    what a second difference can resolve."""
    values = [v for row in H for v in row]
    if not (math.isfinite(fx) and all(math.isfinite(v) for v in values)):
        return False, "f is not finite at x or near it: the Hessian is not reliable"
    top = max(max(abs(v) for v in values), abs(fx) / max(1.0, max(abs(v) for v in x)) ** 2)
    floor = eps ** (1.0 / 3.0) * top
    n = len(x)
    loose = [(i, j) for i in range(n) for j in range(n)
             if errors[i][j] > max(abs(H[i][j]), floor)]
    if loose:
        i, j = loose[0]
        return False, (f"the error estimate exceeds the Hessian at {len(loose)} of {n * n} "
                       f"entries (first: hess[{i}, {j}] = {H[i][j]!r} +- "
                       f"{errors[i][j]:.3g}); try another h")
    return True, "ok: every entry's error estimate is below its scale"


def hessian_richardson(hessians, steps, fx, x, rows, low_precision):
    """h="adaptive" for a Hessian: per entry i <= j, extrapolate() over the
    Hessians hessians[l] (steps steps[l], steps[l][i] = h0_i / RATIO**l), the
    value with the smallest error estimate; H_ji = H_ij, so the result is
    exactly symmetric.

    rows[i] is coordinate i's second row (``_stencils.SECOND_SIDES``, one
    order p): an entry's error expands in t^p, t^(p+s), ... for steps t h0
    (s = 2 if both rows are central, else 1).  f's rounding in a second
    difference scales as eps |f| / h^2, not eps |f| / h:

        rounding_ij(l) = NOISE * eps * scale * sum|w| / (h_i h_j)  at steps[l]

    with sum|w| the diagonal's or the mixed entry's weights and scale as
    estimate_hessian's.  Returns (H, error, step) as lists of n lists -- step[i][j]
    the step of coordinate i at the level H_ij came from -- and (success,
    message) as judge_hessian().
    """
    eps = EPS32 if low_precision else EPS64
    n = len(x)
    scale = _hessian_scale(hessians[-1], fx, x)
    H = [[0.0] * n for _ in range(n)]
    errors = [[0.0] * n for _ in range(n)]
    used = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i, n):
            s = 2 if rows[i].method == rows[j].method == "central" else 1
            weights = rows[i].diagonal_weights if i == j else \
                mixed_weight_sum(rows[i], rows[j])
            error, value, level = extrapolate(
                [Hl[i][j] for Hl in hessians], rows[i].order, s,
                lambda l: NOISE * eps * scale * weights / (steps[l][i] * steps[l][j]), True)
            H[i][j] = H[j][i] = value
            errors[i][j] = errors[j][i] = error
            used[i][j], used[j][i] = steps[level][i], steps[level][j]
    success, message = judge_hessian(H, errors, fx, x, eps)
    return H, errors, used, success, message


def mixed_weight_sum(row_i, row_j):
    """sum |w_a w_b| of the mixed entry between two second rows."""
    from ._stencils import second_mixed  # (a light, standard-library module)
    return sum(abs(w) for _, _, w in second_mixed(row_i, row_j))


def _hessian_scale(H, fx, x):
    """The size of f's quadratic part: max(|f(x)|, |H_ij| max(1, |x_i|) max(1, |x_j|))."""
    n = len(x)
    reach = [max(1.0, abs(xi)) for xi in x]
    return max([abs(fx)] + [abs(H[i][j]) * reach[i] * reach[j]
                            for i in range(n) for j in range(n)])


#: The message when the doubled steps leave the usable range at x[i] (as a Jacobian's).
no_hessian_estimate = no_estimate
