# cython: language_level=3
"""Compiled objectives: scalar functions that fastgrad evaluates in C, without the GIL.

Design
------
An ``Objective`` is two things at once:

* an ordinary Python callable, ``obj(x) -> float``, so ``fastgrad.reference``
  (and any other code) can use it unchanged;
* a C method ``value(x, n)`` that the core calls directly, with the GIL
  released, for every stencil point.  ``obj(x)`` calls the same ``value``, so
  the compiled tier and the reference agree bit for bit.

Built-in objectives copy their parameters once, at construction, into
float64 arrays that nothing can write to; __init__ runs once; objectives are
immutable and thread-safe.
``CFunction`` wraps a user C function (scipy.LowLevelCallable, a PyCapsule
from Cython's ``__pyx_capi__``, or ``wrap_c_function`` from Cython code).
"""
from cpython.pycapsule cimport (PyCapsule_CheckExact, PyCapsule_GetContext,
                                PyCapsule_GetName, PyCapsule_GetPointer)
from libc.limits cimport INT_MAX
from libc.math cimport NAN, exp, log1p, fabs
cimport numpy as cnp

import math

import numpy as np

cnp.import_array()

from . import _contract as contract
from ._contract import OVERFLOWS, describe, is_real, show, to_float, whole_number

__all__ = ["Objective", "Sphere", "Rosenbrock", "Quadratic", "LeastSquares", "LogisticLoss",
           "Himmelblau", "Booth", "Beale", "CFunction"]

#: C signatures a user callback may have (those scipy.integrate.quad accepts
#: for n-dimensional functions), as scipy.LowLevelCallable spells them.
SIGNATURES_WITH_DATA = ("double (int, double *, void *)", "double (int, const double *, void *)")
SIGNATURES_NO_DATA = ("double (int, double *)", "double (int, const double *)")
#: A vector-valued callback (fastgrad.jacobian): writes f(x)[0:m] to out.
SIGNATURES_VECTOR = ("void (int, double *, int, double *, void *)",
                     "void (int, const double *, int, double *, void *)")


cdef const double* data_of(cnp.ndarray array):
    # The buffer of a parameter array (C-contiguous float64, from _parameter), which
    # the objective keeps alive and read-only.  (Raw pointers, not memoryviews, in
    # this module: Cython's memoryview support would double its compiled size.)
    return <const double*> cnp.PyArray_DATA(array)


def _parameter(value, name, ndim):
    """An immutable C-contiguous float64 copy of a real, finite array parameter.

    The copy lives in a bytes object: numpy cannot make an array over it
    writeable again, so the objective's data stay as they were checked.
    """
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"{name} must be a {ndim}-D array of real numbers: {error}") from None
    if array.dtype.kind == "O":
        # Python ints beyond int64, Fractions...: each must be a real number in
        # the float range (an int too large to be a float is not finite).
        flat = array.reshape(-1)
        converted = np.empty(flat.shape[0], dtype=np.float64)
        for i in range(flat.shape[0]):
            v = flat[i]
            if isinstance(v, bool) or not is_real(v):
                raise TypeError(f"{name} must hold real numbers, got {describe(v)}")
            number = to_float(v)
            if number is None:
                raise ValueError(f"{name} must be finite, but it holds {show(v)}{OVERFLOWS}")
            converted[i] = number
        array = converted.reshape(array.shape)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty")
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    return np.frombuffer(array.tobytes(), dtype=np.float64).reshape(array.shape)


def _real(value, name):
    """A finite real number parameter (bools refused; beyond the float range: ValueError)."""
    if isinstance(value, bool) or not is_real(value):
        raise TypeError(f"{name} must be a finite real number, got {show(value)}")
    v = to_float(value)
    if v is None or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite real number, got {show(value)}"
                         + (OVERFLOWS if v is None else ""))
    return v


