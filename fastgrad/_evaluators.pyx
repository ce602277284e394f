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

A vector-valued f (jacobian) is the same tiers with m values per point:
``expect_vector()`` switches an evaluator to it, ``values_at(x)`` evaluates f
at x first and learns m from what f returns (a compiled objective states its
``outputs``), and ``evaluate`` then writes point j's values to
out[j * m:(j + 1) * m].  m = 1 with a scalar f is the gradient's case.  What
f returns is read by ``store_vector`` / ``store_rows``: float64 arrays (and
lists of floats) directly, anything else through the contract's checks.

Ctrl-C: the interpreter checks for signals only while it runs Python code, so
the loops here check themselves, within 0.1 s of work on every tier:
* the Python tier: a Python function f is checked by the interpreter as each
  call starts; for any other f (implemented in C: ``math.hypot``, ``sum``, a
  ctypes function) the loop counts its calls down to a look at a (coarse,
  monotonic) clock, a count it adapts to take about LOOK seconds, and checks
  for signals at each look;
* the vectorized tier: after each call of f (each a chunk of points);
* the compiled tier, without the GIL, the same way by evaluations: the thread
  that called ready() looks at the clock every so many evaluations and, if it
  is Python's main thread (the only one Ctrl-C interrupts), takes the GIL to
  check for signals every SIGNALS seconds.  The first look comes after about
  FIRST_WORK operations, as the objective estimates them (one evaluation of a
  C function), so that short calls never look.  Other threads of a
  gradient_batch stop within STRIDE evaluations once the run is interrupted.

PythonEvaluator makes one call of f per point and no other Python work per
point: the arguments sit in a C array handed to ``PyObject_Vectorcall`` (no
argument tuple), and f's float result is read without a conversion call.

The array f receives is reused from point to point, so three guards keep that
invisible to f:
* f may write to it: after each call the array is compared with the point it
  held, and restored if f changed it, so every call sees exactly its point;
* if f keeps a reference to it (stores x, a view of x, or a weak reference to
  x), its reference count (or list of weak references) shows that after the
  call: the loop leaves that array as f saw it and continues on a fresh copy;
