"""Finite-difference stencils as data: one table that both implementations read.

Standard library only (``fastgrad.reference`` runs without numpy).

A row of ``STENCILS`` says, for one method and accuracy order, where f is
evaluated around x[i] (offsets in units of h[i]) and with which weights the
values combine.  The derivative along coordinate i is

    g[i] = (w_0 f_0 + w_1 f_1 + ... ) / span_i

summed left to right in the row's term order, where f_t is f at x with x[i]
replaced by the *realised* point ``x[i] + offset_t * h[i]`` (offset 0: f(x)
itself), and ``span_i = realised(span_hi) - realised(span_lo)`` is the
realised distance between two of the row's points.  Dividing by the realised
span instead of the nominal multiple of h removes the rounding of x[i] + h
from the result, as ``scipy.optimize.approx_fprime`` does; the weights are
Fornberg's, exact as fractions, scaled by the nominal span.

The order-1/2 rows reproduce the textbook formulas to the last bit, because
in IEEE arithmetic ``1 * a == a``, ``(-1) * a == -a`` and ``a + (-b) == a - b``:

    central:  (f(x + h) - f(x - h)) / ((x + h) - (x - h))
    forward:  (f(x + h) - f(x)) / ((x + h) - x)
    backward: (f(x) - f(x - h)) / (x - (x - h))

Evaluation order: f(x) first if any term needs it, then for i = 0..n-1 the
points of coordinate i in the row's term order (offset 0 skipped).
"""
import functools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Dict, Tuple

METHODS = ("central", "forward", "backward")

#: The accuracy order each method has by default.
DEFAULT_ORDER = {"central": 2, "forward": 1, "backward": 1}

#: The accuracy orders the table holds, per method.
ORDERS = {"central": (2, 4, 6, 8), "forward": (1, 2, 3, 4), "backward": (1, 2, 3, 4)}


def fornberg_weights(offsets, derivative):
    """Exact weights c_j with f^(derivative)(0) ~ sum_j c_j f(offsets[j]) (unit spacing).

    Fornberg, "Generation of finite difference formulas on arbitrarily spaced
    grids", Math. Comp. 51 (1988), the recursion of his Table 1, in fractions.
    """
    a = [Fraction(o) for o in offsets]
    m = derivative
    c = [[Fraction(0)] * (m + 1) for _ in a]
    c[0][0] = Fraction(1)
    c1, c4 = Fraction(1), a[0]
    for i in range(1, len(a)):
        mn = min(i, m)
        c2, c5, c4 = Fraction(1), c4, a[i]
        for j in range(i):
            c3 = a[i] - a[j]
            c2 *= c3
            if j == i - 1:
                for k in range(mn, 0, -1):
                    c[i][k] = c1 * (k * c[i - 1][k - 1] - c5 * c[i - 1][k]) / c2
                c[i][0] = -c1 * c5 * c[i - 1][0] / c2
            for k in range(mn, 0, -1):
                c[j][k] = (c4 * c[j][k] - k * c[j][k - 1]) / c3
            c[j][0] = c4 * c[j][0] / c3
        c1 = c2
    return tuple(row[m] for row in c)


@dataclass(frozen=True)
class Stencil:
    """One row of the table: terms (offset, exact weight) in summation order."""
    method: str
    order: int
    offsets: Tuple[int, ...]
    weights: Tuple[Fraction, ...]
    span: Tuple[int, int]  # (hi, lo): the realised distance the sum is divided by
    # The offsets are imaginary (the complex step): f is evaluated at
    # x + i * offset * h e_i and the sum is divided by the nominal span times h
    # exactly -- no realised step, as nothing is rounded away.
    imaginary: bool = False

    @property
    def needs_center(self):
        """Whether a term is f(x) itself (evaluated once, before every other point)."""
        return 0 in self.offsets

    @functools.cached_property  # read per gradient by the reference: computed once
    def point_offsets(self):
        """The offsets evaluated per coordinate, in evaluation order."""
        return tuple(o for o in self.offsets if o != 0)

    def points(self, n, bounded=False):
        """Evaluations of one gradient in n dimensions (with bounds f(x) is one)."""
        return (1 if self.needs_center or bounded else 0) + n * len(self.point_offsets)

    @functools.cached_property
    def float_weights(self):
        return tuple(float(w) for w in self.weights)


