# cython: language_level=3
"""The evaluation tiers: how f is evaluated at a list of points.

Design
------
One interface (``_evaluators.pxd``): ``evaluate`` takes a list of points --
(base row, coordinate, value) -- and writes f at each, in order;
``evaluate_at`` is f at one x.  The stencil, descent and batch loops
(``_stencil``, ``_descent``, ``_batch``) are written once against it; the
tiers differ only here:

* PythonEvaluator: one call of f per point;
* VectorizedEvaluator: one call of f per chunk of points (rows of a matrix);
* CompiledEvaluator: a compiled objective's C function, without the GIL.

PythonEvaluator makes one call of f per point and no other Python work per
point: the arguments sit in a C array handed to ``PyObject_Vectorcall`` (no
argument tuple), and f's float result is read without a conversion call.

The array f receives is reused from point to point, so three guards keep that
invisible to f:
* f may write to it: after each call the array is compared with the point it
  held, and restored if f changed it, so every call sees exactly its point;
* if f keeps a reference to it (stores x, or a view of x), its reference count
  shows that after the call: the loop leaves that array as f saw it and
  continues on a fresh copy;
* so it does if f changes the array's form (shape, dtype, flags, memory).
With ``unpack=True``, f gets Python floats; only the one coordinate that
differs from x is a new float object per point.
"""
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.float cimport PyFloat_CheckExact, PyFloat_AS_DOUBLE
from cpython.ref cimport Py_REFCNT
from libc.string cimport memcpy

cimport numpy as cnp
import numpy as np

from .objectives cimport Objective
from . import _contract as contract

cnp.import_array()