* so it does if f changes the array's form (shape, dtype, flags, memory).
With ``unpack=True``, f gets Python floats; only the one coordinate that
differs from x is a new float object per point.
"""
from cpython.exc cimport PyErr_CheckSignals, PyErr_Occurred
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.float cimport PyFloat_CheckExact, PyFloat_AS_DOUBLE
from cpython.ref cimport Py_REFCNT
from libc.string cimport memcpy

cimport cython
cimport numpy as cnp
import threading

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


cdef extern from *:
    """
    #if defined(_WIN32)
    #include <windows.h>
    static double fastgrad_now(void) {
        LARGE_INTEGER frequency, count;
        QueryPerformanceFrequency(&frequency);
        QueryPerformanceCounter(&count);
        return (double)count.QuadPart / (double)frequency.QuadPart;
    }
    #else
    #include <time.h>
    /* A coarse clock where there is one (Linux: a few ns a read instead of
       some 25, ticking every 1-4 ms): the watch needs milliseconds. */
    #if defined(CLOCK_MONOTONIC_COARSE)
    #define FASTGRAD_CLOCK CLOCK_MONOTONIC_COARSE
    #else
    #define FASTGRAD_CLOCK CLOCK_MONOTONIC
    #endif
    static double fastgrad_now(void) {
        struct timespec t;
        clock_gettime(FASTGRAD_CLOCK, &t);
        return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
    }
    #endif
    #if defined(__GNUC__) || defined(__clang__)
    #define fastgrad_load(p) __atomic_load_n((p), __ATOMIC_RELAXED)
    #define fastgrad_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
    #else
    #define fastgrad_load(p) (*(volatile int *)(p))
    #define fastgrad_store(p, v) (*(volatile int *)(p) = (v))
    #endif
    """
    double now "fastgrad_now" () noexcept nogil
    int atomic_load "fastgrad_load" (int* flag) noexcept nogil
    void atomic_store "fastgrad_store" (int* flag, int value) noexcept nogil


cdef extern from "pythread.h":
    unsigned long PyThread_get_thread_ident() noexcept nogil


cdef extern from "Python.h":
    # PyErr_CheckSignals for code that leaves the exception set (cpython.exc's
    # declaration makes Cython handle it).  With the GIL.
    int signals_raised "PyErr_CheckSignals" () noexcept


# The compiled tier's watch (see the module docstring): seconds of work between
# looks at the clock and between checks for signals, the most evaluations
# between looks, and the evaluations between looks at `stop` on other threads.
cdef double LOOK = 1e-3
cdef double SIGNALS = 0.02
cdef double FIRST_WORK = 131072.0  # operations (about a nanosecond each) before the first look
cdef enum:
    MAX_PERIOD = 1 << 30
    STRIDE = 16

cdef unsigned long MAIN_THREAD = threading.main_thread().ident


cdef struct Watch:
    # The owner's counters, which it writes as it evaluates: in memory of their
    # own, so that other threads reading the evaluator do not share their cache
    # line (with a gradient_batch's rows of a few points, that would cost more
    # than the rows).
    char before[64]
    Py_ssize_t countdown, period   # evaluations to the next look, and between looks
    double last_look, last_signals  # (last_look 0: not started)
    char after[64]


cdef inline void adapt(Watch* w, double t) noexcept nogil:
    """At a look at time t: the evaluations to the next one, for about LOOK seconds
    from the rate since the last (the first look only starts the clock)."""
    cdef double elapsed
    if w.last_look != 0.0:
        elapsed = t - w.last_look
        if elapsed <= LOOK / 16:  # (also a clock too coarse to see the time pass)
            w.period = min(16 * w.period, <Py_ssize_t> MAX_PERIOD)
        else:
            w.period = max(1, min(<Py_ssize_t> (w.period * (LOOK / elapsed)),
                                  <Py_ssize_t> MAX_PERIOD))
    w.last_look = t
    w.countdown = w.period


cdef type float64 = np.float64


cdef class Evaluator:
    def __cinit__(self, *args, **kwargs):
        self.m = 1  # a scalar f: one value per point

    def expect_vector(self):
        """f returns a vector (jacobian): m values per point, m learnt from f(x)
        by values_at() (a compiled objective knows its own)."""
        self.vector = True
        self.m = 0

    cdef object values_at(self, const double* x, Py_ssize_t n):
        cdef object values = new_vector(self.m)
        self.evaluate_at(x, n, <double*> cnp.PyArray_DATA(values))
        return values

    cdef int ready(self, Py_ssize_t n) except -1:
        return 0

    cdef int raise_stop(self) except -1:
        return -1  # (only gil-free evaluators stop)

    cdef void wait(self) noexcept nogil:
        pass

    cdef int fail(self) except -1 nogil:
        return 0  # (only an evaluator with a direct objective fails this way)

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


cdef object new_vector(Py_ssize_t m):
    cdef cnp.npy_intp size = m
    return cnp.PyArray_EMPTY(1, &size, cnp.NPY_FLOAT64, 0)


cdef inline bint plain_vector(object result, Py_ssize_t m) noexcept:
    """Whether result is a plain float64 ndarray of shape (m,), C-contiguous, native order."""
    return cnp.PyArray_CheckExact(result) and cnp.PyArray_TYPE(result) == cnp.NPY_DOUBLE \
        and cnp.PyArray_NDIM(result) == 1 and cnp.PyArray_DIM(result, 0) == m \
        and cnp.PyArray_IS_C_CONTIGUOUS(result) and cnp.PyArray_ISNOTSWAPPED(result)


cdef bint floats_into(object items, Py_ssize_t m, double* out) except -1:
    """A list or tuple of m floats (numpy.float64 too) into out; False (out
    partly written) if an item is anything else."""
    cdef Py_ssize_t i
    for i in range(m):
        item = items[i]
        if not (PyFloat_CheckExact(item) or type(item) is float64):
            return False
        out[i] = PyFloat_AS_DOUBLE(item)
    return True


cdef object first_vector(object result, bint* low_precision):
    """f(x) of a vector f as a new float64 array: m from it (checked >= 1)."""
    cdef Py_ssize_t m
    if cnp.PyArray_CheckExact(result) and cnp.PyArray_NDIM(result) == 1:
        m = cnp.PyArray_DIM(result, 0)
        if m >= 1 and plain_vector(result, m):
            return result.copy()
    elif (type(result) is list or type(result) is tuple) and len(result) >= 1:
        values = new_vector(len(result))
        if floats_into(result, len(result), <double*> cnp.PyArray_DATA(values)):
            return values
    checked, low = contract.vector_values(result)
    if low:
        low_precision[0] = True
    return np.array(checked, dtype=np.float64)


cdef int store_vector(object result, Py_ssize_t m, double* out, bint* low_precision) except -1:
    """A vector f's value at a point into out[0:m]: float64 arrays and lists of
    floats directly, anything else read (or refused) by the contract."""
    cdef Py_ssize_t i
    if plain_vector(result, m):
        memcpy(out, cnp.PyArray_DATA(result), m * sizeof(double))
        return 0
    if (type(result) is list or type(result) is tuple) and len(result) == m \
            and floats_into(result, m, out):
        return 0
    values, low = contract.vector_values(result, m)
    if low:
        low_precision[0] = True
    for i in range(m):
        out[i] = values[i]
    return 0


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


cdef extern from "numpy/ndarraytypes.h":
    ctypedef struct ArrayFields "PyArrayObject_fields":
        PyObject* weakreflist  # NULL: no live weak reference to the array


# Never tracked by the garbage collector: a Handout holds only its own float64
# array, so it is in no cycle, and the collector must not clear it -- a
# vectorized evaluator collected with a cycle hands its Handout on as the
# spare (see VectorizedEvaluator.__dealloc__), which a cleared one would break.
@cython.no_gc
cdef class Handout:
    """The float64 array handed to f, and whether f kept it or changed its form.

    A plain, writeable array that owns its memory: f may write to it (scipy's
    gh13740).  The evaluator writes the points through ``data``, which stays
    valid as long as the array keeps the form it was made with (``intact``: f
    may reshape, re-type, resize or freeze it).  f keeping a reference to the
    array, or to a view of it (which references it), shows in its reference
    count, a weak reference in the array's list of them (``kept``).  Either
    way the evaluator leaves the array to f and continues on a fresh one.
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
        # A weak reference keeps it too: what it reaches must not change later.
        return Py_REFCNT(self.array) != self.refs or \
            (<ArrayFields*> self.array).weakreflist != NULL

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