def _row(method, order, offsets, span):
    exact = fornberg_weights(offsets, 1)
    scale = span[0] - span[1]
    return Stencil(method, order, tuple(offsets), tuple(w * scale for w in exact), span)


def _central_offsets(order):
    # +1, -1, +2, -2, ...: the order-2 row is the textbook pair, plus point first.
    return [s * k for k in range(1, order // 2 + 1) for s in (1, -1)]


def _build():
    table: Dict[Tuple[str, int], Stencil] = {}
    for order in ORDERS["central"]:
        table["central", order] = _row("central", order, _central_offsets(order), (1, -1))
    # One-sided rows up to order 8: orders 5-8 only stand in for central rows of
    # that order next to a bound (order= offers one-sided 1-4).
    for order in range(1, 9):
        # Points first, f(x) last: order 1 is (f(x + h) - f(x)) / h.
        offsets = list(range(1, order + 1)) + [0]
        table["forward", order] = _row("forward", order, offsets, (1, 0))
        # f(x) first: order 1 is (f(x) - f(x - h)) / h.
        offsets = [0] + [-k for k in range(1, order + 1)]
        table["backward", order] = _row("backward", order, offsets, (0, -1))
    return table


#: (method, order) -> Stencil.
STENCILS = _build()

#: method="complex": g_i = Im f(x + i h e_i) / h, error O(h**2), no cancellation
#: (Squire & Trapp 1998).  Not in STENCILS: it has no real points, no sides
#: within bounds and no order but 2; fastgrad._complex reads it.
COMPLEX = Stencil("complex", 2, (1,), (Fraction(1),), (1, 0), imaginary=True)


# h="auto" sizes steps for f's precision; the second rows name a wrong method
from ._contract import (EPS32, EPS64, no_room, second_method_only,  # noqa: E402
                        shrunk_step_too_small, step_too_small)
from ._accuracy import adaptive_steps  # noqa: E402  (h="adaptive"'s steps, check_rows)


def auto_step(row, eps):
    """The relative step constant c of h="auto": h_i = c * max(1, |x_i|).

    c = eps ** (1 / (p + 1)) for an order-p row balances its truncation error
    (~ h^p) against rounding (~ eps / h): eps ** (1/3) for central order 2,
    eps ** (1/2) for one-sided order 1 (as scipy's approx_derivative).
    """
    return eps ** (1.0 / (row.order + 1))


def check_order(method, order):
    """order for a checked method: None (the method's default) or one the table holds."""
    if order is None:
        return DEFAULT_ORDER.get(method, COMPLEX.order)
    allowed = ORDERS.get(method, (COMPLEX.order,))
    if isinstance(order, bool) or not hasattr(type(order), "__index__"):
        raise TypeError(f"order must be an int or None, got {type(order).__name__} {order!r}")
    order = type(order).__index__(order)  # numpy integers too
    if order not in allowed:
        raise ValueError(f"order must be one of {', '.join(map(str, allowed))} for "
                         f"method={method!r} (None: {allowed[0]}), got {order!r}")
    return order


def stencil(method, order=None):
    """The row for a checked method and an order (None: the method's default order)."""
    order = check_order(method, order)
    return COMPLEX if method == "complex" else STENCILS[method, order]


# -- bounds: the stencil turns one-sided of the same order next to a bound ---------

def sides(row):
    """The rows a bounded coordinate may use, in order of preference: the row
    itself, then the one-sided rows of the same order (as scipy's approx_derivative)."""
    if isinstance(row, SecondStencil):  # hessian(bounds=...): the second rows' sides
        return (row, SECOND_SIDES["forward", row.order], SECOND_SIDES["backward", row.order])
    forward, backward = STENCILS["forward", row.order], STENCILS["backward", row.order]
    if row.method == "central":
        return (row, forward, backward)
    return (row, backward) if row.method == "forward" else (row, forward)


def bounded_choice(rows, xi, hi, lbi, ubi):
    """(row, step) for coordinate i within [lbi, ubi], or None: no room at all.

    The first row of ``rows`` whose every point x_i + o h_i lies in the bounds;
    if none does, the one-sided row on the roomier side with the step shrunk to
    fit (the largest float step whose farthest point stays inside).  The
    compiled core makes the same choice with the same operations.
    """
    for row in rows:
        if xi + max(row.offsets) * hi <= ubi and xi + min(row.offsets) * hi >= lbi:
            return row, hi
    up, down = ubi - xi, xi - lbi
    if up >= down:
        row = _side(rows, "forward")
        reach = float(max(row.offsets))
        step = up / reach
        while step > 0.0 and xi + reach * step > ubi:
            step = math.nextafter(step, 0.0)
    else:
        row = _side(rows, "backward")
        reach = float(min(row.offsets))  # negative
        step = down / -reach
        while step > 0.0 and xi + reach * step < lbi:
            step = math.nextafter(step, 0.0)
    return (row, step) if step > 0.0 else None


def _side(rows, method):
    """The one-sided row of rows (sides()) with this method."""
    return next(row for row in rows if row.method == method)


def plan(x, h, row, bounds=None):
    """Per coordinate, (row, step) the gradient uses: the row with h[i] -- or,
    within bounds, the side that fits (a shrunk step if need be), None where
    there is no room.  Both implementations read the steps they used here."""
    if bounds is None:
        return [(row, hi) for hi in h]
    lb, ub = bounds
    rows = sides(row)
    return [bounded_choice(rows, x[i], h[i], lb[i], ub[i]) for i in range(len(x))]


# -- the plan checked: the error naming the coordinate without a usable stencil ---------

def realised(xi, hi, offset):
    """x[i] + offset * h[i]; offset +-1 gives exactly x + h and x - h."""
    return xi if offset == 0 else xi + offset * hi


def realised_span(xi, hi, row):
    """The realised distance coordinate i's sum is divided by."""
    up, down = row.span
    return realised(xi, hi, up) - realised(xi, hi, down)


def relative_steps(x, c):
    """h="auto"'s steps at x for the constant c: h_i = c * max(1, |x_i|)."""
    return [c * max(1.0, abs(xi)) for xi in x]


def bad_coordinate(x, chosen):
    """The first i whose realised span is 0 or not finite (h too small or too large),
    or, for rows reaching beyond their span, with a point that is not finite, or
    with no room within the bounds (chosen: a plan()); else None."""
    for i, choice in enumerate(chosen):
        if choice is None:
            return i
        row, hi = choice
        span = realised_span(x[i], hi, row)
        if span == 0.0 or not math.isfinite(span):
            return i
        reach = max(abs(row.span[0]), abs(row.span[1]))
        for offset in row.point_offsets:
            if abs(offset) > reach and not math.isfinite(realised(x[i], hi, offset)):
                return i
    return None


def check_stencil(x, h, row, r=None, bounds=None):
    """The plan of x's stencil, or the ValueError naming the coordinate without one
    (r: the row of X it is, for gradient_batch's messages)."""
    chosen = plan(x, h, row, bounds)
    bad = bad_coordinate(x, chosen)
    if bad is None:
        return chosen
    if chosen[bad] is None:
        raise ValueError(no_room(bad, x[bad], bounds[0][bad], bounds[1][bad], r))
    if chosen[bad][1] != h[bad]:  # the bounds shrank the step
        raise ValueError(shrunk_step_too_small(
            bad, x[bad], h[bad], chosen[bad][1], bounds[0][bad], bounds[1][bad], r))
    raise ValueError(step_too_small(bad, x[bad], chosen[bad][1], r))


def check_rows(rows, h, row, boxes):
    """gradient_batch row by row (full_output, h="adaptive", method="complex"):
    every row's stencils checked before f is called, as the one-pass batch
    does (h="auto": with double precision's constant, before the probe).
    Both implementations' gradient_batch call this."""
    if row.imaginary:  # no real points: nothing to round away
        return
    c = auto_step(row, EPS64)
    for r, x in enumerate(rows):
        if h == "adaptive":
            levels = adaptive_steps(x, row, boxes[r])[1]
        else:
            levels = [relative_steps(x, c) if h == "auto" else h]
        for level in levels:
            check_stencil(x, level, row, r, boxes[r])


# -- second derivatives: hessian() and hessian_vector() ------------------------------

@dataclass(frozen=True)
class SecondStencil:
    """Second derivatives of central accuracy order p (2, 4, 6, 8), as data.

    Per coordinate i the points are x_i + o * h_i for o in ``offsets`` (the
    central first-derivative row's points, in its evaluation order: +1, -1,
    +2, -2, ...), and r_i = ((x_i + h_i) - (x_i - h_i)) * 0.5 is the realised
    step (the halving is exact).  With f_0 = f(x):

        H_ii = (sum over ``diagonal`` (o, w): w * f(x_i + o h_i)) / (r_i * r_i)
        H_ij = (sum over ``mixed`` (a, b, w): w * f(x_i + a h_i, x_j + b h_j)) / (r_i * r_j)

    summed left to right in the table's order; offset 0 on the diagonal is
    f(x) itself.  The diagonal weights are Fornberg's for the second
    derivative on the points -m..m (m = p / 2: order p); the mixed weights are
    the products w_a * w_b of the order-p first-derivative weights, the tensor
    product of two 1-D rows (order p too).  Order 2 is the textbook pair:

        H_ii = (f(x + h e_i) - 2 f(x) + f(x - h e_i)) / h_i**2
        H_ij = (f(++) - f(+-) - f(-+) + f(--)) / (4 h_i h_j)

    (its weights are 1/4: ``0.25 * v`` is exact, so the sum is the textbook
    one scaled by an exact 1/4).  Only i < j is computed; H_ji = H_ij, so the
    result is exactly symmetric.
    """
    order: int
    offsets: Tuple[int, ...]
    diagonal: Tuple[Tuple[int, Fraction], ...]
    mixed: Tuple[Tuple[int, int, Fraction], ...]
    first: Tuple[Fraction, ...]  # the first-derivative weights of offsets (unit spacing)
    # "central", or the one-sided rows a bounded coordinate turns to ("forward":
    # offsets 1 .. p+1, "backward": -1 .. -(p+1)); see SECOND_SIDES.
    method: str = "central"
    # The first-derivative row the mixed entries take for this coordinate:
    # (offset, exact weight at unit spacing) in summation order; offset 0 is a
    # point with this coordinate unmoved (one-sided rows only).
    first_terms: Tuple[Tuple[int, Fraction], ...] = ()

    def points_of_row(self, n, i):
        """Evaluations for Hessian row i (its diagonal and the pairs (i, j > i))."""
        p = len(self.offsets)
        return p * (1 + p * (n - 1 - i))

    def points(self, n):
        """Evaluations of one Hessian: 1 + n p + n (n - 1) / 2 * p**2 (2 n**2 + 1 at p = 2)."""
        p = len(self.offsets)
        return 1 + n * p + n * (n - 1) // 2 * p * p

    @property
    def float_diagonal(self):
        return tuple((o, float(w)) for o, w in self.diagonal)

    @property
    def float_first(self):
        return tuple(float(w) for w in self.first)

    @property
    def float_mixed(self):
        return tuple((a, b, float(w)) for a, b, w in self.mixed)

    @property
    def float_first_terms(self):
        return tuple(float(w) for _, w in self.first_terms)

    @property
    def diagonal_weights(self):
        """sum |w| of the diagonal's weights (the rounding model's factor)."""
        return sum(abs(w) for _, w in self.float_diagonal)

    @property
    def span(self):
        """(hi, lo) of the realised step r_i the sums are divided by (central: halved)."""
        return {"central": (1, -1), "forward": (1, 0), "backward": (0, -1)}[self.method]


def _second_row(order):
    offsets = tuple(_central_offsets(order))
    m = order // 2
    around = list(range(m, -m - 1, -1))  # m .. 1, 0, -1 .. -m: order 2 is f+, f(x), f-
    diagonal = tuple(zip(around, fornberg_weights(around, 2)))
    first = dict(zip(offsets, fornberg_weights(offsets, 1)))
    mixed = tuple((a, b, first[a] * first[b]) for a in offsets for b in offsets)
    return SecondStencil(order, offsets, diagonal, mixed, tuple(first[o] for o in offsets),
                         "central", tuple((o, first[o]) for o in offsets))


def _one_sided_second_row(method, order):
    """The one-sided row of order p: the diagonal on p + 2 points (offsets 0 ..
    p+1, or 0 .. -(p+1)), Fornberg's exact weights; the mixed entries take the
    one-sided first-derivative row of order p on offsets +-1 .. +-p and 0, the
    unmoved point's terms last (hessian() adds them once the other
    coordinate's points are in: they are its diagonal's)."""
    sign = 1 if method == "forward" else -1
    offsets = tuple(sign * k for k in range(1, order + 2))
    around = list(offsets) + [0] if sign > 0 else [0] + list(offsets)
    diagonal = tuple(zip(around, fornberg_weights(around, 2)))
    terms = [sign * k for k in range(1, order + 1)] + [0]  # the unmoved point last
    first = tuple(zip(terms, fornberg_weights(terms, 1)))
    mixed = tuple((a, b, wa * wb) for a, wa in first for b, wb in first)
    return SecondStencil(order, offsets, diagonal, mixed, tuple(w for _, w in first), method,
                         first)


#: order -> SecondStencil (central only).
SECOND = {order: _second_row(order) for order in ORDERS["central"]}

#: (method, order) -> SecondStencil: the central rows and the one-sided rows a
#: coordinate next to a bound turns to (hessian(bounds=...)), orders 2-8.
SECOND_SIDES = {("central", order): row for order, row in SECOND.items()}
SECOND_SIDES.update({(method, order): _one_sided_second_row(method, order)
                     for method in ("forward", "backward") for order in ORDERS["central"]})


@functools.lru_cache(maxsize=None)
def second_mixed(row_i, row_j):
    """The mixed entry between coordinates with rows row_i and row_j: ((a, b,
    float(w_a w_b)), ...) over a in row_i's first terms, b in row_j's (the
    products exact, then rounded once); the central pair is row.float_mixed."""
    return tuple((a, b, float(wa * wb)) for a, wa in row_i.first_terms
                 for b, wb in row_j.first_terms)


def second_auto_step(row, eps):
    """The relative step constant of h="auto" for second derivatives.

    An order-p second difference has truncation ~ h**p and rounding
    ~ eps |f| / h**2 (two divisions by a step); their sum is least at
    h ~ eps ** (1 / (p + 2)): eps ** (1/4) ~ 1.2e-4 at order 2 (float64),
    eps ** (1/6) ~ 2.5e-3 at order 4.  The mixed entries, ~ eps / (h_i h_j),
    balance the same way.
    """
    return eps ** (1.0 / (row.order + 2))


def second_stencil(method, order):
    """The SecondStencil for a checked method and order (central only)."""
    if method != "central":
        raise second_method_only(method)
    return SECOND[check_order(method, order)]


def hessian_blocks(n, row, per_call):
    """Hessian rows i0..i1-1 evaluated by one call of the evaluator, as (i0, i1).

    Each block starts with one row and takes the next while the block's points
    stay within per_call; per_call 0: one row each (f(x) is evaluated alone,
    before the first block).
    Both implementations hand f exactly these blocks (the vectorized tier's
    calls of f are the same chunks).
    """
    return second_blocks([row.points_of_row(n, i) for i in range(n)], per_call)


def second_blocks(counts, per_call):
    """hessian_blocks() for rows of counts[i] points each (bounds: a one-sided
    row has one point more, ``second_row_points``)."""
    n = len(counts)
    blocks, i0 = [], 0
    while i0 < n:
        total = counts[i0]
        i1 = i0 + 1
        while i1 < n and total + counts[i1] <= per_call:
            total += counts[i1]
            i1 += 1
        blocks.append((i0, i1))
        i0 = i1
    return blocks


def second_row_points(sides, i):
    """Evaluations for Hessian row i with coordinate j's row sides[j]: its
    diagonal's points (p central, p + 1 one-sided) and p * p per pair (i, j > i)."""
    p = sides[i].order  # the points of a first-derivative row of order p, 0 aside
    return len(sides[i].offsets) + p * p * (len(sides) - 1 - i)


def second_points(sides):
    """Evaluations of a Hessian whose coordinate i has the row sides[i]: f(x),
    then every row's (1 + n p + n (n - 1) / 2 p**2, plus one per one-sided row)."""
    return 1 + sum(second_row_points(sides, i) for i in range(len(sides)))


def realised_step(xi, hi, row):
    """r_i, the realised step a second row's sums are divided by (twice for the
    diagonal): central ((x + h) - (x - h)) * 0.5 (the halving is exact),
    forward (x + h) - x, backward x - (x - h)."""
    if row.method == "central":
        return ((xi + hi) - (xi - hi)) * 0.5
    return (xi + hi) - xi if row.method == "forward" else xi - (xi - hi)
