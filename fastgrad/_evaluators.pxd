# The one interface every evaluation tier implements (see _evaluators.pyx).

cdef struct Points:
    # Point j is base row row[j] (row NULL: row 0 for every point) with
    # coordinate coord[j] replaced by value[j] (coord[j] < 0: the row itself).
    const double* base      # the base rows, (rows, n) C-contiguous
    Py_ssize_t n
    const Py_ssize_t* row
    const Py_ssize_t* coord
    const double* value
    Py_ssize_t k            # number of points


cdef class Evaluator:
    # evaluate() needs no GIL: the loops release it (the compiled tier).
    cdef bint gil_free
    # Points one evaluate() call takes to advantage (the vectorized tier hands
    # f many at once); gradient_batch groups that many points of several rows.
    cdef Py_ssize_t points_per_call
    # f returned a float of less than double precision (float32...) at some point.
    cdef readonly bint low_precision
    # Values per point: f at point j is out[j * m:(j + 1) * m].  1 for a scalar f
    # (the gradient's case); a vector-valued f (jacobian: `vector`) has the m
    # of its first value, 0 until values_at() has seen it.
    cdef readonly Py_ssize_t m
    cdef readonly bint vector
    # Set by gradient_batch when evaluate() runs on several threads at once
    # (gil-free evaluators), with the scratch of the thread that calls ready():
    # that thread watches for Ctrl-C (see _evaluators).
    cdef bint shared
    cdef const double* owner_scratch
    # Set (atomically) when the run must end before its work is done: the
    # thread that set it raises; the other threads see it and stop evaluating
    # (their values are never used).
    cdef int stop
    # Called once, with the GIL, after the stencil is checked and before the
    # first evaluation: where the reference first calls f (a compiled objective
    # checks x's length here, as its __call__ does).
    cdef int ready(self, Py_ssize_t n) except -1
    # f at the k points, in order, into out[0:k]; scratch holds n doubles owned
    # by the caller's workspace (one per thread).  0, or -1 with an exception set.
    cdef int evaluate(self, const Points* p, double* scratch, double* out) except -1 nogil
    # f at x itself into out[0].  The base class's goes through evaluate() with
    # no scratch: a gil-free tier (which uses scratch) must define its own.
    cdef int evaluate_at(self, const double* x, Py_ssize_t n, double* out) except -1 nogil
    # f at x as a new float64 array of m values (a scalar f: of 1), with the
    # GIL; a vector f's first value tells m (checked: 1-D, real, m >= 1).
    cdef object values_at(self, const double* x, Py_ssize_t n)
    # Called by the thread that called ready() while it waits for the other
    # threads of a gradient_batch: on Ctrl-C it sets stop and leaves the
    # KeyboardInterrupt set, for the batch to raise after its threads are done.
    cdef void wait(self) noexcept nogil
    # After a gradient_batch that stopped: raise why (-1).
    cdef int raise_stop(self) except -1
    # A scalar compiled objective (an Objective, borrowed: the evaluator holds
    # it) that a loop on the owner's thread may call itself, point by point, in
    # place of evaluate() (_stencil.stencil_direct): NULL for the other tiers.
    # (A pointer, not an object field: the base class stays out of the garbage
    # collector, and gradient() pays nothing for it.)  countdown: the
    # evaluations to the owner's next look at the clock (direct_ready() takes
    # the points from it, as evaluate() does); direct_failed: the objective's
    # flag; fail(): raise what failed.
    cdef void* direct
    cdef Py_ssize_t* countdown
    cdef const int* direct_failed
    cdef int fail(self) except -1 nogil