cdef extern from "Python.h":
    bint PyFunction_Check(object o)
    bint PyMethod_Check(object o)
    PyObject* PyMethod_GET_FUNCTION(object o)


cdef inline bint runs_python(f):
    """Whether calling f starts by running Python code (the interpreter checks
    for signals then): a Python function, or a method of one."""
    return PyFunction_Check(f) or (PyMethod_Check(f)
                                   and PyFunction_Check(<object> PyMethod_GET_FUNCTION(f)))


cdef class PythonEvaluator(Evaluator):
    """One call f(x, *args), or f(*x, *args) with unpack=True, per point.

    An f that runs no Python code (implemented in C: ``math.hypot``, ``sum``, a
    numpy function, a ctypes function) gives the interpreter no chance to see
    Ctrl-C: the loop checks for signals itself, at a look at the clock about
    every LOOK seconds of calls (counted down, as on the compiled tier).
    """
    cdef object f
    cdef tuple args
    cdef bint unpack
    cdef Py_ssize_t n, nargs, lead
    cdef PyObject** argv      # borrowed: the point (or n floats), then args
    cdef Handout point        # the array f receives (not unpack)
    cdef list floats          # unpack: x as Python floats, owned here
    cdef bint checks          # f runs no Python code: the loop checks for signals
    cdef Watch watch

    def __cinit__(self, f, tuple args, Py_ssize_t n, bint unpack):
        cdef Py_ssize_t j
        self.f = f
        self.checks = not runs_python(f)
        self.watch.countdown = self.watch.period = 1
        self.watch.last_look = 0.0
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

    cdef int look(self) except -1:
        """Check for signals, and count down to the next look about LOOK seconds on."""
        adapt(&self.watch, now())
        return PyErr_CheckSignals()

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
            if self.checks:
                self.watch.countdown -= 1
                if self.watch.countdown <= 0:
                    self.look()
            if self.point.kept() or not self.point.intact():
                self.new_point(x)  # f kept the array, or changed its form: leave it to f
            else:
                if c >= 0:
                    self.point.data[c] = x[c]
                if not same_bits(self.point.data, x, self.n):
                    memcpy(self.point.data, x, self.n * sizeof(double))  # f wrote to it
            if self.vector:
                store_vector(result, self.m, out + j * self.m, &self.low_precision)
            else:
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
            if self.checks:
                self.watch.countdown -= 1
                if self.watch.countdown <= 0:
                    self.look()
            if self.vector:
                store_vector(result, self.m, out + j * self.m, &self.low_precision)
            else:
                out[j] = as_double(result, &self.low_precision)
        return 0

    cdef object values_at(self, const double* x, Py_ssize_t n):
        # A vector f's first value: m from it (on a copy of x f may keep).
        if self.m != 0:
            return Evaluator.values_at(self, x, n)
        point = new_vector(n)
        memcpy(cnp.PyArray_DATA(point), x, n * sizeof(double))
        if self.unpack:
            result = self.f(*point.tolist(), *self.args)
        else:
            result = self.f(point, *self.args)
        values = first_vector(result, &self.low_precision)
        self.m = cnp.PyArray_DIM(values, 0)
        return values


