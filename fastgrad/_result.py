"""DescentResult and the stop reasons of gradient_descent, shared by both implementations."""
from dataclasses import dataclass
from typing import Any, Optional

# Why a descent stopped.  The Cython core reports these codes; both
# implementations turn them into the same message with stop_message().
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


def stop_message(reason, nit, norm, tol, coordinate=-1, ftol=None, max_backtracks=None):
    """The message of a DescentResult: which rule stopped the run, and when."""
    if reason == CONVERGED:
        return f"converged: gradient norm {norm:.6g} <= tol {tol:.6g} after {nit} updates"
    if reason == MAX_ITER:
        return f"max_iter reached: {nit} updates made, gradient norm {norm:.6g} > tol {tol:.6g}"
    if reason == GRADIENT_NOT_FINITE:
        return (f"stopped at iteration {nit}: the gradient is not finite "
                "(f returned nan or inf near x)")
    if reason == STEP_NOT_FINITE:
        return f"stopped at iteration {nit}: the update would make x not finite"
    if reason == STEP_LOST:
        return (f"stopped at iteration {nit}: the update is lost in rounding "
                "(x would not change)")
    if reason == STENCIL_LOST:
        return (f"stopped at iteration {nit}: at the next x, h is too small for "
                f"x[{coordinate}] (the realised step rounds to 0)")
    if reason == CALLBACK:
        return f"stopped by callback after {nit} updates"
    if reason == FTOL:
        return (f"converged: the relative change of f in update {nit} is <= ftol {ftol:.6g} "
                f"(gradient norm {norm:.6g})")
    if reason == F_NOT_FINITE:
        return f"stopped at iteration {nit}: f is not finite at the next x"
    if reason == LINE_SEARCH_FAILED:
        return (f"stopped at iteration {nit}: no step satisfied the Armijo condition "
                f"after {max_backtracks} backtracks")
    raise AssertionError(f"unknown stop reason {reason}")


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
