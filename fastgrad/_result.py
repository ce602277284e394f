"""What a descent returns, built here once for both implementations.

Both loops (``fastgrad.reference``'s and the compiled one in ``_descent.pyx``)
end with an outcome -- the stop reason, counts and arrays -- and hand it to
``descent_result``, which writes the message and the DescentResult.
"""
import enum
from dataclasses import dataclass
from typing import Any, Optional


def _in_subinterpreter():
    """Whether this is an interpreter other than the main one (standard library only)."""
    import _thread
    is_main = getattr(_thread, "_is_main_interpreter", None)  # Python >= 3.12
    if is_main is not None:
        return not is_main()
    try:
        import _xxsubinterpreters as interpreters  # Python 3.8 - 3.11
    except ImportError:  # (not built): no subinterpreters from Python code either
        return False
    return int(interpreters.get_current()) != int(interpreters.get_main())


# Imported by fastgrad/__init__.py before any compiled module: in a subinterpreter
# the compiled core would deadlock (its GIL handling is the main interpreter's)
# or abort the process (OpenMP threads), and Cython's own check lets the first
# interpreter to load a module claim it, which would lock the main interpreter
# out.  So nothing of fastgrad loads there.
if _in_subinterpreter():
    raise ImportError("fastgrad cannot be imported in a subinterpreter: its compiled core "
                      "(Cython, numpy, OpenMP threads) runs in the main interpreter only; "
                      "import it there, or use worker processes")


class Stop(enum.IntEnum):
    """Why a descent stopped.

    The source is ``_descent.pyx``'s ``cpdef enum`` (its C loop reports these
    numbers); this standard-library copy serves the reference, and
    tests/test_contract.py holds it and ``_descent.pyi``'s to the same names
    and numbers.
    """
    CONVERGED = 0
    MAX_ITER = 1
    GRADIENT_NOT_FINITE = 2
    STEP_NOT_FINITE = 3
    STEP_LOST = 4
    STENCIL_LOST = 5
    CALLBACK = 6
    FTOL = 7
    LINE_SEARCH_FAILED = 8
    F_NOT_FINITE = 9
    START_NOT_FINITE = 10
    DIVERGED = 11
    WOLFE_FAILED = 12


#: The message of each stop reason; fields: nit, norm, tol, coordinate, ftol, max_backtracks,
#: max_linesearch.
MESSAGES = {
    Stop.CONVERGED: "converged: gradient norm {norm:.6g} <= tol {tol:.6g} after {nit} updates",
    Stop.MAX_ITER: "max_iter reached: {nit} updates made, gradient norm {norm:.6g} > tol {tol:.6g}",
    Stop.GRADIENT_NOT_FINITE: ("stopped at iteration {nit}: the gradient is not finite at the "
                               "next x (f returned nan or inf near it)"),
    Stop.START_NOT_FINITE: ("stopped at iteration 0: the gradient is not finite at x0 "
                            "(f returned nan or inf near it)"),
    Stop.STEP_NOT_FINITE: "stopped at iteration {nit}: the update would make x not finite",
    Stop.STEP_LOST: ("stopped at iteration {nit}: the update is lost in rounding "
                     "(x would not change)"),
    Stop.STENCIL_LOST: ("stopped at iteration {nit}: at the next x, h is too small for "
                        "x[{coordinate}] (the realised step rounds to 0)"),
    Stop.CALLBACK: "stopped by callback after {nit} updates",
    Stop.FTOL: ("converged: the relative change of f in update {nit} is <= ftol {ftol:.6g} "
                "(gradient norm {norm:.6g})"),
    Stop.LINE_SEARCH_FAILED: ("stopped at iteration {nit}: no step satisfied the Armijo "
                              "condition after {max_backtracks} backtracks"),
    Stop.F_NOT_FINITE: "stopped at iteration {nit}: f is not finite at the next x",
    Stop.DIVERGED: ("stopped at iteration {nit}: the run diverged (|x| grew by orders of "
                    "magnitude while the gradient norm rose, to {norm:.6g}); try a smaller "
                    "learning_rate, unless f is unbounded below"),
    Stop.WOLFE_FAILED: ("stopped at iteration {nit}: the line search found no step satisfying "
                        "the Wolfe conditions in {max_linesearch} trials, nor along -g "
                        "(gradient norm {norm:.6g}); x is the last iterate"),
}

