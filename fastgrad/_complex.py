"""The complex step (method="complex"), written once for both implementations.

Standard library only.  For an f analytic near x (real for real input),

    f(x + i h e_i) = f(x) + i h f_i'(x) - h**2 f_ii''(x) / 2 - i h**3 f_iii'''(x) / 6 + ...

so g_i = Im f(x + i h e_i) / h has error O(h**2) and no difference of nearly
equal values: no cancellation, so h can be far below sqrt(eps) (Squire & Trapp,
SIAM Review 40, 1998; Martins, Sturdza & Alonso, ACM TOMS 29, 2003).  The row
is ``_stencils.COMPLEX``: one imaginary offset, weight 1, divided by h exactly
(the imaginary part of x + i h is h itself: there is no realised step).

The tiers differ only in how f is called (``values``: points -> f's values,
complex); fastgrad's are in ``fastgrad._complex_tiers`` (complex128 arrays),
the reference's in ``fastgrad.reference`` (lists).  This module turns f's
values into the gradient, the h="auto" steps and the error estimate.
"""
import math
import numbers

from . import _contract as contract
from ._accuracy import NOISE, SAFETY, judge
from ._contract import EPS32, EPS64
from ._stencils import COMPLEX

#: h="auto": h_i = STEP * max(1, |x_i|).  With no cancellation, rounding does
#: not grow as h shrinks; the truncation, h**2 |f'''| / 6 relative to |f'|, is
#: then eps**2 times f's curvature ratio on the scale max(1, |x_i|) -- below
#: rounding unless f varies on a scale 1e-8 of x (where no real stencil helps
#: either).  Not smaller: the imaginary parts f carries, ~ h |f'|, must stay
#: normal numbers (underflow needs |f'| < 1e-292 here).  scipy's
#: approx_derivative(method="cs") takes sqrt(eps), whose h**2 truncation is
#: of the order of rounding already.
STEP = EPS64

#: The row's terms, read once: imaginary offsets, float weights, nominal span.
OFFSETS = COMPLEX.point_offsets
WEIGHTS = COMPLEX.float_weights
WIDTH = float(COMPLEX.span[0] - COMPLEX.span[1])


def steps(h, x):
    """The step of each coordinate: h (a list of n) or h="auto"'s relative steps."""
    if type(h) is str:  # "auto"
        return [STEP * max(1.0, abs(xi)) for xi in x]
    return h


def is_compiled(f):
    """Whether f is evaluated by fastgrad's compiled tier (an Objective whose
    __call__ is the compiled one), which takes real input only.  By class name,
    so that fastgrad.reference imports nothing compiled."""
    for cls in type(f).__mro__:
        if cls.__name__ == "Objective" and cls.__module__ == "fastgrad.objectives":
            return type(f).__call__ is cls.__call__
    return False


def check(f, h):
    """The checks method="complex" adds (after the common ones): f takes complex
    input, h is not "adaptive"."""
    if is_compiled(f):
        raise contract.complex_compiled()
    if type(h) is str and h == "adaptive":
        raise contract.complex_adaptive()


def call(f, argument, unpack, args):
    """f at one complex point (or block of them), its TypeError explained."""
    try:
        return f(*argument, *args) if unpack else f(argument, *args)
    except TypeError as error:
        raise contract.complex_raised(error) from error


def as_complex(value):
    """What f returned at a complex point, as a complex; TypeError for a real
    value (f dropped the imaginary part) or anything else."""
    if type(value) is complex:
        return value
    if contract.is_real(value):
        raise contract.complex_returned_real(value)
    if isinstance(value, numbers.Complex):  # numpy's complex scalars
        return complex(value)
    if contract.shape_of(value) == () and getattr(getattr(value, "dtype", None), "kind",
                                                  None) == "c":
        return complex(value)  # a 0-d complex array
    raise contract.complex_not_number(value)


def is_low_precision(value):
    """Whether f's value is complex of less than double precision (complex64)."""
    dtype = getattr(value, "dtype", None)
    return getattr(dtype, "kind", None) == "c" and getattr(dtype, "itemsize", 16) < 16


def vectorized_values(result, rows):
    """What a vectorized f returned for `rows` complex points, as complex numbers."""
    shape = contract.shape_of(result)
    if shape is not None:
        if shape != (rows,):
            raise ValueError(contract.vectorized_shape_error(shape, rows))
        if getattr(getattr(result, "dtype", None), "kind", None) == "c":
            return result.tolist()  # numpy: Python complex numbers, the same bits
    elif not contract.is_sequence(result):
        raise ValueError(contract.vectorized_shape_error(contract.describe(result), rows))
    elif len(result) != rows:
        raise ValueError(contract.vectorized_shape_error((len(result),), rows))
    return [as_complex(v) for v in result]