cdef extern from "Python.h":
    # Python >= 3.9; the result is a new reference, NULL on error.
    object PyObject_Vectorcall(object callable, PyObject** args, size_t nargsf,
                               PyObject* kwnames)


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* Whether a[0:n] and b[0:n] hold the same bits (-0.0 is not 0.0, a NaN is
       its own payload): memcmp, inline for small n (a call costs more there). */
    static inline int fastgrad_same_bits(const double *a, const double *b, Py_ssize_t n) {
        if (n > 16) return memcmp(a, b, (size_t)n * sizeof(double)) == 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            uint64_t u, v;
            memcpy(&u, a + i, sizeof u);
            memcpy(&v, b + i, sizeof v);
            if (u != v) return 0;
        }
        return 1;
    }
    """
    bint same_bits "fastgrad_same_bits" (const double* a, const double* b,
                                          Py_ssize_t n) noexcept nogil


cdef type float64 = np.float64


cdef class Evaluator:
    cdef int ready(self, Py_ssize_t n) except -1:
        return 0

    cdef int evaluate(self, const Points* p, double* scratch, double* out) except -1 nogil:
        with gil:
            raise NotImplementedError("Evaluator.evaluate")

    cdef int evaluate_at(self, const double* x, Py_ssize_t n, double* out) except -1 nogil:
        cdef Py_ssize_t itself = -1
        cdef double unused = 0.0
        cdef Points p
        p.base = x
        p.n = n
        p.row = NULL
        p.coord = &itself
        p.value = &unused
        p.k = 1
        return self.evaluate(&p, NULL, out)


cdef inline const double* base_of(const Points* p, Py_ssize_t j) noexcept nogil:
    return p.base if p.row == NULL else p.base + p.row[j] * p.n


cdef inline double as_double(object value, bint* low_precision) except? -1.0:
    # float and numpy.float64 need no conversion call; anything else (a float
    # subclass with its own __float__ too) converts as the reference does, and
    # a float32 (or lower) is noted: a fixed h is too small for it.
    if PyFloat_CheckExact(value) or type(value) is float64:
        return PyFloat_AS_DOUBLE(value)
    if contract.is_low_precision(value):
        low_precision[0] = True
    return contract.as_real(value)


cdef class Handout:
    """The float64 array handed to f, and whether f kept it or changed its form.

    A plain, writeable array that owns its memory: f may write to it (scipy's
    gh13740).  The evaluator writes the points through ``data``, which stays
    valid as long as the array keeps the form it was made with (``intact``: f
    may reshape, re-type, resize or freeze it).  f keeping a reference to the
    array, or to a view of it (which references it), shows in its reference
    count (``kept``).  Either way the evaluator leaves the array to f and
    continues on a fresh one.
    """
    cdef readonly cnp.ndarray array
    cdef double* data
    cdef Py_ssize_t refs
    cdef int ndim, flags
    cdef cnp.npy_intp dims[2]
    cdef cnp.npy_intp strides[2]
    cdef void* descr

    def __cinit__(self, Py_ssize_t rows, Py_ssize_t n):
        # The numpy C API: a Python tier makes one of these per gradient() call.
        cdef cnp.npy_intp shape[2]
        shape[0] = rows
        shape[1] = n
        if rows == 0:
            self.array = cnp.PyArray_EMPTY(1, &shape[1], cnp.NPY_FLOAT64, 0)
        else:
            self.array = cnp.PyArray_EMPTY(2, shape, cnp.NPY_FLOAT64, 0)
        self.data = <double*> cnp.PyArray_DATA(self.array)
        self.ndim = cnp.PyArray_NDIM(self.array)
        self.flags = cnp.PyArray_FLAGS(self.array)
        self.descr = <void*> cnp.PyArray_DESCR(self.array)
        for i in range(self.ndim):
            self.dims[i] = cnp.PyArray_DIM(self.array, i)
            self.strides[i] = cnp.PyArray_STRIDE(self.array, i)
        self.refs = Py_REFCNT(self.array)

    cdef inline bint kept(self) noexcept:
        return Py_REFCNT(self.array) != self.refs

    cdef inline bint intact(self) noexcept:
        # Everything about the array that f can change in place, but its data.
        cdef cnp.ndarray a = self.array
        if cnp.PyArray_DATA(a) != self.data or cnp.PyArray_NDIM(a) != self.ndim \
                or cnp.PyArray_FLAGS(a) != self.flags \
                or <void*> cnp.PyArray_DESCR(a) != self.descr:
            return False
        for i in range(self.ndim):
            if cnp.PyArray_DIM(a, i) != self.dims[i] or \
                    cnp.PyArray_STRIDE(a, i) != self.strides[i]:
                return False
        return True


cdef class PythonEvaluator(Evaluator):
    """One call f(x, *args), or f(*x, *args) with unpack=True, per point."""
    cdef object f
    cdef tuple args
    cdef bint unpack
    cdef Py_ssize_t n, nargs, lead
    cdef PyObject** argv      # borrowed: the point (or n floats), then args
    cdef Handout point        # the array f receives (not unpack)
    cdef list floats          # unpack: x as Python floats, owned here

    def __cinit__(self, f, tuple args, Py_ssize_t n, bint unpack):
        cdef Py_ssize_t j
        self.f = f
        self.args = args
        self.unpack = unpack
        self.n = n
        self.lead = n if unpack else 1
        self.nargs = self.lead + len(args)
        self.argv = <PyObject**> PyMem_Malloc(self.nargs * sizeof(PyObject*))
        if self.argv == NULL:
            raise MemoryError()
        for j in range(len(args)):
            self.argv[self.lead + j] = <PyObject*> args[j]
        if not unpack:
            self.new_point(NULL)

    def __dealloc__(self):
        PyMem_Free(self.argv)

    cdef int new_point(self, const double* x) except -1:
        self.point = Handout(0, self.n)
        if x != NULL:
            memcpy(self.point.data, x, self.n * sizeof(double))
        self.argv[0] = <PyObject*> self.point.array
        return 0

    cdef int evaluate(self, const Points* p, double* scratch, double* out) except -1 nogil:
        with gil:
            if self.unpack:
                return self.evaluate_unpacked(p, out)
            return self.evaluate_array(p, out)

    cdef int evaluate_array(self, const Points* p, double* out) except -1:
        cdef Py_ssize_t j, c
        cdef const double* x = NULL
        for j in range(p.k):
            if base_of(p, j) != x:
                x = base_of(p, j)
                memcpy(self.point.data, x, self.n * sizeof(double))
            c = p.coord[j]
            if c >= 0:
                self.point.data[c] = p.value[j]
            result = PyObject_Vectorcall(self.f, self.argv, self.nargs, NULL)
            if self.point.kept() or not self.point.intact():
                self.new_point(x)  # f kept the array, or changed its form: leave it to f
            else:
                if c >= 0:
                    self.point.data[c] = x[c]
                if not same_bits(self.point.data, x, self.n):
                    memcpy(self.point.data, x, self.n * sizeof(double))  # f wrote to it
            out[j] = as_double(result, &self.low_precision)
        return 0

    cdef int evaluate_unpacked(self, const Points* p, double* out) except -1:
        cdef Py_ssize_t i, j, c
        cdef object moved
        cdef const double* x = NULL
        for j in range(p.k):
            if base_of(p, j) != x:
                x = base_of(p, j)
                self.floats = [x[i] for i in range(self.n)]
                for i in range(self.n):
                    self.argv[i] = <PyObject*> self.floats[i]
            c = p.coord[j]
            if c >= 0:
                moved = p.value[j]
                self.argv[c] = <PyObject*> moved
                try:
                    result = PyObject_Vectorcall(self.f, self.argv, self.nargs, NULL)
                finally:  # argv never points at a float that is gone
                    self.argv[c] = <PyObject*> self.floats[c]
            else:
                result = PyObject_Vectorcall(self.f, self.argv, self.nargs, NULL)
            out[j] = as_double(result, &self.low_precision)
        return 0


cdef class VectorizedEvaluator(Evaluator):
    """f(X, *args) on a (rows, n) array of points, or f(*X.T, *args) with unpack=True.

    The stencil goes to f in chunks of at most contract.VECTORIZED_CHUNK_BYTES,
    so memory stays O(n) for large n.
    """
    cdef object f
    cdef tuple args
    cdef bint unpack
    cdef Py_ssize_t n, rows
    cdef Handout matrix        # the (rows, n) points handed to f

    def __cinit__(self, f, tuple args, Py_ssize_t n, bint unpack, Py_ssize_t rows_per_call):
        self.f = f
        self.args = args
        self.unpack = unpack
        self.n = n
        self.rows = 0
        # Rows that fit in a chunk (the API's policy, _contract.vectorized_rows_per_call);
        # gradient_batch groups rows' stencils up to it.
        self.points_per_call = rows_per_call

    cdef int new_matrix(self, Py_ssize_t rows) except -1:
        self.matrix = Handout(rows, self.n)
        self.rows = rows
        return 0

    cdef int evaluate(self, const Points* p, double* scratch, double* out) except -1 nogil:
        with gil:
            return self.evaluate_chunks(p, out)

    cdef int evaluate_chunks(self, const Points* p, double* out) except -1:
        cdef Py_ssize_t start, m, r, c, k = p.k
        cdef double* row
        cdef Py_ssize_t per_call = self.points_per_call
        for start in range(0, k, per_call):
            m = min(per_call, k - start)
            if self.rows < m:
                self.new_matrix(min(per_call, k))
            for r in range(m):
                row = self.matrix.data + r * self.n
                memcpy(row, base_of(p, start + r), self.n * sizeof(double))
                c = p.coord[start + r]
                if c >= 0:
                    row[c] = p.value[start + r]
            block = self.matrix.array if m == self.rows else self.matrix.array[:m]
            if self.unpack:
                result = self.f(*block.T, *self.args)
            else:
                result = self.f(block, *self.args)
            block = None
            # f may write to the points: the next chunk writes every row it uses
            # afresh.  If f kept them, or changed the array's form (through the
            # base of a block), the next chunk gets a fresh array.
            if self.matrix.kept() or not self.matrix.intact():
                self.rows = 0
            self.store(result, m, out + start)
        return 0

    cdef int store(self, result, Py_ssize_t m, double* out) except -1:
        cdef const double* data
        cdef const double[::1] view
        cdef Py_ssize_t i
        # Fast paths for plain ndarrays only: a subclass may mean something else
        # by its data (a masked array's masked entries are nan, as in the reference).
        if not cnp.PyArray_CheckExact(result):
            pass
        elif cnp.PyArray_TYPE(result) == cnp.NPY_DOUBLE and \
                cnp.PyArray_NDIM(result) == 1 and cnp.PyArray_DIM(result, 0) == m and \
                cnp.PyArray_IS_C_CONTIGUOUS(result) and cnp.PyArray_ISNOTSWAPPED(result):
            # The common case, a float64 vector: no conversion.
            data = <const double*> cnp.PyArray_DATA(result)
            memcpy(out, data, m * sizeof(double))
            return 0
        elif result.dtype.kind in "biuf" and result.shape == (m,):
            if contract.is_low_precision(result):  # float32: a fixed h is too small
                self.low_precision = True
            # Another real array of the right shape: converted by numpy.
            view = np.ascontiguousarray(result, dtype=np.float64)
            memcpy(out, &view[0], m * sizeof(double))
            return 0
        # Anything else: read (or refused, with the reference's message) by the contract.
        if contract.is_low_precision(result):
            self.low_precision = True
        values = contract.vectorized_values(result, m)
        for i in range(m):
            out[i] = values[i]
        return 0


cdef class CompiledEvaluator(Evaluator):
    """A compiled objective's C method, called per point without the GIL.

    One gradient's points are evaluated by the calling thread: sharing them
    among OpenMP threads was 1.6x faster on an idle 2-core machine but up to
    10x slower on a loaded one (threads spin-waiting for a busy core), so
    parallelism is left to gradient_batch, where the caller asks for it.
    The working copy of x is the caller's scratch (one per thread), so one
    evaluator serves many threads at once.
    """
    cdef Objective objective

    def __cinit__(self, Objective objective):
        self.objective = objective
        self.gil_free = True

    cdef int ready(self, Py_ssize_t n) except -1:
        return self.objective.check_dimension(n)

    cdef int evaluate(self, const Points* p, double* scratch, double* out) except -1 nogil:
        cdef Py_ssize_t j, c, n = p.n
        cdef const double* x = NULL
        if p.row == NULL:  # one gradient's points: one working copy of x
            memcpy(scratch, p.base, n * sizeof(double))
            for j in range(p.k):
                c = p.coord[j]
                if c >= 0:
                    scratch[c] = p.value[j]
                    out[j] = self.objective.value(scratch, n)
                    scratch[c] = p.base[c]
                else:
                    out[j] = self.objective.value(scratch, n)
            return 0
        for j in range(p.k):
            if base_of(p, j) != x:
                x = base_of(p, j)
                memcpy(scratch, x, n * sizeof(double))
            c = p.coord[j]
            if c >= 0:
                scratch[c] = p.value[j]
                out[j] = self.objective.value(scratch, n)
                scratch[c] = x[c]
            else:
                out[j] = self.objective.value(scratch, n)
        return 0

    cdef int evaluate_at(self, const double* x, Py_ssize_t n, double* out) except -1 nogil:
        out[0] = self.objective.value(x, n)
        return 0