cdef inline double dot(const double* a, const double* b, Py_ssize_t n) noexcept nogil:
    """sum(a_i b_i) in four interleaved partial sums, a fixed order the compiler
    can vectorise (obj(x) runs this same code, so every tier gets the same bits)."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef Py_ssize_t i, end = n - n % 4
    for i in range(0, end, 4):
        s0 += a[i] * b[i]
        s1 += a[i + 1] * b[i + 1]
        s2 += a[i + 2] * b[i + 2]
        s3 += a[i + 3] * b[i + 3]
    for i in range(end, n):
        s0 += a[i] * b[i]
    return (s0 + s1) + (s2 + s3)


def _builtin_base(cls):
    """The class of this module whose __init__ an instance of cls was built with."""
    return next(c for c in cls.__mro__ if c.__module__ == __name__)


def _rebuild(cls, base, parameters):
    """Unpickle an instance of cls, a Python subclass of the built-in ``base``.

    Like pickle's default for Python objects, the subclass's own __init__ is
    not called (it may take other arguments): the built-in part is set up by
    ``base.__init__`` with the pickled parameters, and pickle restores the
    instance's __dict__ afterwards.
    """
    objective = cls.__new__(cls)
    base.__init__(objective, *parameters)
    return objective


cdef int NEVER_FAILS = 0


cdef class Failure:
    """Where a guarded ctypes callback records what it raised (see CFunction)."""

    def record(self, error):
        if self.error is None:
            self.error = error
        fastgrad_store_flag(&self.flag, 1)

    cdef int take(self) except -1:
        """Raise the recorded exception (and forget it)."""
        error, self.error = self.error, None
        fastgrad_store_flag(&self.flag, 0)
        if error is not None:
            raise error
        return 0


cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define fastgrad_store_flag(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
    #else
    #define fastgrad_store_flag(p, v) (*(volatile int *)(p) = (v))
    #endif
    """
    void fastgrad_store_flag(int* flag, int value) noexcept nogil


def _guarded(function, Failure failure, failed=math.nan):
    """function, calling which never raises: an exception is recorded in failure
    (the compiled loop that called it raises it) and the result is `failed`
    (nan; None for a void function)."""
    def guarded(*arguments):
        try:
            return function(*arguments)
        except BaseException as error:  # KeyboardInterrupt too: the loop raises it
            failure.record(error)
            return failed
    return guarded


def _python_of_ctypes_callback(function):
    """The Python callable behind a ctypes callback (CFUNCTYPE(...)(callable)), or
    None: for a function of a shared library, or anything else."""
    import ctypes
    import gc
    if not isinstance(function, ctypes._CFuncPtr):
        return None
    objects = getattr(function, "_objects", None)
    thunk = objects.get("0") if isinstance(objects, dict) else None
    if type(thunk).__name__ != "CThunkObject":
        return None
    # The thunk holds the callable with its converters (a tuple) and result type.
    held = [o for o in gc.get_referents(thunk) if callable(o) and not isinstance(o, type)]
    return held[0] if len(held) == 1 else None