def points(x, h):
    """The points of the gradient, in evaluation order: (i, complex value of x[i])."""
    return [(i, complex(x[i], offset * h[i])) for i in range(len(x)) for offset in OFFSETS]


def combine(values, h):
    """The gradient from f's values at ``points(x, h)``: per coordinate the
    weighted imaginary parts, divided by the nominal span times h_i."""
    per = len(OFFSETS)
    g = []
    for i, hi in enumerate(h):
        total = None
        for t, weight in enumerate(WEIGHTS):
            term = weight * values[i * per + t].imag
            total = term if total is None else total + term
        g.append(total / (WIDTH * hi))
    return g


def gradient(values, x, h):
    """(gradient, f's values) at x with steps h; values(points) -> complex values."""
    fv = values(points(x, h))
    return combine(fv, h), fv


def full_output(values, x, h, low_precision):
    """(grad, error, nfev, success, message) from the gradients with steps h and 2h.

    Per entry: SAFETY * |g(h) - g(2h)| / 3 (the O(h**2) truncation, Richardson)
    plus NOISE * eps * |g_i| (the imaginary part is computed to f's relative
    rounding: nothing cancels).  f(x) for the success test is the real part of
    f at the first point, which differs from f(x) by O(h**2).  Costs 2n
    evaluations (n for the gradient, n for the estimate).
    """
    g, fv = gradient(values, x, h)
    g_double, _ = gradient(values, x, [2.0 * hi for hi in h])
    eps = EPS32 if low_precision() else EPS64
    factor = 2.0 ** COMPLEX.order - 1.0
    errors = [SAFETY * abs(gi - di) / factor + NOISE * eps * abs(gi)
              for gi, di in zip(g, g_double)]
    fx = fv[0].real
    success, message = judge(g, errors, fx, x, eps)
    if not all(math.isfinite(v.imag) and math.isfinite(v.real) for v in fv):
        success, message = False, ("f is not finite at x or near it: the gradient is "
                                   "not reliable")
    return g, errors, 2 * len(fv), success, message


# -- a vector-valued f (jacobian) --------------------------------------------------

def vector_values(result, m=None):
    """What a vector f returned at one complex point: a list of m complex
    numbers (m None: f's first value, any m >= 1); the errors as
    _contract.vector_values gives them for real points, and as_complex's."""
    def error(got):
        return contract.vector_shape_error(got, m)
    shape = contract.shape_of(result)
    if shape is not None and getattr(getattr(result, "dtype", None), "kind", None) == "c":
        if len(shape) != 1 or shape[0] == 0 or (m is not None and shape[0] != m):
            raise ValueError(error(shape))
        return result.tolist()  # numpy: Python complex numbers, the same bits
    return [as_complex(v) for v in contract._entries(result, m, error)]


def vectorized_vector_values(result, rows, m=None):
    """What a vectorized vector f returned for `rows` complex points: rows
    lists of m complex numbers (shape (rows, m))."""
    def error(got):
        return contract.vector_shape_error(got, m, rows)
    shape = contract.shape_of(result)
    if shape is not None:
        if len(shape) != 2 or shape[0] != rows or shape[1] == 0 or \
                (m is not None and shape[1] != m):
            raise ValueError(error(shape))
    elif not contract.is_sequence(result):
        raise ValueError(error(contract.describe(result)))
    elif len(result) != rows:
        raise ValueError(error((len(result),)))
    out = []
    for r in result:
        out.append(vector_values(r, m))
        m = len(out[-1])
    return out


class Reader:
    """How a tier reads f's values at complex points: one complex number each
    (gradient), or with vector m of them, m from f's first value (jacobian)."""

    def __init__(self, vector=False):
        self.vector, self.m = vector, None

    def one(self, value):
        if not self.vector:
            return as_complex(value)
        row = vector_values(value, self.m)
        self.m = len(row)
        return row

    def rows(self, result, k):
        if not self.vector:
            return vectorized_values(result, k)
        got = vectorized_vector_values(result, k, self.m)
        self.m = len(got[0])
        return got


def jacobian(values, x, h):
    """The Jacobian (m lists of n) at x with steps h from a vector f's values at
    ``points(x, h)`` (n evaluations, no f(x)): row r is, bit for bit, the
    gradient of output r."""
    fv = values(points(x, h))
    return [combine([v[r] for v in fv], h) for r in range(len(fv[0]))]
