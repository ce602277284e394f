"""The contract both implementations share: argument checks and messages.

Standard library only, because ``fastgrad.reference`` must run without numpy.
``fastgrad`` and ``fastgrad.reference`` call these same functions, so a bad
argument raises the same exception type with the same message in both.
"""
import collections.abc
import math
import numbers
import operator
import sys
import warnings

METHODS = ("central", "forward", "backward", "complex")

#: The ceiling: the vectorized tier never hands f more than this many bytes of
#: stencil points in one call (one row excepted), so memory stays bounded for
#: any n; with workers=, a task of a vectorized f gets at most this much.
VECTORIZED_CHUNK_BYTES = 32 * 2**20

#: The vectorized tier's chunk: about this many bytes of points per call of f,
#: so that f's temporaries (a few arrays of the chunk's size) stay in cache.
#: Measured on Rosenbrock, a sum of squares, a matrix product and sin * exp for
#: n = 10 ... 10**4 (benchmarks/aims.py has the rows): 128 KiB to 1 MiB were
#: 1.5-3x faster than the old 32 MiB chunks from n = 300 on; a whole stencil
#: that fits goes in one call.
VECTORIZED_CACHE_BYTES = 512 * 2**10


def vectorized_rows_per_call(n):
    """How many stencil points (rows of n float64) one call of a vectorized f gets:
    VECTORIZED_CACHE_BYTES of them, never more than VECTORIZED_CHUNK_BYTES, at least one."""
    return max(1, min(VECTORIZED_CACHE_BYTES, VECTORIZED_CHUNK_BYTES) // (8 * n))


def vectorized_rows_per_task(n):
    """The most stencil points (rows of n float64) one workers= task of a vectorized
    f gets: VECTORIZED_CHUNK_BYTES of them, at least one.  A task is one call of f;
    its size is set by the task overhead, which the cache-sized chunk would multiply."""
    return max(1, VECTORIZED_CHUNK_BYTES // (8 * n))


def shape_of(value):
    """value's shape as a tuple of ints, or None if it has none that looks like one.

    Arrays (numpy's, pandas', ...) have a tuple of ints; anything else called
    ``shape`` (an int, a string, a property that raises) is not a shape.
    """
    try:
        shape = getattr(value, "shape", None)
        if shape is None or isinstance(shape, (str, bytes)):
            return None
        shape = tuple(shape)
    except Exception:  # shape = 5, a property that raises: no shape
        return None
    if all(type(s) is int or isinstance(s, numbers.Integral) for s in shape):
        return tuple(int(s) for s in shape)
    return None


def describe(value):
    """A short description of what a caller passed or f returned, for messages.

    Never raises: a broken __repr__ or an odd ``shape`` still gives a description.
    """
    name = type(value).__name__
    shape = shape_of(value)
    if shape:  # an array; a 0-d one (a numpy scalar) is shown by its value
        return f"{name} of shape {shape}"
    return f"{name} {show(value, 40)}"


def callback_answer(answer):
    """The message for a descent callback whose return value has no truth value."""
    return (f"callback must return None or a truth value (a true one stops the run), "
            f"got {describe(answer)}")


def is_real(value):
    # numbers.Real covers bool, int, float, Fraction and numpy's real scalars;
    # 0-d real arrays (what some numpy reductions return) are scalars too.
    if type(value) is float or type(value) is int:  # the common case, without the ABC check
        return True
    if isinstance(value, numbers.Real):
        # numpy registers timedelta64 as an Integral: a duration is no number here.
        return getattr(getattr(value, "dtype", None), "kind", None) != "m"
    if shape_of(value) == ():
        kind = getattr(getattr(value, "dtype", None), "kind", None)
        return isinstance(kind, str) and kind in ("b", "i", "u", "f")
    return False


def show(value, limit=60):
    """repr(value) for a message: at most `limit` characters, and never an error
    (a huge int's repr can raise; so can a broken __repr__)."""
    try:
        text = repr(value)
    except Exception:  # ints of more than sys.get_int_max_str_digits() digits, ...
        if isinstance(value, int):
            return f"<int of {value.bit_length()} bits>"
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


#: Ends the message for an int or Fraction beyond the float range.
OVERFLOWS = ", which overflows a float"


def to_float(value):
    """float(value) of a real number, or None beyond the float range (an int or
    Fraction too large).  Callers build their message only on an error."""
    try:
        return float(value)
    except OverflowError:
        return None


class PrecisionWarning(UserWarning):
    """f computes in less than double precision, and the step is not sized for it."""


def is_low_precision(value):
    """Whether f's value (a scalar or an array of them) is a float of fewer than 64 bits.

    Read from its dtype, so numpy is never imported here.
    """
    dtype = getattr(value, "dtype", None)
    return getattr(dtype, "kind", None) == "f" and getattr(dtype, "itemsize", 8) < 8


def low_precision_warning():
    """The warning for a fixed h with an f that returned float32 (or lower) values."""
    return PrecisionWarning(
        "f returned values of less than double precision (float32?): with a fixed h "
        "the rounding of f swamps the difference quotient; h=\"auto\" sizes the steps "
        "for the precision f computes in")


def _in_fastgrad(frame):
    name = frame.f_globals.get("__name__", "")
    return name == "fastgrad" or name.startswith("fastgrad.")


def warn_low_precision():
    """Issue low_precision_warning() from the caller's line: the first frame
    outside fastgrad, however many of fastgrad's own lie between (workers=,
    the prepared callables, check_grad, fastgrad.optimize...)."""
    level, frame = 2, sys._getframe(1)  # stacklevel 2: this function's caller
    while frame is not None and _in_fastgrad(frame):
        level, frame = level + 1, frame.f_back
    warnings.warn(low_precision_warning(), stacklevel=level)


def as_real(value):
    """f's return value as a float, or TypeError naming what f returned.

    An int or Fraction beyond the float range rounds to inf or -inf, as a float
    computation that overflows does: f's value is not an argument to refuse, and
    a descent stops at it as at any non-finite f.
    """
    if is_real(value):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    raise TypeError(not_scalar(value))


def not_scalar(value):
    """The message for an f that returned something other than a real scalar,
    with the fix where the mistake has an obvious one (an array of shape (1,),
    or a vector where a scalar function was meant)."""
    message = f"f must return a real scalar, got {describe(value)}"
    shape = shape_of(value)
    if shape and math.prod(shape) == 1:
        return message + "; return its one value (value.item(), or value[0])"
    if shape and len(shape) == 1:
        return (message + "; a gradient is of a function with one value: for the "
                "derivatives of each of f's values use jacobian, or, if they are terms to "
                "minimise together, return their sum")
    return message


def unpack_hint(error, f, n, args, vectorized):
    """The TypeError to raise for ``error``, a TypeError that calling f with x as
    one array raised, when f takes one number per coordinate (``unpack=True``
    forgotten); else None.

    Read from f's signature, and only on the way out of a failure: f takes n
    positional values (and args) but cannot take one, so the error is Python's
    own for the call, not one from inside f.
    """
    if not isinstance(error, TypeError) or n < 2:
        return None
    import inspect
    try:
        signature = inspect.signature(f)
        signature.bind(*([0.0] * n), *args)
    except (TypeError, ValueError):  # no signature to read, or not n numbers either
        return None
    try:
        signature.bind(0.0, *args)
        return None  # f takes one array: the error came from inside it
    except TypeError:
        pass
    name = "X[:, {}]" if vectorized else "x[{}]"
    shown = [name.format(i) for i in range(n)] if n <= 3 else [
        name.format(0), name.format(1), "...", name.format(n - 1)]
    takes = ("one column of points per coordinate, not the points as one array" if vectorized
             else "one number per coordinate, not x as one array")
    return TypeError(f"f takes {takes} ({error}): pass unpack=True to call it as "
                     f"f({', '.join(shown)})")


def check_callable(f, args):
    if not callable(f):
        raise TypeError(f"f must be callable, got {describe(f)}")
    if not isinstance(args, tuple):
        raise TypeError(f"args must be a tuple of extra arguments for f, got {describe(args)}")


def is_c_callback(f):
    """Whether f is a C function for a compiled objective: a PyCapsule, or a
    scipy.LowLevelCallable (a tuple (capsule, function, user_data) whose []
    raises).  By duck type, so that scipy stays optional."""
    if isinstance(f, tuple):
        return len(f) == 3 and type(tuple.__getitem__(f, 0)).__name__ == "PyCapsule"
    return type(f).__name__ == "PyCapsule"


def as_objective(f, args):
    """f and args checked, with a C callback wrapped as a compiled objective.

    A scipy.LowLevelCallable or PyCapsule becomes a
    ``fastgrad.objectives.CFunction`` (imported only then: it is compiled and
    needs numpy); then f must be callable and args a tuple.  Both
    implementations call this first, so f means the same in both.
    """
    if is_c_callback(f):
        try:
            from .objectives import CFunction
        except ImportError as error:
            raise ImportError("f is a C callback: calling it needs fastgrad's compiled "
                              f"objectives, which cannot be imported ({error})") from error
        f = CFunction(f)
    check_callable(f, args)
    return f


def check_flag(value, name):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return value


def check_method(method):
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(
            f"method must be one of {', '.join(map(repr, METHODS))}, got {show(method)}")
    return method


def is_sequence(value):
    """Whether value is read as a sequence of numbers: it has a length and
    indexing, and is not text, bytes, a mapping or a set (whose iteration
    yields characters, byte values, keys or an arbitrary order)."""
    if type(value) is list or type(value) is tuple:  # the common case, without the ABC checks
        return True
    return (hasattr(value, "__len__") and hasattr(value, "__getitem__")
            and not isinstance(value, (str, bytes, bytearray, collections.abc.Mapping,
                                       collections.abc.Set)))


def point_values(x):
    """x as a list of floats: non-empty, 1-D, real, finite (the slow, general path)."""
    if not is_sequence(x):
        raise TypeError(f"x must be a 1-D sequence of real numbers, got {describe(x)}")
    shape = shape_of(x)
    if shape is not None and len(shape) != 1:
        raise ValueError(f"x must be 1-D, got shape {shape}")
    values = []
    for i, item in enumerate(x):
        if not is_real(item):
            if hasattr(item, "__len__") and not isinstance(item, (str, bytes, bytearray)):
                raise ValueError(f"x must be 1-D, but x[{i}] is {describe(item)}")
            raise TypeError(f"x must hold real numbers, but x[{i}] is {describe(item)}")
        try:
            values.append(float(item))
        except OverflowError:  # an int or Fraction beyond the float range
            raise ValueError(f"x must be finite, but x[{i}] = {show(item)}{OVERFLOWS}") from None
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
    """A positive finite real number, or the error naming the parameter.

    True and False are not numbers here (TypeError); an int or Fraction beyond
    the float range is not finite (ValueError).
    """
    if type(value) is float and 0.0 < value < math.inf:  # the common case
        return value
    if isinstance(value, bool) or not is_real(value):
        raise TypeError(f"{name} must be a positive finite real number, got {describe(value)}")
    v = to_float(value)
    if v is None or not (v > 0.0 and math.isfinite(v)):
        raise ValueError(f"{name} must be positive and finite, got {show(value)}"
                         + (OVERFLOWS if v is None else ""))
    return v


def non_negative(value, name, wording):
    """A real number >= 0 (inf included) as a float, else ValueError: {name} must be {wording}."""
    if type(value) is float and value >= 0.0:  # the common case
        return value
    v = None if isinstance(value, bool) or not is_real(value) else to_float(value)
    if v is None or not v >= 0.0:
        overflows = v is None and is_real(value) and not isinstance(value, bool)
        raise ValueError(f"{name} must be {wording}, got {show(value)}"
                         + (OVERFLOWS if overflows else ""))
    return v


#: Machine epsilon of double and single precision: h="auto" sizes steps for the
#: precision f computes in (float32 results: the float32 epsilon).
EPS64 = 2.0 ** -52
EPS32 = 2.0 ** -23

#: The step rules h may name instead of a number.
STEP_RULES = ("auto", "adaptive")


def shrunk_step_too_small(i, xi, hi, step, lbi, ubi, row=None):
    """The error for a step the bounds shrank to one that rounds away at x[i]."""
    where = f"x[{i}]" if row is None else f"X[{row}, {i}]"
    return (f"bounds [{lbi!r}, {ubi!r}] shrink the step at {where} = {xi!r} from "
            f"{hi!r} to {step!r}, which gives no usable step: the realised step "
            "rounds to 0 or is not finite")


def complex_compiled():
    """The error for method="complex" with a compiled objective or a C callback."""
    return TypeError("method='complex' evaluates f at complex points, and f is a compiled "
                     "objective (fastgrad.objectives or a C callback), which takes real "
                     "input only: use method='central' (or h=\"adaptive\") for it")


def complex_raised(error):
    """The error for an f that raised TypeError at a complex point."""
    text = str(error)
    text = text if len(text) <= 120 else text[:117] + "..."
    return TypeError(f"method='complex' evaluates f at complex points, and f cannot take "
                     f"complex input: it raised TypeError: {text}; "
                     "use a real method (method='central') for such an f")


def complex_returned_real(value):
    """The error for an f that returned a real value at a complex point."""
    return TypeError(f"method='complex' needs f to return a complex value at complex points, "
                     f"got {describe(value)}: f drops the imaginary part of its input "
                     "(float(), np.real, a real-only function), which would silently give "
                     "a zero gradient; use a real method (method='central') for such an f")


def complex_not_number(value):
    return TypeError(f"f must return a complex scalar with method='complex', "
                     f"got {describe(value)}")


def complex_adaptive():
    """The error for h="adaptive" with method="complex"."""
    return ValueError('h="adaptive" extrapolates real stencils; method=\'complex\' has no '
                      'cancellation and is accurate to rounding with h="auto" or a fixed h')


def complex_descent():
    """The error for method="complex" in gradient_descent (its loop is compiled)."""
    return ValueError("method='complex' is for gradient, gradient_batch and "
                      "gradient_descent_step: gradient_descent runs its loop in the compiled "
                      "core, which evaluates f at real points; use h=\"auto\" there")


def unbounded_optimizer(optimizer):
    """The error for bounds= with an optimizer whose updates cannot be projected."""
    return ValueError(f"bounds are not supported by {optimizer!r}: its line search and "
                      f"curvature pairs assume steps that are not projected (L-BFGS-B is "
                      f"not implemented); use optimizer='sgd' or 'armijo' with bounds")


def gradient_only(name):
    """The error for h="adaptive" where only gradient() and gradient_batch() take it."""
    return ValueError(f'h="adaptive" is for gradient() and gradient_batch() (Richardson '
                      f'extrapolation over {name}\'s every gradient would multiply its cost '
                      f'tenfold): use h="auto" here')


def step_values(h, n):
    """h as a list of n positive finite floats (scalar h is broadcast), "auto" or "adaptive"."""
    if is_real(h):
        return [positive(h, "h")] * n
    if isinstance(h, str):
        if h in STEP_RULES:
            return h
        rules = ", ".join(map(repr, STEP_RULES[:-1])) + f" or {STEP_RULES[-1]!r}"
        raise ValueError(f"h must be a positive number, a sequence of {n} of them, "
                         f"{rules}, got {h!r}")
    if not is_sequence(h):
        raise TypeError(
            f"h must be a positive number or a sequence of {n} of them, got {describe(h)}")
    if len(h) != n:
        raise ValueError(f"h must be a scalar or a sequence of n={n} steps, got {len(h)}")
    return [positive(hi, f"h[{i}]") for i, hi in enumerate(h)]


def array_form(X):
    """X's own array form if it has one and is not a numpy array: ``X.__array__()``.

    A pandas DataFrame iterates over its column labels, not its rows; its
    array form is its values, one row per point.  numpy arrays (subclasses
    too: masked arrays, matrices) are read as they are, item by item.  numpy
    is never imported here: only an object that brings ``__array__`` along
    has it called.
    """
    if isinstance(X, (list, tuple)) or not hasattr(type(X), "__array__"):
        return X
    numpy = sys.modules.get("numpy")  # loaded if X is one of its arrays
    if numpy is not None and isinstance(X, numpy.ndarray):
        return X
    return X.__array__()


def batch_values(X):
    """X as a list of m >= 1 rows of n floats each (the general path)."""
    X = array_form(X)
    shape = shape_of(X)
    if shape is not None and len(shape) != 2:
        raise ValueError(f"X must be 2-D (one point per row), got shape {shape}")
    if not is_sequence(X):
        raise TypeError(f"X must be a 2-D sequence of real numbers, got {describe(X)}")
    if len(X) == 0:
        raise ValueError("X must hold at least one point")
    rows = []
    for r, row in enumerate(X):
        if isinstance(row, (str, bytes, bytearray)) or not hasattr(row, "__len__"):
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
    number = None
    if not isinstance(value, bool):
        try:
            number = operator.index(value)
        except TypeError:
            pass
    if number is None or number < minimum:
        raise ValueError(f"{name} must be {wording}, got {show(value)}")
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
    tol = non_negative(tol, "tol", "a real number >= 0")
    if ftol is not None:
        ftol = non_negative(ftol, "ftol", "None or a real number >= 0")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {describe(callback)}")
    return learning_rate, max_iter, tol, ftol, check_flag(record, "record")


def check_state(state, optimizer, n):
    """gradient_descent's state: None, or the DescentState of an earlier run with
    an optimizer of the same class (``optimizer``: its name) in n dimensions."""
    if state is None:
        return None
    from ._result import DescentState
    if not isinstance(state, DescentState):
        raise TypeError("state must be None or the DescentState of an earlier run "
                        f"(result.state), got {describe(state)}")
    if state.optimizer != optimizer:
        raise ValueError(f"state is from a run with the {state.optimizer} optimizer, "
                         f"but this run's optimizer is {optimizer}")
    if state.n != n:
        raise ValueError(f"state is from a run in {state.n} dimensions, but x0 has {n} "
                         "coordinates")
    return state


def step_too_small(i, xi, hi, row=None):
    """The error for a stencil whose realised step at coordinate i is 0 or not finite."""
    where = f"x[{i}]" if row is None else f"X[{row}, {i}]"
    return (f"h[{i}] = {hi!r} gives no usable step at {where} = {xi!r}: "
            "the realised step (x[i] + h) - (x[i] - h) rounds to 0 or is not finite")


def vectorized_shape_error(got, rows):
    """got: a shape tuple, or a description of what f returned."""
    if isinstance(got, tuple):
        got = f"shape {got}"
    return f"vectorized f must return an array of shape ({rows},), got {got}"


def vectorized_type_error(got):
    return f"vectorized f must return real numbers, got {got}"


def vectorized_values(result, rows):
    """What a vectorized f returned for `rows` points, as a list of floats.

    Both implementations read f's result through this function (the compiled
    tier after its own fast path for real ndarrays of the right shape), so a
    wrong result gets the same exception and message in both:

    * ValueError if it is not a sequence of `rows` scalars: an array of another
      shape, a list of another length, nested lists, a scalar;
    * TypeError if an entry is not a real number.
    """
    shape = shape_of(result)
    if shape is not None:
        if shape != (rows,):
            raise ValueError(vectorized_shape_error(shape, rows))
    elif not is_sequence(result):
        raise ValueError(vectorized_shape_error(describe(result), rows))
    elif len(result) != rows:
        raise ValueError(vectorized_shape_error((len(result),), rows))
    values = []
    for v in result:
        if not is_real(v):
            inner = shape_of(v)
            if inner is None and is_sequence(v):
                inner = (len(v),)
            if inner:  # a nested list, or an object array holding sequences
                raise ValueError(vectorized_shape_error((rows,) + inner, rows))
            raise TypeError(vectorized_type_error(describe(v)))
        values.append(as_real(v))  # an int beyond the float range: +-inf
    return values


def _bound_values(value, name, n):
    """One side of bounds as a list of n floats: a real scalar (broadcast) or a
    sequence of n; infinities allowed, nan not."""
    if is_real(value) and not isinstance(value, bool):
        try:
            values = [float(value)] * n
        except OverflowError:
            values = [math.inf if value > 0 else -math.inf] * n
    elif is_sequence(value):
        if len(value) != n:
            raise ValueError(f"{name} must be a scalar or a sequence of n={n} bounds, "
                             f"got {len(value)}")
        values = []
        for i, v in enumerate(value):
            if not is_real(v) or isinstance(v, bool):
                raise TypeError(f"{name}[{i}] must be a real number, got {describe(v)}")
            try:
                values.append(float(v))
            except OverflowError:
                values.append(math.inf if v > 0 else -math.inf)
    else:
        raise TypeError(f"{name} must be a real number or a sequence of {n} of them, "
                        f"got {describe(value)}")
    for i, v in enumerate(values):
        if math.isnan(v):
            raise ValueError(f"{name}[{i}] must not be nan")
    return values


def check_bounds(bounds, x, row=None):
    """bounds=(lb, ub) for the point x (floats; row r of X if row is given):
    None, or (lb, ub) as lists of n floats.

    lb <= x <= ub coordinate by coordinate; -inf/inf leave a side open.
    """
    if bounds is None:
        return None
    if not is_sequence(bounds) or len(bounds) != 2:
        raise TypeError(f"bounds must be a pair (lb, ub) of numbers or sequences of n, "
                        f"got {describe(bounds)}")
    n = len(x)
    lb, ub = _bound_values(bounds[0], "lb", n), _bound_values(bounds[1], "ub", n)
    for i in range(n):
        if lb[i] > ub[i]:
            raise ValueError(f"bounds: lb[{i}] = {lb[i]!r} > ub[{i}] = {ub[i]!r}")
    for i in range(n):
        if not lb[i] <= x[i] <= ub[i]:
            where = f"x[{i}]" if row is None else f"X[{row}, {i}]"
            raise ValueError(f"{where} = {x[i]!r} is outside the bounds "
                             f"[{lb[i]!r}, {ub[i]!r}]")
    return lb, ub


def clip(v, lbi, ubi):
    """v projected onto [lbi, ubi] (a NaN stays NaN; the compiled core's clip)."""
    if v < lbi:
        return lbi
    if v > ubi:
        return ubi
    return v


def project(x, lb, ub):
    """The point x projected onto the box [lb, ub], coordinate by coordinate."""
    return [clip(v, lbi, ubi) for v, lbi, ubi in zip(x, lb, ub)]


def projected_norm(x, g, lb, ub):
    """|g| without the entries that push x out through a bound it is on (the
    projected gradient's norm, L-BFGS-B's pgtol test), summed in index order."""
    total = 0.0
    for xi, gi, lbi, ubi in zip(x, g, lb, ub):
        if (xi <= lbi and gi > 0.0) or (xi >= ubi and gi < 0.0):
            continue
        total += gi * gi
    return math.sqrt(total)


def no_room(i, xi, lbi, ubi, row=None):
    """The error for a coordinate whose bounds leave no room for any stencil."""
    where = f"x[{i}]" if row is None else f"X[{row}, {i}]"
    return (f"bounds leave no room for a stencil at {where} = {xi!r}: "
            f"lb[{i}] = {lbi!r}, ub[{i}] = {ubi!r}")


# -- second derivatives (hessian, hessian_vector) ---------------------------------

def second_method_only(method):
    """The error for a one-sided method where only central second differences exist."""
    return ValueError(f"method must be 'central' for second derivatives (hessian, "
                      f"hessian_vector), got {method!r}")


def second_rule_only(name):
    """The error for h="adaptive" where a second derivative does not take it."""
    return ValueError(f'h="adaptive" is not offered for {name}(): it takes a fixed h '
                      f'or h="auto"')


def second_stencil_error(x, steps, choices, bad, box):
    """The ValueError for a Hessian's coordinate bad without a usable stencil:
    choices[bad] is None (the bounds box leaves no room), or (row, step) whose
    realised step rounds away (a step the bounds shrank, or h itself)."""
    if choices[bad] is None:
        return ValueError(no_room(bad, x[bad], box[0][bad], box[1][bad]))
    step = choices[bad][1]
    if step != steps[bad]:  # the bounds shrank the step
        return ValueError(shrunk_step_too_small(bad, x[bad], steps[bad], step, box[0][bad],
                                                box[1][bad]))
    return ValueError(step_too_small(bad, x[bad], step))


def direction_values(v, n):
    """v (hessian_vector's direction) as a list of n finite floats."""
    if not is_sequence(v):
        raise TypeError(f"v must be a 1-D sequence of n={n} real numbers, got {describe(v)}")
    shape = shape_of(v)
    if shape is not None and len(shape) != 1:
        raise ValueError(f"v must be 1-D, got shape {shape}")
    if len(v) != n:
        raise ValueError(f"v must have x's length n={n}, got {len(v)}")
    values = []
    for i, item in enumerate(v):
        if not is_real(item):
            if hasattr(item, "__len__") and not isinstance(item, (str, bytes, bytearray)):
                raise ValueError(f"v must be 1-D, but v[{i}] is {describe(item)}")
            raise TypeError(f"v must hold real numbers, but v[{i}] is {describe(item)}")
        value = to_float(item)
        if value is None or not math.isfinite(value):
            raise ValueError(f"v must be finite, but v[{i}] = {show(item)}"
                             + (OVERFLOWS if value is None else ""))
        values.append(value)
    return values


def direction_step_too_small(i, xi, s, vi):
    """The error for a move along v that leaves the finite range or rounds away."""
    return (f"the step {s!r} along v gives no usable point at x[{i}] = {xi!r} "
            f"(v[{i}] = {vi!r}): x[{i}] + s * v[{i}] is not finite")

# -- workers= (fastgrad._workers) ----------------------------------------------

def workers_type(workers):
    return (
        "workers must be None, an int (processes; -1: all cores), a map-like callable "
        "workers(func, iterable) such as Pool.map or ThreadPoolExecutor().map, a "
        f"concurrent.futures.Executor or a dask.distributed.Client, got {describe(workers)}")


def workers_count(workers):
    return f"workers must be a positive int or -1 (all cores), got {show(workers)}"


def workers_unsendable(name, value, error):
    return (f"workers: {name} must be sent to worker processes but cannot be pickled "
            f"({type(error).__name__}: {error}); define it at module level (a lambda or a "
            "local function cannot be pickled), or use threads: "
            "workers=ThreadPoolExecutor(k).map")


def workers_map_results(problem, value=None):
    """The error for a map-like workers= whose results are not func's, one per
    item, in order: problem "fewer", "more", "result" (value: a result that is
    not func's) or "iterable" (value: what it returned instead of an iterable)."""
    got = {"fewer": "fewer results than items", "more": "more results than items",
           "result": f"{describe(value)} where a result of func belongs",
           "iterable": f"{describe(value)}, not an iterable of results"}[problem]
    return (f"workers must map like map(func, iterable), one result of func per item "
            f"in order; it returned {got}")


def worker_died(error):
    return (f"workers: a worker process died while evaluating f ({type(error).__name__}: "
            f"{error}); the outstanding evaluations were cancelled")


def compiled_tier(f, args, unpack, vectorized):
    """Whether f runs on the compiled tier (a compiled objective, called as
    such): the only tier that can use num_threads.  Read from f's classes, so
    the compiled objectives are never imported here."""
    for c in type(f).__mro__:
        if c.__name__ == "Objective" and c.__module__ == "fastgrad.objectives":
            return type(f).__call__ is c.__call__ and not args and not unpack \
                and not vectorized
    return False


def threads_need_workers(num_threads):
    return ValueError(
        f"num_threads={num_threads} needs a compiled objective (fastgrad.objectives, or a "
        "C callback) called without args, unpack or vectorized: any other f is evaluated "
        "by the calling thread. To evaluate a Python f on several threads or processes, "
        "pass workers= (an int, Pool.map, an Executor or a dask Client)")


def workers_complex():
    return ValueError('workers= does not take method="complex": the complex step runs in '
                      "this process (its evaluations are cheap next to a real f's: use "
                      'method="central" to spread an expensive f)')


# -- vector-valued f (jacobian) ------------------------------------------------

def vector_shape_error(got, m=None, vectorized_rows=None):
    """The error for a vector-valued f returning the wrong shape: got is a shape
    tuple or a description; m the length of f(x) (None: f(x) itself is wrong);
    vectorized_rows: the points a vectorized f got."""
    if isinstance(got, tuple):
        got = f"shape {got}"
    if vectorized_rows is not None:
        want = f"({vectorized_rows}, m) with m >= 1" if m is None else \
            f"({vectorized_rows}, {m}) (m = {m}, the length of f(x))"
        return f"vectorized f must return an array of shape {want}, got {got}"
    if m is None:
        return f"f must return a 1-D sequence of m >= 1 real numbers, shape (m,), got {got}"
    return f"f must return shape ({m},) (m = {m}, the length of f(x)), got {got}"


def vector_type_error(got, vectorized=False):
    return f"{'vectorized ' if vectorized else ''}f must return real numbers, got {got}"


def _entries(result, want, error):
    """The entries of a 1-D result of length `want` (None: any length >= 1)."""
    shape = shape_of(result)
    if shape is not None:
        if len(shape) != 1 or (want is None and shape[0] == 0) or \
                (want is not None and shape[0] != want):
            raise ValueError(error(shape))
    elif not is_sequence(result):
        raise ValueError(error(describe(result)))
    elif len(result) == 0 or (want is not None and len(result) != want):
        raise ValueError(error((len(result),)))
    return result


def _real_entries(entries, outer, error, vectorized):
    """The entries as floats (an int beyond the float range: +-inf), and whether
    one of them (or the whole) is a float of less than double precision."""
    values, low = [], is_low_precision(outer)
    for v in entries:
        if not is_real(v):
            inner = shape_of(v)
            if inner is None and is_sequence(v):
                inner = (len(v),)
            if inner:  # nested deeper than f may return
                raise ValueError(error(inner))
            raise TypeError(vector_type_error(describe(v), vectorized))
        if not low and is_low_precision(v):
            low = True
        values.append(as_real(v))
    return values, low


def vector_values(result, m=None):
    """What a vector-valued f returned, as (list of m floats, low precision).

    m: the length of f(x) (None: this is f(x); any m >= 1).  Both
    implementations read f's result through here (the compiled tiers after a
    fast path for float64 arrays of the right shape): ValueError if it is not
    a 1-D sequence of m real numbers (a scalar, another length, nested), TypeError
    for an entry that is not a real number.
    """
    def error(got):
        return vector_shape_error(got, m)
    entries = _entries(result, m, error)
    return _real_entries(entries, result, lambda inner: error(
        (len(entries),) + tuple(inner)), False)


def vectorized_vector_values(result, rows, m=None):
    """What a vectorized vector-valued f returned for `rows` points: a list of
    rows lists of m floats, and low precision; shape (rows, m) or an error."""
    def error(got):
        return vector_shape_error(got, m, rows)
    shape = shape_of(result)
    if shape is not None:
        if len(shape) != 2 or shape[0] != rows or shape[1] == 0 or \
                (m is not None and shape[1] != m):
            raise ValueError(error(shape))
    elif not is_sequence(result):
        raise ValueError(error(describe(result)))
    elif len(result) != rows:
        raise ValueError(error((len(result),)))
    out, low = [], is_low_precision(result)
    for r in result:
        inner = shape_of(r)
        if inner is None and is_sequence(r):
            inner = (len(r),)
        if inner is None or inner == ():  # a number where a row of m belongs
            raise ValueError(error((rows,)))
        if len(inner) != 1 or inner[0] == 0 or (m is not None and inner[0] != m):
            raise ValueError(error((rows,) + tuple(inner)))
        if m is None:
            m = inner[0]
        values, row_low = _real_entries(r, r, lambda inner_: error((rows, m) + tuple(inner_)),
                                        True)
        out.append(values)
        low = low or row_low
    return out, low


def jacobian_option_refused(name, value):
    """The error for an option jacobian (or the prepared classes) does not offer."""
    return ValueError(f"{name}={show(value)} is not offered by this function yet "
                      f"(gradient() has it); leave {name} at its default")


def epsilon_shape(shape, n):
    """fastgrad.optimize.approx_fprime's epsilon neither a number nor n of them."""
    return f"epsilon must be a number or a sequence of n = {n} of them, got shape {shape}"


def epsilon_unusable(j, xj, hj):
    """fastgrad.optimize.approx_fprime's step at xk[j] not finite."""
    return (f"epsilon gives no usable step at xk[{j}] = {xj!r}: (xk[{j}] + {hj!r}) - "
            f"xk[{j}] is not finite")


def number_step(h):
    """A prepared callable's h checked when it is made, where its error does not
    depend on n (a number, as Gradient checks it); other h at each call."""
    if is_real(h):
        positive(h, "h")


def jacobian_options(f, h, method, order, args, unpack, vectorized, full_output, workers,
                     stencil_row, complex_step_ok=True):
    """jacobian's options but x and bounds (the prepared Jacobian's too), checked in
    one order for both implementations: (f, row, unpack, vectorized, full_output).

    stencil_row(method, order): the implementation's row, or the error; workers:
    as given or an opened ``_workers.Engine``; complex_step_ok False refuses
    method="complex" (fastgrad.optimize's Jacobian), which takes neither
    full_output nor workers.
    """
    from . import _complex, _workers  # (both import this module)
    if workers is not None and type(workers) is not _workers.Engine:
        _workers.Engine(workers)  # its checks (a pool is made only when tasks run)
    f = as_objective(f, args)  # a C callback becomes a CFunction objective
    row = stencil_row(method, order)
    if row.method == "complex" and not complex_step_ok:
        raise jacobian_option_refused("method", "complex")
    unpack = check_flag(unpack, "unpack")
    vectorized = check_flag(vectorized, "vectorized")
    full_output = check_flag(full_output, "full_output")
    if row.method == "complex":
        if full_output:
            raise jacobian_option_refused("full_output", full_output)
        _complex.check(f, h)  # a compiled f: TypeError naming method
        if workers is not None:
            raise workers_complex()
    return f, row, unpack, vectorized, full_output


# -- derivative and check_grad ---------------------------------------------------

def derivative_point(x):
    """derivative()'s x as (list of floats in C order, shape): a real number
    (shape None) or a non-empty array-like of them, finite."""
    if is_real(x) and shape_of(x) in (None, ()):
        if isinstance(x, bool):
            raise TypeError(f"x must be a real number or an array of them, got {describe(x)}")
        v = to_float(x)
        if v is None or not math.isfinite(v):
            raise ValueError(f"x must be finite, got {show(x) if v is None else repr(v)}"
                             + (OVERFLOWS if v is None else ""))
        return [v], None
    if not is_sequence(x) or shape_of(x) == ():  # a 0-d array of no real number has no len()
        raise TypeError(f"x must be a real number or an array of them, got {describe(x)}")
    values, shape = [], []

    def walk(item, depth, where):
        if is_real(item) and shape_of(item) in (None, ()):
            if len(shape) != depth:
                raise ValueError(f"x must be a regular array, but x{where} is a number")
            v = to_float(item)
            if v is None or not math.isfinite(v):
                raise ValueError(f"x must be finite, but x{where} = "
                                 f"{show(item) if v is None else repr(v)}"
                                 + (OVERFLOWS if v is None else ""))
            values.append(v)
            return
        if not is_sequence(item) or shape_of(item) == ():
            raise TypeError(f"x must hold real numbers, but x{where} is {describe(item)}")
        if len(shape) == depth:
            if values:
                raise ValueError(f"x must be a regular array, but x{where} is a sequence")
            shape.append(len(item))
        elif shape[depth] != len(item):
            raise ValueError(f"x must be a regular array, but x{where} has length "
                             f"{len(item)}, not {shape[depth]}")
        for i, sub in enumerate(item):
            walk(sub, depth + 1, f"{where}[{i}]")

    walk(x, 0, "")
    if not values:
        raise ValueError("x must not be empty")
    return values, tuple(shape)


def derivative_steps(h):
    """derivative()'s h: a positive number or "auto"."""
    if isinstance(h, str):
        if h == "auto":
            return h
        raise ValueError(f'h must be a positive number or "auto", got {h!r}')
    return positive(h, "h")


def derivative_shape_error(got, shape):
    return f"f must return an array of x's shape {shape}, got {got}"


def check_direction(direction):
    if not isinstance(direction, str) or direction not in ("all", "random"):
        raise ValueError(f"direction must be 'all' or 'random', got {show(direction)}")
    return direction


def check_seed(seed):
    """check_grad's seed: None (fresh entropy) or an int."""
    if seed is not None and (isinstance(seed, bool) or not hasattr(type(seed), "__index__")):
        raise TypeError(f"seed must be an int or None, got {describe(seed)}")
    return None if seed is None else type(seed).__index__(seed)


def grad_values(result, n):
    """What check_grad's grad returned: n real numbers, as floats."""
    def error(got):
        if isinstance(got, tuple):
            got = f"shape {got}"
        return f"grad must return n = {n} real numbers (shape ({n},)), got {got}"
    shape = shape_of(result)
    if shape is not None:
        if shape != (n,):
            raise ValueError(error(shape))
    elif not is_sequence(result):
        raise ValueError(error(describe(result)))
    elif len(result) != n:
        raise ValueError(error((len(result),)))
    values = []
    for v in result:
        if not is_real(v):
            raise TypeError(f"grad must return real numbers, got {describe(v)}")
        values.append(as_real(v))
    return values


def random_direction(n, seed):
    """check_grad's direction="random": a unit vector of n from
    random.Random(seed) (normal entries, normalised), the same in both
    implementations and on every platform."""
    import random
    rng = random.Random(seed)
    while True:
        v = [rng.gauss(0.0, 1.0) for _ in range(n)]
        total = 0.0
        for vi in v:
            total = total + vi * vi
        norm = math.sqrt(total)
        if norm > 0.0:
            return [vi / norm for vi in v]


def difference_norm(a, b):
    """sqrt(sum (a_i - b_i)**2), summed in index order (both implementations)."""
    total = 0.0
    for ai, bi in zip(a, b):
        d = ai - bi
        total = total + d * d
    return math.sqrt(total)


def dot(a, b):
    """sum a_i b_i in index order (both implementations)."""
    total = 0.0
    for ai, bi in zip(a, b):
        total = total + ai * bi
    return total