cdef class Objective:
    """Base of the compiled objectives: a scalar function that fastgrad evaluates in C.

    Abstract: use a built-in objective (:class:`Sphere`, :class:`Rosenbrock`,
    :class:`Quadratic`, :class:`LeastSquares`, :class:`LogisticLoss`,
    :class:`Himmelblau`, :class:`Booth`, :class:`Beale`) or :class:`CFunction`
    for a C function.  Passed as f to ``fastgrad.gradient`` and the other
    functions, an objective runs on the compiled tier: every evaluation is a C
    call without the GIL, and ``gradient_batch`` spreads rows over threads.
    It is also an ordinary callable, ``obj(x) -> float``, running the same C
    code, so ``fastgrad.reference`` (or any code) gets the same values.
    Objectives are immutable: their parameters are copied once, read-only.

    Parameters
    ----------
    None
        Those of the subclasses; ``Objective()`` itself cannot be made.

    Attributes
    ----------
    dim : int
        The length of x the objective takes, or -1 if it takes any length
        (from its minimum on: 1, or 2 for Rosenbrock).

    Raises
    ------
    TypeError
        ``Objective()`` itself (an abstract base).

    Examples
    --------
    >>> from fastgrad.objectives import Objective, Sphere
    >>> isinstance(Sphere(), Objective), Sphere().dim
    (True, -1)
    """

    def __cinit__(self, *args, **kwargs):
        if type(self) is Objective:
            raise TypeError("Objective is an abstract base: use a built-in objective, "
                            "or CFunction for a C function")
        self.dim = -1
        self.min_dim = 1
        self.failed = &NEVER_FAILS

    cdef int raise_failure(self) except -1:
        return 0

    cdef int init_once(self) except -1:
        if self.initialised:
            raise TypeError(f"{type(self).__name__} objects are immutable: "
                            "__init__ cannot run again")
        self.initialised = True
        return 0

    cdef double value(self, const double* x, Py_ssize_t n) noexcept nogil:
        return NAN  # never reached: every concrete objective defines its own

    cdef void values(self, const double* x, Py_ssize_t n, double* out) noexcept nogil:
        out[0] = self.value(x, n)  # a vector-valued objective defines its own

    cdef double work(self, Py_ssize_t n) noexcept nogil:
        return 0.0  # unknown (CFunction); the built-in objectives say theirs

    cdef int check_dimension(self, Py_ssize_t n) except -1:
        # Every use goes through here: an object whose __init__ never ran (made
        # with __new__, or a subclass that skipped it) has no data to read.
        if not self.initialised:
            raise TypeError(f"this {type(self).__name__} was not initialised: "
                            "its __init__ did not run")
        if self.dim >= 0 and n != self.dim:
            raise ValueError(f"{type(self).__name__} takes x of length {self.dim}, got {n}")
        if n < self.min_dim:
            raise ValueError(
                f"{type(self).__name__} takes x of length >= {self.min_dim}, got {n}")
        return 0

    def __call__(self, x):
        """f at x.

        Parameters
        ----------
        x : 1-D sequence of real numbers
            The point, of the length the objective takes (see ``dim``).

        Returns
        -------
        float
            f(x), computed by the same C code as on fastgrad's compiled tier.

        Raises
        ------
        TypeError
            x is not a sequence of real numbers.
        ValueError
            x is not 1-D, or not of the length the objective takes.
        """
        array = np.asarray(x) if contract.is_sequence(x) else None
        if array is None or array.dtype.kind not in "biuf" or array.ndim != 1:
            # Anything but a 1-D sequence of real numbers: the error gradient()
            # gives for such an x (or, for Fractions or huge ints, their floats).
            array = np.array(contract.point_values(x), dtype=np.float64)
        cdef cnp.ndarray point = np.ascontiguousarray(array, dtype=np.float64)  # 1-D
        cdef Py_ssize_t n = cnp.PyArray_SIZE(point)
        self.check_dimension(n)
        if self.outputs:  # a vector-valued objective: a float64 array of its outputs
            result = np.empty(self.outputs)
            self.values(<const double*> cnp.PyArray_DATA(point), n,
                        <double*> cnp.PyArray_DATA(result))
        else:
            result = self.value(<const double*> cnp.PyArray_DATA(point), n)
        if self.failed[0]:
            self.raise_failure()
        return result

    def __repr__(self):
        return f"{type(self).__name__}()"

    cdef tuple parameters(self):
        # What __init__ of the built-in class takes (none here; those with
        # parameters return theirs).
        return ()

    def __reduce__(self):
        # The built-in class's parameters, rebuilt into type(self): a Python
        # subclass comes back as itself, with its overrides and its __dict__.
        cls = type(self)
        state = getattr(self, "__dict__", None) or None
        if cls.__module__ == __name__ and state is None:
            return (cls, self.parameters())
        return (_rebuild, (cls, _builtin_base(cls), self.parameters()), state)


cdef class Sphere(Objective):
    """The sphere function ``f(x) = sum(x_i**2)``; gradient ``2 x``, minimum 0 at x = 0.

    Takes x of any length n >= 1.

    Parameters
    ----------
    None

    Examples
    --------
    >>> import fastgrad
    >>> from fastgrad.objectives import Sphere
    >>> Sphere()([3.0, 4.0])
    25.0
    >>> fastgrad.gradient(Sphere(), [3.0, 4.0]).round(6)
    array([6., 8.])
    """

    def __init__(self):
        self.init_once()

    cdef double value(self, const double* x, Py_ssize_t n) noexcept nogil:
        return dot(x, x, n)

    cdef double work(self, Py_ssize_t n) noexcept nogil:
        return 2.0 * n


