# The compiled-objective interface, for Cython users:
#
#     from fastgrad.objectives cimport wrap_c_function
#
#     cdef double my_f(int n, double* x, void* user_data) noexcept nogil:
#         ...
#     objective = wrap_c_function(my_f, NULL, None)   # a fastgrad.objectives.CFunction
#
# The function must not modify x, must not raise, and must be thread-safe
# (gradient_batch calls it from several threads at once).  A compiled loop
# that sees `failed[0]` non-zero stops and calls raise_failure().

ctypedef double (*objective_function)(int n, double* x, void* user_data) noexcept nogil
ctypedef double (*objective_function_no_data)(int n, double* x) noexcept nogil
# A vector-valued function (fastgrad.jacobian): f(x)[0:m] into out.
ctypedef void (*vector_function)(int n, double* x, int m, double* out, void* user_data) noexcept nogil


cdef class Objective:
    # Required dimension, or -1 where any n >= min_dim works.
    cdef readonly Py_ssize_t dim
    cdef Py_ssize_t min_dim
    cdef bint initialised  # objectives are immutable: __init__ runs once
    cdef int init_once(self) except -1
    # f at x[0:n]; n already checked by check_dimension.  No GIL, no exceptions.
    cdef double value(self, const double* x, Py_ssize_t n) noexcept nogil
    # A vector-valued objective (fastgrad.jacobian): the number of values it
    # writes, out[0:outputs] = f(x) (0: a scalar objective, value() instead).
    cdef readonly Py_ssize_t outputs
    cdef void values(self, const double* x, Py_ssize_t n, double* out) noexcept nogil
    cdef int check_dimension(self, Py_ssize_t n) except -1
    # The arguments of the built-in class's __init__ (for pickling).
    cdef tuple parameters(self)
    # About how many arithmetic operations value() makes for x of length n
    # (0: unknown, as for a C function): fastgrad's compiled loops look at the
    # clock (for Ctrl-C) after so much work, then as often as time tells them.
    cdef double work(self, Py_ssize_t n) noexcept nogil
    # Non-zero once value() failed (a ctypes callback of Python code that
    # raised; read without the GIL), and raising what failed (with the GIL).
    cdef const int* failed
    cdef int raise_failure(self) except -1


cdef class Failure:
    # What a guarded ctypes callback raised: the first exception, and a flag
    # the compiled loops read without the GIL.
    cdef int flag
    cdef object error
    cdef int take(self) except -1


cdef class CFunction(Objective):
    cdef objective_function function
    cdef objective_function_no_data function_no_data
    cdef vector_function vector
    cdef void* user_data
    cdef object owner  # keeps the callback and its user data alive
    cdef Failure failure  # for a ctypes callback of Python code, else None
    cdef int guard(self, function) except -1


cdef CFunction wrap_c_function(objective_function function, void* user_data, object owner)