#: Numeric trouble that ends a diverging run (see diverged()).
TROUBLE = frozenset((Stop.GRADIENT_NOT_FINITE, Stop.STEP_NOT_FINITE, Stop.STENCIL_LOST,
                     Stop.F_NOT_FINITE))
#: A run diverged if, when trouble stopped it, the gradient norm had risen with
#: each of the last RISES updates (each update, if fewer were made) and the
#: largest |x_i| had grown to GROWTH * max(1, largest |x0_i|) or more.
RISES = 3
GROWTH = 1000.0


def diverged(reason, nit, rising, top, top0):
    """Whether a run that stopped for ``reason`` after ``nit`` updates diverged.

    ``rising``: the updates in a row, up to the returned x, after which the
    gradient norm was larger than before; ``top``, ``top0``: the largest |x_i| of
    the returned x and of x0.  The reason stays as it is unless both the gradient
    norm and x grew without bound: a descent that overshoots further and further
    (learning_rate too large), or one running down an f unbounded below.
    """
    return (reason in TROUBLE and nit >= 1 and rising >= min(nit, RISES)
            and top >= GROWTH * max(1.0, top0))


def stop_message(reason, nit, norm, tol, coordinate=-1, ftol=None, max_backtracks=None,
                 max_linesearch=None):
    """The message of a DescentResult: which rule stopped the run, and when."""
    return MESSAGES[Stop(reason)].format(nit=nit, norm=norm, tol=tol, coordinate=coordinate,
                                         ftol=ftol, max_backtracks=max_backtracks,
                                         max_linesearch=max_linesearch)


@dataclass
class DescentResult:
    """What gradient_descent returns: where the run stopped, and why.

    Made by ``fastgrad.gradient_descent`` and ``fastgrad.reference.gradient_descent``
    (the same class), never by the user.

    Parameters
    ----------
    x : ndarray or list
        The last iterate (a float64 ndarray in ``fastgrad``, a list of floats in
        ``fastgrad.reference``).
    fun : float
        f at ``x``.
    grad : ndarray or list
        The finite-difference gradient at ``x``.
    nit : int
        Number of updates made.
    nfev : int
        Evaluations of f (a vectorized call of k points counts k).
    converged : bool
        Whether the run met a convergence test: gradient norm at ``x`` <= tol,
        or (with ftol) a small relative change of f.
    message : str
        Which rule stopped the run, and at which iteration.
    state : DescentState
        The optimizer's state after the last update (its buffers and counters):
        pass it as ``gradient_descent(f, result.x, ..., state=result.state)``
        to go on where this run stopped -- 100 + 100 iterations equal 200,
        bit for bit.
    path : 2-D array or list of lists, optional
        With ``record=True``, the iterates x0, x1, ..., x (shape (nit + 1, n));
        else None.
    path_fun : 1-D array or list, optional
        With ``record=True``, f at each iterate of ``path``; else None.

    Returns
    -------
    DescentResult
        A dataclass: fields by name, ``dataclasses.asdict`` for a dict.

    Examples
    --------
    >>> import fastgrad
    >>> r = fastgrad.gradient_descent(lambda x, y: x**2 + y**2, [1.0, -1.0], 0.5,
    ...                               unpack=True, record=True)
    >>> r.converged, r.nit, r.x, r.fun
    (True, 1, array([0., 0.]), 0.0)
    >>> r.message
    'converged: gradient norm 0 <= tol 1e-06 after 1 updates'
    >>> r.path.tolist(), r.nfev
    ([[1.0, -1.0], [0.0, 0.0]], 10)
    """

    x: Any
    fun: float
    grad: Any
    nit: int
    nfev: int
    converged: bool
    message: str
    path: Optional[Any] = None
    path_fun: Optional[Any] = None
    state: Optional["DescentState"] = None