cdef inline double rosenbrock_term(const double* x, Py_ssize_t i) noexcept nogil:
    cdef double a = x[i + 1] - x[i] * x[i], b = 1.0 - x[i]
    return 100.0 * a * a + b * b


cdef class Rosenbrock(Objective):
    """The Rosenbrock function ``sum_{i < n-1} 100 (x_{i+1} - x_i**2)**2 + (1 - x_i)**2``.

    Takes x of any length n >= 2; minimum 0 at x = (1, ..., 1), at the end of
    a long curved valley (the classic hard case for gradient descent).

    Parameters
    ----------
    None

    Raises
    ------
    ValueError
        When called, or used by fastgrad, with x of length < 2.

    Examples
    --------
    >>> import fastgrad
    >>> from fastgrad.objectives import Rosenbrock
    >>> Rosenbrock()([1.0, 1.0]), Rosenbrock()([0.0, 0.0])
    (0.0, 1.0)
    >>> fastgrad.gradient(Rosenbrock(), [0.0, 0.0]).round(6)  # exact: (-2, 0)
    array([-2.,  0.])
    """

    def __init__(self):
        self.init_once()
        self.min_dim = 2

    cdef double value(self, const double* x, Py_ssize_t n) noexcept nogil:
        # Two interleaved partial sums: a fixed order the compiler can vectorise.
        cdef double even = 0.0, odd = 0.0
        cdef Py_ssize_t i
        for i in range(0, n - 2, 2):
            even += rosenbrock_term(x, i)
            odd += rosenbrock_term(x, i + 1)
        if n % 2 == 0:
            even += rosenbrock_term(x, n - 2)
        return even + odd

    cdef double work(self, Py_ssize_t n) noexcept nogil:
        return 8.0 * n


cdef class Quadratic(Objective):
    """The quadratic ``f(x) = 1/2 x^T A x + b^T x + c``; gradient ``(A + A^T) x / 2 + b``.

    With A symmetric positive definite, the minimum is at the solution of
    ``A x = -b``.

    Parameters
    ----------
    A : array_like, shape (n, n)
        Real, finite numbers (copied).
    b : array_like, shape (n,)
        Real, finite numbers (copied); x must have its length n.
    c : float, optional
        A finite real number, 0 by default.

    Attributes
    ----------
    A, b : ndarray
        Read-only float64 copies of the parameters.
    c : float

    Raises
    ------
    TypeError
        A or b not real numbers, c not a real number.
    ValueError
        A or b of the wrong shape, empty or not finite; c not finite (an int
        beyond the float range included).

    Examples
    --------
    >>> import numpy as np
    >>> import fastgrad
    >>> from fastgrad.objectives import Quadratic
    >>> q = Quadratic([[2.0, 0.0], [0.0, 4.0]], [-2.0, 0.0], c=1.0)  # (x - 1)**2 + 2 y**2
    >>> q([1.0, 0.0]), q([0.0, 1.0])
    (0.0, 3.0)
    >>> fastgrad.gradient(q, [0.0, 1.0]).round(6)  # A x + b
    array([-2.,  4.])
    >>> fastgrad.gradient_descent(q, [0.0, 1.0], 0.1).x.round(6)
    array([1., 0.])
    """
    cdef readonly object A, b
    cdef readonly double c
    cdef const double* a_data
    cdef const double* b_data

    def __init__(self, A, b, c=0.0):
        self.init_once()
        self.A = _parameter(A, "A", 2)
        self.b = _parameter(b, "b", 1)
        if self.A.shape != (self.b.shape[0], self.b.shape[0]):
            raise ValueError(f"A must have shape (n, n) with n = len(b) = {self.b.shape[0]}, "
                             f"got {self.A.shape}")
        self.c = _real(c, "c")
        self.a_data = data_of(self.A)
        self.b_data = data_of(self.b)
        self.dim = self.b.shape[0]

    cdef double value(self, const double* x, Py_ssize_t n) noexcept nogil:
        cdef double quad = 0.0
        cdef Py_ssize_t i
        for i in range(n):
            quad += x[i] * dot(self.a_data + i * n, x, n)
        return 0.5 * quad + dot(self.b_data, x, n) + self.c

    cdef double work(self, Py_ssize_t n) noexcept nogil:
        return 2.0 * n * (n + 1)

    cdef tuple parameters(self):
        return (self.A, self.b, self.c)

    def __repr__(self):
        return f"Quadratic(A=<{self.A.shape[0]}x{self.A.shape[1]}>, b=<{self.b.shape[0]}>, c={self.c!r})"