# One matrix of points kept between vectorized evaluators (see their __dealloc__).
cdef Handout spare_matrix = None
cdef enum:
    SPARE_MATRIX_DOUBLES = 1 << 17  # 1 MiB: the cache-sized chunks, not workers' 32 MiB ones


cdef class VectorizedEvaluator(Evaluator):
    """f(X, *args) on a (rows, n) array of points, or f(*X.T, *args) with unpack=True.

    The stencil goes to f in chunks of rows_per_call points (the API passes
    contract.vectorized_rows_per_call: about VECTORIZED_CACHE_BYTES, so that f's
    temporaries stay in cache, never over VECTORIZED_CHUNK_BYTES), so memory stays
    O(n) for large n.
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
        global spare_matrix
        cdef Handout spare = spare_matrix
        if spare is not None and spare.dims[0] == rows and spare.dims[1] == self.n:
            self.matrix = spare  # taken under the GIL: no other evaluator gets it
            spare_matrix = None
        else:
            self.matrix = Handout(rows, self.n)
        self.rows = rows
        return 0

    def __dealloc__(self):
        # The matrix to the next evaluator of the same shape (the next public
        # gradient() of this f): a fresh one per call costs page faults once it
        # passes malloc's mmap threshold (n ~ 100: 1.3x one call of f).  Not if f
        # kept it or changed its form, and never a large one.
        global spare_matrix
        cdef Handout matrix = self.matrix
        if matrix is not None and self.rows > 0 and not matrix.kept() and matrix.intact() \
                and self.rows * self.n <= SPARE_MATRIX_DOUBLES:
            spare_matrix = matrix

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
            PyErr_CheckSignals()
            # f may write to the points: the next chunk writes every row it uses
            # afresh.  If f kept them, or changed the array's form (through the
            # base of a block), the next chunk gets a fresh array.
            if self.matrix.kept() or not self.matrix.intact():
                self.rows = 0
            self.store(result, m, out + start * self.m)
        return 0

    cdef object values_at(self, const double* x, Py_ssize_t n):
        # A vector f's first value: m from it (f gets x as a (1, n) array).
        if self.m != 0:
            return Evaluator.values_at(self, x, n)
        point = new_vector(n)
        memcpy(cnp.PyArray_DATA(point), x, n * sizeof(double))
        block = point.reshape(1, n)
        result = self.f(*block.T, *self.args) if self.unpack else self.f(block, *self.args)
        rows, low = contract.vectorized_vector_values(result, 1)
        if low:
            self.low_precision = True
        self.m = len(rows[0])
        return np.array(rows[0], dtype=np.float64)

    cdef int store_rows(self, result, Py_ssize_t k, double* out) except -1:
        """A vector f's values at k points: shape (k, m), into out[0:k * m]."""
        cdef Py_ssize_t i, r, m = self.m
        if cnp.PyArray_CheckExact(result) and cnp.PyArray_TYPE(result) == cnp.NPY_DOUBLE \
                and cnp.PyArray_NDIM(result) == 2 and cnp.PyArray_DIM(result, 0) == k \
                and cnp.PyArray_DIM(result, 1) == m and cnp.PyArray_IS_C_CONTIGUOUS(result) \
                and cnp.PyArray_ISNOTSWAPPED(result):
            memcpy(out, cnp.PyArray_DATA(result), k * m * sizeof(double))
            return 0
        rows, low = contract.vectorized_vector_values(result, k, m)
        if low:
            self.low_precision = True
        for r in range(k):
            for i in range(m):
                out[r * m + i] = rows[r][i]
        return 0

    cdef int store(self, result, Py_ssize_t m, double* out) except -1:
        cdef const double* data
        cdef cnp.ndarray converted
        cdef Py_ssize_t i
        if self.vector:
            return self.store_rows(result, m, out)
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
            converted = np.ascontiguousarray(result, dtype=np.float64)
            memcpy(out, cnp.PyArray_DATA(converted), m * sizeof(double))
            return 0
        # Anything else: read (or refused, with the reference's message) by the contract.
        if contract.is_low_precision(result):
            self.low_precision = True
        values = contract.vectorized_values(result, m)
        for i in range(m):
            out[i] = values[i]
        return 0