@dataclass(frozen=True, eq=False)
class DescentState:
    """Where an optimizer stands after a run: ``DescentResult.state``.

    Pass it back as ``gradient_descent(f, result.x, ..., state=result.state)``
    (with the same kind of optimizer, in the same dimension) and the run goes
    on as if it had never stopped: 100 + 100 iterations give the 200-iteration
    result bit for bit.  Made by gradient_descent, never by hand.

    Parameters
    ----------
    optimizer : str
        The optimizer class whose rule made the state ("SGD", "Momentum",
        "Adam", "Armijo").
    n : int
        The dimension of x.
    nit : int
        Updates made since the first of the resumed runs.
    buffers : dict
        The rule's buffers and counters, as its ``save()`` gives them
        (Momentum: ``velocity`` once an update was made; Adam: ``m``, ``v``
        and the running products ``beta1_t``, ``beta2_t``; SGD and Armijo,
        which start every update afresh: none).  Vectors are float64 arrays in
        ``fastgrad`` and lists in ``fastgrad.reference``; either takes both.

    Examples
    --------
    >>> import fastgrad
    >>> bowl = lambda x, y: x**2 + 10 * y**2
    >>> r = fastgrad.gradient_descent(bowl, [1.0, 1.0], 0.05, unpack=True, max_iter=5,
    ...                               optimizer="adam")
    >>> r.state.optimizer, r.state.nit, sorted(r.state.buffers)
    ('Adam', 5, ['beta1_t', 'beta2_t', 'm', 'v'])
    >>> r = fastgrad.gradient_descent(bowl, r.x, 0.05, unpack=True, max_iter=5,
    ...                               optimizer="adam", state=r.state)
    >>> r.state.nit
    10
    """

    optimizer: str
    n: int
    nit: int
    buffers: dict


class IntermediateResult:
    """What a callback whose one parameter is named ``intermediate_result`` gets
    after each update (scipy.optimize's convention).

    Attributes
    ----------
    x : ndarray or list
        The new iterate (a copy).
    fun : float
        f at x.
    grad : ndarray or list
        The gradient at x (a copy): the run computes it anyway.
    nit : int
        Updates made so far in this run.
    nfev : int
        Evaluations of f so far.

    Examples
    --------
    >>> import fastgrad
    >>> seen = []
    >>> def log(intermediate_result):
    ...     seen.append(intermediate_result)
    >>> r = fastgrad.gradient_descent(lambda x, y: x**2 + y**2, [1.0, -1.0], 0.25,
    ...                               unpack=True, max_iter=2, callback=log)
    >>> [(s.nit, s.nfev, round(s.fun, 6)) for s in seen]
    [(1, 10, 0.5), (2, 15, 0.125)]
    >>> seen[-1].x
    array([ 0.25, -0.25])
    """

    __slots__ = ("x", "fun", "grad", "nit", "nfev")

    def __init__(self, x, fun, grad, nit, nfev):
        self.x, self.fun, self.grad, self.nit, self.nfev = x, fun, grad, nit, nfev

    def __repr__(self):
        return (f"IntermediateResult(x={self.x!r}, fun={self.fun!r}, grad={self.grad!r}, "
                f"nit={self.nit!r}, nfev={self.nfev!r})")


def wants_intermediate_result(callback):
    """Whether callback takes scipy's ``intermediate_result``: its one parameter
    has that name (as scipy.optimize decides)."""
    import inspect
    try:
        parameters = inspect.signature(callback).parameters
    except (TypeError, ValueError):  # no signature to read (some builtins)
        return False
    return set(parameters) == {"intermediate_result"}


class ByKeyword:
    """A callback that takes scipy's ``intermediate_result``, called as scipy
    calls it: by keyword (so a keyword-only parameter works too)."""

    __slots__ = ("callback",)

    def __init__(self, callback):
        self.callback = callback

    def __call__(self, value):
        return self.callback(intermediate_result=value)


def call_back(callback, value):
    """Whether callback(value) asks the run to stop: it returns a true value or
    raises StopIteration (scipy's two ways)."""
    try:
        answer = callback(value)
    except StopIteration:
        return True
    try:
        return bool(answer)
    except Exception as error:  # an array's truth is ambiguous: say whose value it was
        from ._contract import callback_answer
        raise TypeError(callback_answer(answer)) from error


def descent_result(reason, x, fun, grad, nit, nfev, norm, coordinate, tol, ftol, optimizer,
                   path=None, path_fun=None, state=None):
    """The DescentResult of a run that stopped for ``reason`` (both implementations)."""
    message = stop_message(reason, nit, norm, tol, coordinate, ftol,
                           getattr(optimizer, "max_backtracks", None),
                           getattr(optimizer, "max_linesearch", None))
    return DescentResult(x=x, fun=fun, grad=grad, nit=nit, nfev=nfev,
                         converged=reason == Stop.CONVERGED or reason == Stop.FTOL,
                         message=message, path=path, path_fun=path_fun, state=state)
