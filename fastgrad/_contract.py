"""The contract both implementations share: argument checks and messages.

Standard library only, because ``fastgrad.reference`` must run without numpy.
``fastgrad`` and ``fastgrad.reference`` call these same functions, so a bad
argument raises the same exception type with the same message in both.
"""
import math
import numbers
import operator

METHODS = ("central", "forward", "backward")

#: The vectorized tier hands f at most this many bytes of stencil points per
#: call (at least one row), so memory stays bounded for any n.
VECTORIZED_CHUNK_BYTES = 32 * 2**20


def vectorized_rows_per_call(n):
    """How many stencil points (rows of n float64) one vectorized call gets."""
    return max(1, VECTORIZED_CHUNK_BYTES // (8 * n))


def describe(value):
    """A short description of what a caller passed or f returned, for messages."""
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__} of shape {tuple(shape)}"
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def is_real(value):
    # numbers.Real covers bool, int, float, Fraction and numpy's real scalars;
    # 0-d real arrays (what some numpy reductions return) are scalars too.
    if type(value) is float or type(value) is int:  # the common case, without the ABC check
        return True
    if isinstance(value, numbers.Real):
        return True
    if getattr(value, "shape", None) == ():
        kind = getattr(getattr(value, "dtype", None), "kind", None)
        return kind is not None and kind in "biuf"
    return False


def as_real(value):
    """f's return value as a float, or TypeError naming what f returned."""
    if is_real(value):
        return float(value)
    raise TypeError(f"f must return a real scalar, got {describe(value)}")


def check_callable(f, args):
    if not callable(f):
        raise TypeError(f"f must be callable, got {describe(f)}")
    if not isinstance(args, tuple):
        raise TypeError(f"args must be a tuple of extra arguments for f, got {describe(args)}")


def check_flag(value, name):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return value


def check_method(method):
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(
            f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    return method


def point_values(x):
    """x as a list of floats: non-empty, 1-D, real, finite (the slow, general path)."""
    if isinstance(x, (str, bytes)) or not hasattr(x, "__len__"):
        raise TypeError(f"x must be a 1-D sequence of real numbers, got {describe(x)}")
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) != 1:
        raise ValueError(f"x must be 1-D, got shape {tuple(shape)}")
    values = []
    for i, v in enumerate(x):
        if not is_real(v):
            if hasattr(v, "__len__") and not isinstance(v, (str, bytes)):
                raise ValueError(f"x must be 1-D, but x[{i}] is {describe(v)}")
            raise TypeError(f"x must hold real numbers, but x[{i}] is {describe(v)}")
        try:
            values.append(float(v))
        except OverflowError:  # an int beyond the float range
            raise ValueError(f"x must be finite, but x[{i}] = {v!r} overflows a float") from None
    check_point(values)
    return values


def check_point(values):
    """x already as floats: non-empty and finite."""
    if len(values) == 0:
        raise ValueError("x must not be empty")
    for i, v in enumerate(values):
        if not math.isfinite(v):
            raise ValueError(f"x must be finite, but x[{i}] = {v!r}")


def positive(value, name):
    """A positive finite real number, or the error naming the parameter."""
    if not is_real(value):
        raise TypeError(f"{name} must be a positive finite real number, got {describe(value)}")
    v = float(value)
    if not (v > 0.0 and math.isfinite(v)):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return v


def step_values(h, n):
    """h as a list of n positive finite floats (scalar h is broadcast)."""
    if is_real(h):
        return [positive(h, "h")] * n
    if isinstance(h, (str, bytes)) or not hasattr(h, "__len__"):
        raise TypeError(
            f"h must be a positive number or a sequence of {n} of them, got {describe(h)}")
    if len(h) != n:
        raise ValueError(f"h must be a scalar or a sequence of n={n} steps, got {len(h)}")
    return [positive(hi, f"h[{i}]") for i, hi in enumerate(h)]


def batch_values(X):
    """X as a list of m >= 1 rows of n floats each (the general path)."""
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) != 2:
        raise ValueError(f"X must be 2-D (one point per row), got shape {tuple(shape)}")
    if isinstance(X, (str, bytes)) or not hasattr(X, "__len__"):
        raise TypeError(f"X must be a 2-D sequence of real numbers, got {describe(X)}")
    if len(X) == 0:
        raise ValueError("X must hold at least one point")
    rows = []
    for r, row in enumerate(X):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
            raise ValueError(f"X must be 2-D (one point per row), but X[{r}] is {describe(row)}")
        try:
            rows.append(point_values(row))
        except (TypeError, ValueError) as error:
            raise type(error)(f"X[{r}]: {error}") from None
        if len(rows[-1]) != len(rows[0]):
            raise ValueError(f"X must have rows of equal length, but X[{r}] has "
                             f"{len(rows[-1])} entries and X[0] has {len(rows[0])}")
    return rows


def whole_number(value, name, minimum, wording):
    """An int >= minimum (bools and floats refused), or the ValueError naming the parameter."""
    message = f"{name} must be {wording}, got {value!r}"
    if isinstance(value, bool):
        raise ValueError(message)
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(message) from None
    if number < minimum:
        raise ValueError(message)
    return number


def check_threads(num_threads, default):
    """num_threads: None (default) or a positive int."""
    if num_threads is None:
        return default
    return whole_number(num_threads, "num_threads", 1, "a positive int or None")


def check_descent(learning_rate, max_iter, tol, ftol, callback, record):
    """The scalar arguments of gradient_descent, normalised (ftol None: off)."""
    learning_rate = positive(learning_rate, "learning_rate")
    max_iter = whole_number(max_iter, "max_iter", 0, "a non-negative int")
    if not is_real(tol) or not float(tol) >= 0.0:
        raise ValueError(f"tol must be a real number >= 0, got {tol!r}")
    if ftol is not None and (not is_real(ftol) or not float(ftol) >= 0.0):
        raise ValueError(f"ftol must be None or a real number >= 0, got {ftol!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {describe(callback)}")
    ftol = None if ftol is None else float(ftol)
    return learning_rate, max_iter, float(tol), ftol, check_flag(record, "record")


def step_too_small(i, xi, hi, row=None):
    """The error for a stencil whose realised step at coordinate i is 0 or not finite."""
    where = f"x[{i}]" if row is None else f"X[{row}, {i}]"
    return (f"h[{i}] = {hi!r} gives no usable step at {where} = {xi!r}: "
            "the realised step (x[i] + h) - (x[i] - h) rounds to 0 or is not finite")


def vectorized_shape_error(got, rows):
    return f"vectorized f must return an array of shape ({rows},), got shape {got}"


def vectorized_type_error(got):
    return f"vectorized f must return real numbers, got {got}"
