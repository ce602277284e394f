# The stencil as C reads it: one row of _stencils.STENCILS, placed around x.
from ._evaluators cimport Evaluator

cdef enum:
    MAX_TERMS = 9  # the longest row of the table (central order 8 has 8 terms)


cdef struct Scheme:
    # One row of the table: terms in summation order.
    Py_ssize_t terms
    double offset[MAX_TERMS]   # in units of h; 0 is f(x) itself
    double weight[MAX_TERMS]
    Py_ssize_t slot[MAX_TERMS] # where term t's value sits among a coordinate's points (-1: f(x))
    Py_ssize_t per_coordinate  # points per coordinate (the terms with offset != 0)
    bint center                # whether f(x) is evaluated (first of all points)
    double span_hi, span_lo    # g[i] = sum / (realised(span_hi) - realised(span_lo))
    bint outer_points          # some offset lies beyond the span: check those points too


cdef struct Stencil:
    # A scheme with its dimension and steps; read-only once made, shared by threads.
    Scheme scheme
    Py_ssize_t n
    Py_ssize_t k               # points per gradient: center + n * per_coordinate
    const double* h            # h[i * h_stride] (stride 0: one step for all)
    Py_ssize_t h_stride


cdef struct Workspace:
    # What one thread writes while it takes gradients: the points and f at
    # them (room for `capacity` points), their base rows, and a working x.
    Py_ssize_t capacity
    Py_ssize_t* row
    Py_ssize_t* coord
    double* value
    double* fval
    double* scratch


cdef class StencilRow:
    # A row of the table converted once (the API keeps one per row).
    cdef Scheme scheme
    cdef readonly str method
    cdef readonly int order


cdef class Steps:
    # h as the loops read it: one step for every coordinate, or one each.
    cdef double scalar
    cdef object array
    cdef const double* data
    cdef Py_ssize_t stride


cdef int stencil_init(Stencil* s, const Scheme* scheme, Py_ssize_t n, Steps h) except -1
cdef int workspace_alloc(Workspace* w, Py_ssize_t points, Py_ssize_t n, bint rows) except -1
cdef void workspace_free(Workspace* w) noexcept nogil
cdef Py_ssize_t stencil_place(const Stencil* s, const double* x, Py_ssize_t* coord,
                              double* value) noexcept nogil
cdef void stencil_combine(const Stencil* s, const double* x, const double* fval,
                          double* g) noexcept nogil
cdef int stencil_gradient(Evaluator ev, const Stencil* s, const double* x, Workspace* w,
                          double* g) except -1 nogil
cdef object new_vector(Py_ssize_t n)
