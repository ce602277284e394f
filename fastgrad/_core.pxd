# Declarations of the core, so that evaluator modules (and later the compiled
# tier) can cimport the interface they implement.

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FASTGRAD_OPENMP 1
    #define fastgrad_max_threads() omp_get_max_threads()
    #else
    #define FASTGRAD_OPENMP 0
    #define fastgrad_max_threads() 1
    #endif
    """
    # Whether this module was compiled with OpenMP, and its default thread count.
    const bint FASTGRAD_OPENMP
    int fastgrad_max_threads() noexcept nogil


cdef enum Method:
    CENTRAL = 0
    FORWARD = 1
    BACKWARD = 2


cdef class Evaluator:
    """How a batch of stencil points is evaluated: the one thing the tiers differ in.

    Point j is x with coordinate coord[j] replaced by value[j] (coord[j] < 0:
    x itself).  evaluate() writes f at the k points, in order, to out[0:k] and
    returns 0, or sets a Python exception and returns -1.

    gil_free: evaluate() needs no GIL, so the core releases it (compiled tier).

    rows_per_call > 0: the evaluator gains from many points per call (the
    vectorized tier), so gradient_batch hands it the stencils of several rows
    of X at once through evaluate_rows(): point j is row X[row[j]] with
    coordinate coord[j] replaced by value[j].
    """
    cdef bint gil_free
    cdef Py_ssize_t rows_per_call
    cdef int evaluate(self, const double* x, Py_ssize_t n, const Py_ssize_t* coord,
                      const double* value, Py_ssize_t k, double* out) except -1 nogil
    cdef int evaluate_rows(self, const double* X, Py_ssize_t n, const Py_ssize_t* row,
                           const Py_ssize_t* coord, const double* value, Py_ssize_t k,
                           double* out) except -1 nogil
