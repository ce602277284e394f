# cython: language_level=3
"""x, h and X as the kernels read them: new float64 arrays, checked once.

Design
------
The common kinds (a list of floats, a real 1-D or 2-D ndarray, a float h)
take C fast paths.  Everything else -- and every error -- goes through
``_contract``'s general checks, the ones ``fastgrad.reference`` uses, so
that the value and the message are exactly the reference's.  Nothing
downstream checks these again.
"""
from libc.math cimport isfinite, INFINITY
from libc.string cimport memcpy

cimport numpy as cnp
import numpy as np

from . import _contract as contract

cnp.import_array()

INT_LIMIT = 2**1023  # ints below this in magnitude convert to finite floats


cdef object new_vector(Py_ssize_t n):
    cdef cnp.npy_intp size = n
    return cnp.PyArray_EMPTY(1, &size, cnp.NPY_FLOAT64, 0)


cdef bint all_finite(object array):
    cdef const double* data = <const double*> cnp.PyArray_DATA(array)
    cdef Py_ssize_t i
    for i in range(cnp.PyArray_SIZE(array)):
        if not isfinite(data[i]):
            return False
    return True


cdef object fast_point(object x):
    """x as a new finite float64 vector, or None: not a fast-path kind, or an error."""
    cdef Py_ssize_t i, n
    cdef double* data
    if cnp.PyArray_CheckExact(x):  # subclasses (masked arrays...) take the general path
        if not (cnp.PyArray_NDIM(x) == 1 and cnp.PyArray_SIZE(x) > 0 and
                cnp.PyArray_TYPE(x) in (cnp.NPY_DOUBLE, cnp.NPY_FLOAT, cnp.NPY_LONG, cnp.NPY_INT)):
            return None
        if cnp.PyArray_TYPE(x) == cnp.NPY_DOUBLE and cnp.PyArray_ISCARRAY_RO(x) \
                and cnp.PyArray_ISNOTSWAPPED(x):  # the commonest kind: its bytes copied
            n = cnp.PyArray_SIZE(x)
            point = new_vector(n)
            memcpy(cnp.PyArray_DATA(point), cnp.PyArray_DATA(x), n * sizeof(double))
            return point if all_finite(point) else None
        point = cnp.PyArray_FROMANY(x, cnp.NPY_DOUBLE, 1, 1, cnp.NPY_ARRAY_C_CONTIGUOUS
                                    | cnp.NPY_ARRAY_ENSURECOPY | cnp.NPY_ARRAY_ENSUREARRAY)
    elif type(x) is list or type(x) is tuple:
        n = len(x)
        if n == 0:
            return None
        point = new_vector(n)
        data = <double*> cnp.PyArray_DATA(point)
        for i in range(n):
            item = x[i]
            if type(item) is float:
                data[i] = <double> item
            elif type(item) is int and -INT_LIMIT < item < INT_LIMIT:  # no overflow
                data[i] = item  # as float(item) does: correctly rounded
            else:
                return None
    else:
        return None
    return point if all_finite(point) else None


def point(x):
    """x as a new float64 vector (never a view of the caller's data), checked."""
    result = fast_point(x)
    if result is not None:
        return result
    if type(x) is np.ndarray and x.dtype.kind in "biuf" and x.ndim == 1 and x.size:
        result = np.array(x, dtype=np.float64)
        if all_finite(result):
            return result
    # Anything else (subclasses, strings, complex, nesting, non-finite...): the
    # general check, so that value and message are exactly the reference's.
    return np.array(contract.point_values(x), dtype=np.float64)


def steps(h, Py_ssize_t n):
    """h as a float (one step for every coordinate), a new float64 vector of n, or "auto"."""
    if type(h) is float and 0.0 < <double> h < INFINITY:
        return h
    if type(h) is np.ndarray and h.dtype.kind in "biuf" and h.shape == (n,):
        result = np.array(h, dtype=np.float64)
        if ((result > 0.0) & np.isfinite(result)).all():
            return result
    values = contract.step_values(h, n)
    if isinstance(values, str):  # a step rule: "auto", "adaptive" (numpy.str_ too)
        return str(values)
    return values[0] if contract.is_real(h) else np.array(values, dtype=np.float64)


def batch(X):
    """X as a new C-contiguous (m, n) float64 array, checked."""
    X = contract.array_form(X)  # a DataFrame's values: the ndarray path below
    if type(X) is np.ndarray and X.dtype.kind in "biuf" and X.ndim == 2 and X.size > 0:
        result = np.array(X, dtype=np.float64, order="C")
        if all_finite(result):
            return result
    return np.array(contract.batch_values(X), dtype=np.float64)
