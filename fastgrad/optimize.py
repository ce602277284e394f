"""Drop-ins for scipy.optimize users: the same signatures and semantics.

* :func:`approx_fprime` -- scipy.optimize.approx_fprime: forward differences,
  the same step arithmetic, so the same numbers;
* :func:`check_grad` -- scipy.optimize.check_grad, on this approx_fprime;
* :func:`value_and_grad` -- f and its gradient in one function for
  ``scipy.optimize.minimize(fun, x0, jac=True)``, sharing f(x) with a
  one-sided stencil (n + 1 evaluations per call).

f may write to the array it gets (scipy's gh13740): every evaluation still
sees exactly its point, and the caller's x is never touched.
"""
import numpy as np

from . import _contract as contract
from ._jacobian import _evaluate, _plan

__all__ = ["approx_fprime", "check_grad", "value_and_grad"]

_epsilon = float(np.sqrt(np.finfo(float).eps))


class _AtLeast1d:
    """f(x, *args) as a 1-D array (scipy's approx_derivative reads f so)."""
    __slots__ = ("f",)

    def __init__(self, f):
        self.f = f

    def __call__(self, x, *args):
        return np.atleast_1d(self.f(x, *args))


def approx_fprime(xk, f, epsilon=_epsilon, *args):
    """Forward-difference gradient (or Jacobian) of f at xk, as scipy's.

    Parameters
    ----------
    xk : array_like
        The point (at most 1-D).
    f : callable
        ``f(xk, *args)``: a scalar, or a 1-D array of m values.
    epsilon : float or array_like
        The step per coordinate; where ``(xk + epsilon) - xk`` rounds to 0,
        scipy's relative step ``sqrt(eps) * sign(xk) * max(1, |xk|)`` instead.
    *args
        Extra arguments passed to f.

    Returns
    -------
    ndarray
        Shape (n,) for a scalar f (or m = 1, as scipy), (m, n) otherwise; the
        numbers equal scipy.optimize.approx_fprime's: f(xk) first, then
        ``(f(xk + h_i e_i) - f(xk)) / ((xk_i + h_i) - xk_i)``, n + 1 evaluations.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.optimize import approx_fprime
    >>> approx_fprime(np.ones(2), lambda x, c0, c1: c0 * x[0] ** 2 + c1 * x[1] ** 2,
    ...               [1.4901161193847656e-08, 2.1073424255447017e-07], 1, 200)
    array([  2.        , 400.00004208])
    """
    x0 = np.atleast_1d(np.asarray(xk, float))
    if x0.ndim > 1:
        raise ValueError("`x0` must have at most 1 dimension.")
    h = np.asarray(epsilon, dtype=float)
    if h.ndim > 1 or h.size not in (1, x0.size):
        raise ValueError(contract.epsilon_shape(h.shape, x0.size))
    h = np.broadcast_to(h.reshape(-1) if h.ndim else h, x0.shape)
    sign_x0 = (x0 >= 0).astype(float) * 2 - 1
    with np.errstate(all="ignore"):  # a step beyond the float range: refused below
        dx = (x0 + h) - x0
    h = np.where(dx == 0, _epsilon * sign_x0 * np.maximum(1.0, np.abs(x0)), h)
    with np.errstate(all="ignore"):
        bad = ~np.isfinite((x0 + h) - x0)
    if bad.any():  # (scipy's gradient is nan there)
        j = int(np.argmax(bad))
        raise ValueError(contract.epsilon_unusable(j, float(x0[j]), float(h[j])))
    plan = _plan(_AtLeast1d(f), np.ascontiguousarray(h, dtype=np.float64).copy(),
                 "forward", None, None, args, False, False, False)
    # Steps as scipy takes them (a negative fallback step too): straight to the kernel.
    J = _evaluate(plan, x0, raw_steps=True)[1]
    return J[0] if J.shape[0] == 1 else J


_UNSET = object()