cdef inline void value_into(Objective objective, const double* x, Py_ssize_t n,
                            Py_ssize_t m, double* out, Py_ssize_t j) noexcept nogil:
    """f at x into point j's place: out[j] (m 0: a scalar objective), or
    out[j * m:(j + 1) * m] for a vector-valued one."""
    if m == 0:
        out[j] = objective.value(x, n)
    else:
        objective.values(x, n, out + j * m)


cdef inline void evaluate_points(Objective objective, const Points* p, double* scratch,
                                 double* out, Py_ssize_t start, Py_ssize_t end,
                                 const double** x, Py_ssize_t m) noexcept nogil:
    """f at points start..end-1 of p.  One gradient's points (row NULL): scratch
    holds x already (or is x: the moved coordinate is restored from its saved
    bits); else x[0] is the base row scratch holds (NULL: none yet).
    m: as value_into()."""
    cdef Py_ssize_t j, c, n = p.n
    cdef double saved
    if p.row == NULL:
        for j in range(start, end):
            c = p.coord[j]
            if c >= 0:
                saved = scratch[c]
                scratch[c] = p.value[j]
                value_into(objective, scratch, n, m, out, j)
                scratch[c] = saved
            else:
                value_into(objective, scratch, n, m, out, j)
        return
    for j in range(start, end):
        if base_of(p, j) != x[0]:
            x[0] = base_of(p, j)
            memcpy(scratch, x[0], n * sizeof(double))
        c = p.coord[j]
        if c >= 0:
            scratch[c] = p.value[j]
            value_into(objective, scratch, n, m, out, j)
            scratch[c] = x[0][c]
        else:
            value_into(objective, scratch, n, m, out, j)