cdef class _LinearModel(Objective):
    # Shared by the data-fitting losses: X (m, n) and y (m,), copied once.
    cdef readonly object X, y
    cdef const double* x_data
    cdef const double* y_data
    cdef Py_ssize_t m

    cdef int set_data(self, X, y) except -1:
        self.init_once()
        self.X = _parameter(X, "X", 2)
        self.y = _parameter(y, "y", 1)
        if self.y.shape[0] != self.X.shape[0]:
            raise ValueError(f"y must have one entry per row of X ({self.X.shape[0]}), "
                             f"got {self.y.shape[0]}")
        self.x_data = data_of(self.X)
        self.y_data = data_of(self.y)
        self.m = self.X.shape[0]
        self.dim = self.X.shape[1]
        return 0

    cdef inline double linear(self, Py_ssize_t row, const double* w, Py_ssize_t n) noexcept nogil:
        return dot(self.x_data + row * n, w, n)

    cdef double work(self, Py_ssize_t n) noexcept nogil:
        return 2.0 * self.m * (n + 8)

    def __repr__(self):
        return f"{type(self).__name__}(X=<{self.X.shape[0]}x{self.X.shape[1]}>, y=<{self.y.shape[0]}>)"


cdef class LeastSquares(_LinearModel):
    """Mean squared error of the linear model X w: ``f(w) = mean((X w - y)**2)``.

    x is the weight vector w; the gradient is ``2/m X^T (X w - y)``.

    Parameters
    ----------
    X : array_like, shape (m, n)
        The inputs, one sample per row (real, finite; copied).
    y : array_like, shape (m,)
        The targets (real, finite; copied).

    Attributes
    ----------
    X, y : ndarray
        Read-only float64 copies.

    Raises
    ------
    TypeError
        X or y not real numbers.
    ValueError
        X not 2-D or y not 1-D, empty, not finite, or y not of length m.

    Examples
    --------
    >>> import fastgrad
    >>> from fastgrad.objectives import LeastSquares
    >>> loss = LeastSquares([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [1.0, 2.0, 3.0])
    >>> loss([1.0, 2.0])  # y = X (1, 2) exactly
    0.0
    >>> fastgrad.gradient_descent(loss, [0.0, 0.0], 0.5).x.round(5)
    array([1., 2.])
    """

    def __init__(self, X, y):
        self.set_data(X, y)

    cdef double value(self, const double* w, Py_ssize_t n) noexcept nogil:
        cdef double total = 0.0, r
        cdef Py_ssize_t i
        for i in range(self.m):
            r = self.linear(i, w, n) - self.y_data[i]
            total += r * r
        return total / self.m

    cdef tuple parameters(self):
        return (self.X, self.y)