def _random_state(rng, seed):
    """numpy's generator, as scipy's check_grad picks it: ``rng`` through
    np.random.default_rng; else the legacy ``seed`` (check_random_state: an int
    seeds a RandomState; None: numpy's global RandomState)."""
    import numbers
    if rng is not _UNSET:
        if seed is not None:
            raise TypeError("check_grad() got multiple values for argument now known as "
                            "`rng`. Specify one of `rng` or `seed`.")
        return np.random.default_rng(rng)
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, (numbers.Integral, np.integer)):
        return np.random.RandomState(seed)
    if isinstance(seed, (np.random.RandomState, np.random.Generator)):
        return seed
    raise ValueError(f"{seed!r} cannot be used to seed a numpy.random.RandomState instance")


def check_grad(func, grad, x0, *args, epsilon=_epsilon, direction="all", rng=_UNSET,
               seed=None):
    """The norm of grad(x0) minus approx_fprime's gradient, as scipy's check_grad.

    Parameters
    ----------
    func, grad : callable
        ``func(x, *args) -> float`` and its gradient ``grad(x, *args)``.
    x0 : array_like
        The point.
    epsilon : float
        approx_fprime's step.
    direction : {"all", "random"}
        "random": along ``v = rng.standard_normal(n)`` (not normalised, as scipy).
    rng : None, int or numpy.random.Generator
        As scipy's: through ``np.random.default_rng``.
    seed : None, int, numpy.random.RandomState or Generator
        scipy's older name (an int seeds a RandomState); with neither, numpy's
        global RandomState, as scipy.

    Returns
    -------
    float
        The same number scipy.optimize.check_grad gives.

    Examples
    --------
    >>> from fastgrad.optimize import check_grad
    >>> float(check_grad(lambda x: x[0] ** 2 - 0.5 * x[1] ** 3,
    ...                  lambda x: [2 * x[0], -1.5 * x[1] ** 2], [1.5, -1.5])) < 1e-6
    True
    """
    step = epsilon
    x0 = np.asarray(x0)

    def g(w, func, x0, v, *args):
        return func(x0 + w * v, *args)

    if direction == "random":
        _grad = np.asanyarray(grad(x0, *args))
        if _grad.ndim > 1:
            raise ValueError("'random' can only be used with scalar valued func")
        v = _random_state(rng, seed).standard_normal(size=x0.shape)
        _args = (func, x0, v) + args
        _func = g
        variables = np.zeros((1,))
        analytical_grad = np.dot(_grad, v)
    elif direction == "all":
        _args = args
        _func = func
        variables = x0
        analytical_grad = grad(x0, *args)
    else:
        raise ValueError(f"{direction} is not a valid string for ``direction`` argument")
    return np.sqrt(np.sum(np.abs(
        (analytical_grad - approx_fprime(variables, _func, step, *_args)) ** 2)))


def value_and_grad(f, *, h="auto", method="forward", order=None, bounds=None, unpack=False,
                   vectorized=False):
    """f and its finite-difference gradient in one function, for ``jac=True``.

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> float`` (the args scipy.optimize.minimize passes on).
    h, method, order, bounds, unpack, vectorized
        As for :func:`fastgrad.gradient`; by default one-sided forward
        differences with scipy's step (h="auto": ``sqrt(eps) * max(1, |x_i|)``).

    Returns
    -------
    callable
        ``fun(x, *args) -> (f(x), g)``: f(x) is evaluated first and shared with
        the stencil -- n + 1 evaluations per call for one-sided differences
        (2n + 1 for central); g equals ``fastgrad.gradient(f, x, h, method=...)``
        bit for bit.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import minimize, rosen
    >>> from fastgrad.optimize import value_and_grad
    >>> result = minimize(value_and_grad(rosen), np.array([-1.2, 1.0]), jac=True,
    ...                   method="BFGS")
    >>> result.x.round(4), bool(result.success)
    (array([1., 1.]), True)
    """
    plan = _plan(f, h, method, order, bounds, (), unpack, vectorized, False)
    contract.number_step(h)  # the options checked here, once (h's length: per call)

    def fun(x, *args):
        fx, J = _evaluate(plan, x, vector=False, args=args)
        return float(fx[0]), J[0]
    fun.__doc__ = f"f and its gradient (fastgrad.optimize.value_and_grad of {contract.show(f)})"
    return fun