cdef class CompiledEvaluator(Evaluator):
    """A compiled objective's C method, called per point without the GIL.

    One gradient's points are evaluated by the calling thread: sharing them
    among OpenMP threads was 1.6x faster on an idle 2-core machine but up to
    10x slower on a loaded one (threads spin-waiting for a busy core), so
    parallelism is left to gradient_batch, where the caller asks for it.
    The working copy of x is the caller's scratch (one per thread), so one
    evaluator serves many threads at once.

    The thread that called ready() (the owner; in a gradient_batch, the one
    whose scratch is owner_scratch) counts its evaluations down and looks at
    the clock when the count runs out (see the module docstring).
    The first look comes after about FIRST_WORK operations, as the objective
    estimates them (after one evaluation of a C function: its cost is unknown).
    """
    cdef Objective objective
    cdef const int* failed             # the objective's: non-zero once a callback raised
    cdef Watch* watch
    cdef bint watch_signals            # the owner is the main thread (known from the first look)

    def __cinit__(self, Objective objective):
        self.objective = objective
        self.failed = objective.failed
        self.gil_free = True
        if objective.outputs:
            self.vector = True
            self.m = objective.outputs
        self.watch = <Watch*> PyMem_Malloc(sizeof(Watch))
        if self.watch == NULL:
            raise MemoryError()
        self.watch.countdown = 0  # (ready() sets it)
        if not objective.outputs:
            self.direct = <void*> objective  # borrowed: self.objective holds it
            self.countdown = &self.watch.countdown
            self.direct_failed = objective.failed

    def __dealloc__(self):
        PyMem_Free(self.watch)

    def expect_vector(self):
        if not self.vector:
            raise TypeError("internal: a scalar objective on the vector tier")

    cdef int ready(self, Py_ssize_t n) except -1:
        cdef double work
        self.objective.check_dimension(n)
        self.stop = 0
        work = self.objective.work(n)
        self.watch.countdown = self.watch.period = \
            1 if not work > 0.0 else max(1, <Py_ssize_t> min(FIRST_WORK / work, 1e9))
        self.watch.last_look = 0.0  # not started
        return 0

    cdef void start_watch(self) noexcept nogil:
        # The first look, on the owner's thread: whether it is the main thread
        # (signals are checked at once).
        self.watch_signals = PyThread_get_thread_ident() == MAIN_THREAD
        self.watch.last_signals = -SIGNALS

    cdef int look(self) except -1 nogil:
        """The owner's look at the clock: the next one after about LOOK seconds
        of evaluations, and a check for signals every SIGNALS seconds.  -1 on
        Ctrl-C; in a gradient_batch (shared), 0 with stop set and the exception
        left set (raised once the other threads are done)."""
        cdef Watch* w = self.watch
        cdef double t
        if w.last_look == 0.0:
            self.start_watch()
        t = now()
        adapt(w, t)
        if self.watch_signals and t - w.last_signals >= SIGNALS:
            w.last_signals = t
            if self.interrupted() and not self.shared:
                return -1
        return 0

    cdef bint interrupted(self) noexcept nogil:
        """Whether a signal handler raised (then stop is set, and the exception)."""
        with gil:
            if signals_raised() < 0:
                atomic_store(&self.stop, 1)
                return True
        return False

    cdef void wait(self) noexcept nogil:
        cdef double t
        if self.watch.last_look == 0.0:
            self.start_watch()
            self.watch.last_look = now()
        if self.watch_signals and not atomic_load(&self.stop):
            t = now()
            if t - self.watch.last_signals >= SIGNALS:
                self.watch.last_signals = t
                self.interrupted()

    cdef int evaluate(self, const Points* p, double* scratch, double* out) except -1 nogil:
        # scratch may be p.base itself (one gradient's points, row NULL: a
        # streaming stencil's working x): each moved coordinate is restored from
        # its saved bits, so x is as it was after every point.
        cdef Py_ssize_t j, c, n = p.n, k = p.k
        cdef const Py_ssize_t* coord = p.coord  # locals: the stores to scratch
        cdef const double* value = p.value      # do not reload them
        cdef double saved
        # The common cases, without a look: one gradient's points on the owner,
        # before its next look, or (gradient_batch checks `stop` between rows)
        # up to STRIDE points on another thread.  The loop of evaluate_points()
        # written out, so that the compiler keeps it as tight as without the watch.
        if p.row != NULL or self.vector:
            return self.evaluate_watched(p, scratch, out)
        if not self.shared or scratch == self.owner_scratch:
            if self.watch.countdown <= p.k:
                return self.evaluate_watched(p, scratch, out)
            self.watch.countdown -= p.k
        elif p.k > STRIDE:
            return self.evaluate_watched(p, scratch, out)
        if scratch != p.base:
            memcpy(scratch, p.base, n * sizeof(double))
        for j in range(k):
            c = coord[j]
            if c >= 0:
                saved = scratch[c]
                scratch[c] = value[j]
                out[j] = self.objective.value(scratch, n)
                scratch[c] = saved
            else:
                out[j] = self.objective.value(scratch, n)
        if self.failed[0]:
            return self.fail()
        return 0

    cdef int fail(self) except -1 nogil:
        """The objective failed (a ctypes callback of Python code raised): raise
        what it raised; in a gradient_batch, stop, and leave it to raise_stop()."""
        if self.shared:
            atomic_store(&self.stop, 1)
            return 0
        with gil:
            self.objective.raise_failure()
        return 0

    cdef int raise_stop(self) except -1:
        if PyErr_Occurred():  # Ctrl-C, left set by the thread that called ready()
            return -1
        self.objective.raise_failure()
        raise SystemError("a compiled batch stopped without an error")

    cdef int evaluate_watched(self, const Points* p, double* scratch, double* out) except -1 nogil:
        """evaluate(), in pieces: up to the owner's next look, or STRIDE points
        on the other threads of a gradient_batch, which stop once it is interrupted."""
        cdef Py_ssize_t start = 0, end, k = p.k
        cdef const double* x = NULL
        cdef bint owner = not self.shared or scratch == self.owner_scratch
        if p.row == NULL and scratch != p.base:
            memcpy(scratch, p.base, p.n * sizeof(double))
        while start < k:
            end = start + (self.watch.countdown if owner else STRIDE)
            if end > k:
                end = k
            evaluate_points(self.objective, p, scratch, out, start, end, &x,
                            self.m if self.vector else 0)
            if owner:
                self.watch.countdown -= end - start
                if self.watch.countdown <= 0:
                    self.look()
            if self.failed[0]:
                return self.fail()
            if self.shared and atomic_load(&self.stop):
                return 0  # interrupted: these values are never used
            start = end
        return 0

    cdef int evaluate_at(self, const double* x, Py_ssize_t n, double* out) except -1 nogil:
        value_into(self.objective, x, n, self.m if self.vector else 0, out, 0)
        if self.failed[0]:
            return self.fail()
        self.watch.countdown -= 1  # (only the owner evaluates single points)
        if self.watch.countdown <= 0:
            self.look()
        return 0