cdef class LogisticLoss(_LinearModel):
    """Mean logistic loss of the linear model X w, plus an L2 penalty ``l2/2 ||w||**2``.

    ``f(w) = mean(log(1 + exp(z_i)) - y_i z_i) + l2/2 ||w||**2`` with z = X w,
    computed without overflow for any w; x is the weight vector w.

    Parameters
    ----------
    X : array_like, shape (m, n)
        The inputs, one sample per row (real, finite; copied).
    y : array_like, shape (m,)
        The labels, 0 or 1 (copied).
    l2 : float, optional
        The penalty weight, a finite number >= 0 (0 by default: no penalty).

    Attributes
    ----------
    X, y : ndarray
        Read-only float64 copies.
    l2 : float

    Raises
    ------
    TypeError
        X or y not real numbers, l2 not a real number.
    ValueError
        X not 2-D or y not 1-D, empty, not finite, y not of length m or with
        labels other than 0 and 1, l2 negative or not finite.

    Examples
    --------
    >>> import math
    >>> import fastgrad
    >>> from fastgrad.objectives import LogisticLoss
    >>> loss = LogisticLoss([[1.0], [-1.0]], [1.0, 0.0])
    >>> loss([0.0]) == math.log(2.0)  # every probability 1/2
    True
    >>> fastgrad.gradient(loss, [0.0]).round(6)  # mean((sigmoid(z) - y) x) = -1/2
    array([-0.5])
    """
    cdef readonly double l2

    def __init__(self, X, y, l2=0.0):
        self.set_data(X, y)
        if not np.isin(self.y, (0.0, 1.0)).all():
            raise ValueError("y must hold labels 0 and 1 only")
        l2 = _real(l2, "l2")
        if l2 < 0.0:
            raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
        self.l2 = l2

    cdef double value(self, const double* w, Py_ssize_t n) noexcept nogil:
        cdef double total = 0.0, z
        cdef Py_ssize_t i
        for i in range(self.m):
            z = self.linear(i, w, n)
            # log(1 + e^z) = max(z, 0) + log1p(e^-|z|), without overflow
            total += (z if z > 0.0 else 0.0) + log1p(exp(-fabs(z))) - self.y_data[i] * z
        if self.l2 == 0.0:
            return total / self.m  # no 0 * inf for a huge w
        return total / self.m + 0.5 * self.l2 * dot(w, w, n)

    cdef tuple parameters(self):
        return (self.X, self.y, self.l2)

    def __repr__(self):
        return (f"LogisticLoss(X=<{self.X.shape[0]}x{self.X.shape[1]}>, "
                f"y=<{self.y.shape[0]}>, l2={self.l2!r})")


cdef class _Plane(Objective):
    # The classic teaching functions of two variables.
    def __init__(self):
        self.init_once()
        self.dim = 2

    cdef double work(self, Py_ssize_t n) noexcept nogil:
        return 20.0


cdef class Himmelblau(_Plane):
    """Himmelblau's function ``(x**2 + y - 11)**2 + (x + y**2 - 7)**2`` of two variables.

    Four minima of 0, one at (3, 2); a local maximum at about (-0.27, -0.92).

    Parameters
    ----------
    None

    Raises
    ------
    ValueError
        When called, or used by fastgrad, with x of length other than 2.

    Examples
    --------
    >>> import fastgrad
    >>> from fastgrad.objectives import Himmelblau
    >>> Himmelblau()([3.0, 2.0])
    0.0
    >>> fastgrad.gradient_descent(Himmelblau(), [1.0, 1.0], 0.01).x.round(5)
    array([3., 2.])
    """

    cdef double value(self, const double* v, Py_ssize_t n) noexcept nogil:
        cdef double x = v[0], y = v[1]
        cdef double a = x * x + y - 11.0, b = x + y * y - 7.0
        return a * a + b * b


cdef class Booth(_Plane):
    """Booth's function ``(x + 2y - 7)**2 + (2x + y - 5)**2`` of two variables; minimum 0 at (1, 3).

    Parameters
    ----------
    None

    Raises
    ------
    ValueError
        When called, or used by fastgrad, with x of length other than 2.

    Examples
    --------
    >>> import fastgrad
    >>> from fastgrad.objectives import Booth
    >>> Booth()([1.0, 3.0]), Booth()([0.0, 0.0])
    (0.0, 74.0)
    >>> fastgrad.gradient(Booth(), [0.0, 0.0]).round(6)
    array([-34., -38.])
    """

    cdef double value(self, const double* v, Py_ssize_t n) noexcept nogil:
        cdef double a = v[0] + 2.0 * v[1] - 7.0, b = 2.0 * v[0] + v[1] - 5.0
        return a * a + b * b


cdef class Beale(_Plane):
    """Beale's function ``(1.5 - x + xy)**2 + (2.25 - x + xy**2)**2 + (2.625 - x + xy**3)**2``.

    Two variables; minimum 0 at (3, 0.5).

    Parameters
    ----------
    None

    Raises
    ------
    ValueError
        When called, or used by fastgrad, with x of length other than 2.

    Examples
    --------
    >>> import fastgrad
    >>> from fastgrad.objectives import Beale
    >>> Beale()([3.0, 0.5])
    0.0
    >>> fastgrad.gradient(Beale(), [3.0, 0.5]).round(6) + 0.0  # a stationary point
    array([0., 0.])
    """

    cdef double value(self, const double* v, Py_ssize_t n) noexcept nogil:
        cdef double x = v[0], y = v[1]
        cdef double a = 1.5 - x + x * y
        cdef double b = 2.25 - x + x * y * y
        cdef double c = 2.625 - x + x * y * y * y
        return a * a + b * b + c * c


cdef class CFunction(Objective):
    """A user C function as a compiled objective.

    fastgrad's functions wrap a C callback given as f in a CFunction
    themselves; make one to fix ``dim``, or to call the function from Python.

    Parameters
    ----------
    callback : scipy.LowLevelCallable or PyCapsule
        With C signature ``double (int n, double *x, void *user_data)`` or
        ``double (int n, double *x)`` (``const double *`` too; as for
        scipy.integrate.quad), or, for a vector-valued f (``fastgrad.jacobian``),
        ``void (int n, double *x, int m, double *out, void *user_data)``
        writing f(x) to out[0:m] (then ``outputs`` gives m): a numba ``@cfunc`` wrapped in LowLevelCallable,
        a function of a shared library loaded with ctypes, a Cython ``cdef api``
        function via ``LowLevelCallable.from_cython``, or a PyCapsule named by
        its signature.  The function must not modify x, must not raise, and
        must be thread-safe (``gradient_batch`` calls it from several threads).
    dim : int, optional
        The length of x it takes, if fixed: from 1 to 2**31 - 1 (the function
        takes an int n).
    outputs : int, optional
        For a vector-valued callback (and only for one): m, the number of
        values it writes, from 1 to 2**31 - 1.  Called from Python, such a
        CFunction returns a float64 array of m.

    Raises
    ------
    TypeError
        callback is not a LowLevelCallable or PyCapsule, or has another signature;
        outputs given for a scalar callback, or missing for a vector-valued one.
    ValueError
        dim or outputs is not a positive int, or larger than a C int holds.

    Examples
    --------
    A ctypes function of Python code shows the mechanics (a C function --
    from a shared library, numba's ``@cfunc`` or Cython -- is what runs fast):

    >>> import ctypes
    >>> import fastgrad
    >>> from scipy import LowLevelCallable
    >>> from fastgrad.objectives import CFunction
    >>> @ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int, ctypes.POINTER(ctypes.c_double))
    ... def sum_of_squares(n, x):
    ...     return sum(x[i] * x[i] for i in range(n))
    >>> f = CFunction(LowLevelCallable(sum_of_squares), dim=2)
    >>> f([3.0, 4.0])
    25.0
    >>> fastgrad.gradient(f, [3.0, 4.0]).round(6)
    array([6., 8.])
    """

    def __init__(self, callback, dim=None, outputs=None):
        self.init_once()
        capsule = callback
        if isinstance(callback, tuple) and len(callback) == 3:
            # scipy.LowLevelCallable: a tuple (capsule, function, user_data) whose [] raises
            capsule = tuple.__getitem__(callback, 0)
        if not PyCapsule_CheckExact(capsule):
            raise TypeError("callback must be a scipy.LowLevelCallable or a PyCapsule with "
                            f"signature {' or '.join(map(repr, SIGNATURES_WITH_DATA + SIGNATURES_NO_DATA))}, "
                            f"got {type(callback).__name__}")
        cdef const char* raw_name = PyCapsule_GetName(capsule)
        name = raw_name.decode() if raw_name != NULL else None
        if name in SIGNATURES_WITH_DATA:
            self.function = <objective_function> PyCapsule_GetPointer(capsule, raw_name)
        elif name in SIGNATURES_NO_DATA:
            self.function_no_data = <objective_function_no_data> PyCapsule_GetPointer(capsule, raw_name)
        elif name in SIGNATURES_VECTOR:
            self.vector = <vector_function> PyCapsule_GetPointer(capsule, raw_name)
        else:
            raise TypeError(f"callback has signature {name!r}; accepted: "
                            f"{', '.join(map(repr, SIGNATURES_WITH_DATA + SIGNATURES_NO_DATA + SIGNATURES_VECTOR))}")
        if self.vector != NULL:
            if outputs is None:
                raise TypeError(f"callback has the vector signature {name!r}: give outputs=m, "
                                "the number of values it writes")
            outputs = whole_number(outputs, "outputs", 1, "a positive int")
            if outputs > INT_MAX:
                raise ValueError(f"outputs must be at most {INT_MAX} (the C function takes "
                                 f"int m), got {show(outputs)}")
            self.outputs = outputs
        elif outputs is not None:
            raise TypeError(f"outputs is for a vector-valued callback "
                            f"({' or '.join(map(repr, SIGNATURES_VECTOR))}); this one has "
                            f"signature {name!r}, got outputs={show(outputs)}")
        self.user_data = PyCapsule_GetContext(capsule)
        self.owner = callback
        if isinstance(callback, tuple):
            self.guard(tuple.__getitem__(callback, 1))
        if dim is not None:
            dim = whole_number(dim, "dim", 1, "a positive int or None")
            if dim > INT_MAX:
                raise ValueError(f"dim must be at most {INT_MAX} (the C function takes int n), "
                                 f"got {show(dim)}")
            self.dim = dim

    cdef int check_dimension(self, Py_ssize_t n) except -1:
        Objective.check_dimension(self, n)
        if n > INT_MAX:
            raise ValueError(f"a C callback takes int n; x of length {n} is too long")
        return 0

    cdef int guard(self, function) except -1:
        """For a ctypes callback of Python code: call a guarded copy instead.

        ctypes prints an exception raised in the callback ("Exception ignored on
        calling ctypes callback function") and returns garbage; the copy, of the
        same C type, records the exception, which the calling loop raises.
        """
        import ctypes
        python = _python_of_ctypes_callback(function)
        if python is None:
            return 0
        self.failure = Failure()
        guarded = type(function)(_guarded(python, self.failure,
                                          None if self.vector != NULL else math.nan))
        address = ctypes.cast(guarded, ctypes.c_void_p).value
        if self.vector != NULL:
            self.vector = <vector_function> <size_t> address
        elif self.function != NULL:
            self.function = <objective_function> <size_t> address
        else:
            self.function_no_data = <objective_function_no_data> <size_t> address
        self.owner = (self.owner, guarded)
        self.failed = &self.failure.flag
        return 0

    cdef int raise_failure(self) except -1:
        if self.failure is not None:
            self.failure.take()
        return 0

    cdef double value(self, const double* x, Py_ssize_t n) noexcept nogil:
        if self.function != NULL:
            return self.function(<int> n, <double*> x, self.user_data)
        return self.function_no_data(<int> n, <double*> x)

    cdef void values(self, const double* x, Py_ssize_t n, double* out) noexcept nogil:
        if self.vector != NULL:
            self.vector(<int> n, <double*> x, <int> self.outputs, out, self.user_data)
        else:
            out[0] = self.value(x, n)

    def __repr__(self):
        return f"CFunction({(self.owner[0] if self.failure is not None else self.owner)!r})"

    def __reduce__(self):
        raise TypeError("a CFunction holds a C function pointer and cannot be pickled")


cdef CFunction wrap_c_function(objective_function function, void* user_data, object owner):
    """A CFunction around a C function pointer, for Cython code (see objectives.pxd).

    A cdef function: ``from fastgrad.objectives cimport wrap_c_function``.

    Parameters
    ----------
    function : objective_function
        ``double (int n, double* x, void* user_data) noexcept nogil``; it must
        not modify x and must be thread-safe.  Not checked: it must not be NULL.
    user_data : void*
        Passed to every call of function (NULL if unused).
    owner : object
        Kept alive as long as the objective: whatever owns user_data (None if
        nothing does).

    Returns
    -------
    CFunction
        An objective of any dimension (``dim`` -1).

    Examples
    --------
    In a Cython module (.pyx) compiled against fastgrad::

        from fastgrad.objectives cimport wrap_c_function

        cdef double sphere(int n, double* x, void* user_data) noexcept nogil:
            cdef double total = 0.0
            for i in range(n):
                total += x[i] * x[i]
            return total

        objective = wrap_c_function(sphere, NULL, None)  # fastgrad.gradient(objective, x)
    """
    cdef CFunction objective = CFunction.__new__(CFunction)
    objective.initialised = True
    objective.function = function
    objective.user_data = user_data
    objective.owner = owner
    return objective