cdef class MapEvaluator(Evaluator):
    """workers=: each evaluate() call's points go to an engine (``_workers.Engine``:
    threads, processes, an executor, a Dask client) in chunks of consecutive
    points, one task each (``_workers.evaluate_chunk`` runs f on a worker).

    The workers return what f returned; the values are read here, in point
    order, as the Python tier reads them (the vectorized tier's f: as its
    results are read), so the results, and which value is refused first, are
    those of a serial run.
    """
    cdef object engine
    cdef tuple head                # (f, args, unpack, vectorized, as_array)
    cdef bint vectorized
    cdef Py_ssize_t n, rows_per_call
    cdef double* out               # during evaluate(): where the values go
    cdef list starts, sizes        # during evaluate(): each task's points

    def __cinit__(self, engine, f, tuple args, Py_ssize_t n, bint unpack, bint vectorized,
                  Py_ssize_t rows_per_call):
        self.engine = engine
        self.head = (f, args, unpack, vectorized, True)
        self.vectorized = vectorized
        self.n = n
        self.rows_per_call = rows_per_call
        # gradient_batch hands over as many rows' points at once as it groups.
        self.points_per_call = 1 << 30

    cdef int evaluate(self, const Points* p, double* scratch, double* out) except -1 nogil:
        with gil:
            return self.spread(p, out)

    cdef int spread(self, const Points* p, double* out) except -1:
        cdef Py_ssize_t start, end, j, r, size, k = p.k, n = self.n
        cdef const double* base
        cdef const double* last
        cdef double* rows
        size = self.engine.chunk_size(k, self.rows_per_call if self.vectorized else None)
        tasks, self.starts, self.sizes = [], [], []
        for start in range(0, k, size):
            end = min(start + size, k)
            # The chunk's distinct base rows (consecutive points share theirs).
            row_of = []
            last = NULL
            count = 0
            for j in range(start, end):
                if base_of(p, j) != last:
                    last = base_of(p, j)
                    count += 1
                row_of.append(count - 1)
            bases = np.empty((count, n))
            rows = <double*> cnp.PyArray_DATA(bases)
            last = NULL
            r = -1
            for j in range(start, end):
                base = base_of(p, j)
                if base != last:
                    last = base
                    r += 1
                    memcpy(rows + r * n, base, n * sizeof(double))
            points = [(row_of[j - start], p.coord[j], p.value[j]) for j in range(start, end)]
            tasks.append(self.head + (bases, points))
            self.starts.append(start)
            self.sizes.append(end - start)
        self.out = out
        try:
            self.engine.run(tasks, self.consume)
        finally:
            self.out = NULL
        return 0

    cdef object values_at(self, const double* x, Py_ssize_t n):
        # A vector f's first value: m from it, f(x) as one task (as the Python
        # and vectorized tiers read it).
        cdef Py_ssize_t itself = -1
        if self.m != 0:
            return Evaluator.values_at(self, x, n)
        point = new_vector(n)
        memcpy(cnp.PyArray_DATA(point), x, n * sizeof(double))
        results = []  # consume(0, result): results.insert(0, result)
        self.engine.run([self.head + ([point], [(0, itself, 0.0)])], results.insert)
        if not self.vectorized:
            values = first_vector(results[0][0], &self.low_precision)
        else:
            rows, low = contract.vectorized_vector_values(results[0][0], 1)
            if low:
                self.low_precision = True
            values = np.array(rows[0], dtype=np.float64)
        self.m = cnp.PyArray_DIM(values, 0)
        return values

    def consume(self, Py_ssize_t i, result):
        """Task i's values, read into place (called in task order by the engine);
        a vector f's m values per point as the serial tiers read them."""
        cdef Py_ssize_t j, r, start = self.starts[i], size = self.sizes[i], m = self.m
        if self.vector:
            if not self.vectorized:
                for j in range(size):
                    store_vector(result[j], m, self.out + (start + j) * m, &self.low_precision)
                return
            rows, low = contract.vectorized_vector_values(result[0], size, m)
            if low:
                self.low_precision = True
            for j in range(size):
                for r in range(m):
                    self.out[(start + j) * m + r] = rows[j][r]
            return
        if self.vectorized:
            result = result[0]
            if contract.is_low_precision(result):  # float32: a fixed h is too small
                self.low_precision = True
            result = contract.vectorized_values(result, size)
            for j in range(size):
                self.out[start + j] = result[j]
            return
        for j in range(size):
            self.out[start + j] = as_double(result[j], &self.low_precision)
