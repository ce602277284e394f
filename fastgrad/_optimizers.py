"""Descent methods: what gradient_descent does with a gradient (shared by both implementations).

Standard library only.  These classes hold and check parameters; the update
rules themselves are written twice on purpose -- in ``fastgrad.reference``
(Python, to read) and in ``_descent.pyx`` (C, to run) -- and the tests hold the
two to the same bits.  With g the gradient at x_k and lr the learning rate:

SGD        x_{k+1} = x_k - lr g
Momentum   b = g on the first update, then b = momentum b + (1 - dampening) g;
           d = g + momentum b if nesterov else b;  x_{k+1} = x_k - lr d
           (torch.optim.SGD without weight decay)
Adam       m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g g;
           m_hat = m / (1 - beta1^t);  v_hat = v / (1 - beta2^t);
           x_{k+1} = x_k - lr m_hat / (sqrt(v_hat) + eps)   (t = 1, 2, ...;
           beta^t is kept as a running product)
Armijo     backtracking line search: s = lr, then s = shrink s until
           f(x_k - s g) <= f(x_k) - c s |g|^2 (at most max_backtracks times);
           x_{k+1} = x_k - s g
L-BFGS     d = -H g by the two-loop recursion over the last `memory` pairs
           s = x_{k+1} - x_k, y = g_{k+1} - g_k (pairs with s.y <= eps y.y are
           not kept), H_0 = (s.y / y.y) I from the newest pair; no pair (the
           first update, or after a reset): d = -g.  A line search along d,
           first trial step 1 (lr / |g| with d = -g: a move of length lr),
           finds a step satisfying the
           strong Wolfe conditions f(x + a d) <= f(x) + c1 a g.d and
           |g(x + a d).d| <= c2 |g.d| (Nocedal and Wright, algorithms 3.5 and
           3.6: brackets by doubling, zooms by cubic interpolation where
           the slope at both ends is known -- with method="forward" it comes
           with f -- else quadratic, kept within [0.1, 0.9] of the bracket).  If it fails along an L-BFGS direction the pairs are
           dropped and it retries along -g; if that fails too the run stops.
"""
from dataclasses import dataclass

from ._contract import OVERFLOWS, describe, is_real, positive, show, to_float, whole_number


def _unit_interval(value, name, closed_left=True):
    """A real number in [0, 1) (or (0, 1)) as a float; bools are not numbers here."""
    if isinstance(value, bool) or not is_real(value):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    v = to_float(value)
    if v is None or not ((0.0 <= v if closed_left else 0.0 < v) and v < 1.0):
        interval = "[0, 1)" if closed_left else "(0, 1)"
        raise ValueError(f"{name} must be in {interval}, got {show(value)}"
                         + (OVERFLOWS if v is None else ""))
    return v


@dataclass(frozen=True)
class SGD:
    """Plain gradient descent: ``x_{k+1} = x_k - learning_rate * g_k``.

    The default of ``gradient_descent`` (``optimizer=None`` or ``"sgd"``).

    Parameters
    ----------
    None

    Examples
    --------
    On the textbook ill-conditioned bowl ``x**2 + 10 y**2``:

    >>> import fastgrad
    >>> bowl = lambda x, y: x**2 + 10 * y**2
    >>> r = fastgrad.gradient_descent(bowl, [1.0, 1.0], 0.05, unpack=True,
    ...                               optimizer=fastgrad.SGD())
    >>> r.converged, r.nit, r.x.round(6)
    (True, 138, array([0., 0.]))
    """


@dataclass(frozen=True)
class Momentum:
    """Heavy-ball momentum, or Nesterov momentum, with torch.optim.SGD's semantics.

    ``b = g`` on the first update, then ``b = momentum * b + (1 - dampening) * g``;
    the step direction is b, or ``g + momentum * b`` with ``nesterov=True``;
    ``x_{k+1} = x_k - learning_rate * direction``.  ``optimizer="momentum"``
    is ``Momentum()``, ``"nesterov"`` is ``Momentum(nesterov=True)``.

    Parameters
    ----------
    momentum : float, default 0.9
        In [0, 1).
    dampening : float, default 0.0
        In [0, 1).
    nesterov : bool, default False
        Nesterov's look-ahead direction (needs momentum > 0 and dampening 0).

    Raises
    ------
    TypeError
        momentum or dampening not a real number (True and False are not),
        nesterov not a bool.
    ValueError
        momentum or dampening outside [0, 1) (an int beyond the float range
        included); nesterov with momentum 0 or dampening other than 0.

    Examples
    --------
    The bowl ``x**2 + 10 y**2`` takes 138 plain steps (see :class:`SGD`):

    >>> import fastgrad
    >>> bowl = lambda x, y: x**2 + 10 * y**2
    >>> fastgrad.gradient_descent(bowl, [1.0, 1.0], 0.05, unpack=True,
    ...                           optimizer=fastgrad.Momentum(0.5)).nit
    45
    """
    momentum: float = 0.9
    dampening: float = 0.0
    nesterov: bool = False

    def __post_init__(self):
        object.__setattr__(self, "momentum", _unit_interval(self.momentum, "momentum"))
        object.__setattr__(self, "dampening", _unit_interval(self.dampening, "dampening"))
        if not isinstance(self.nesterov, bool):
            raise TypeError(f"nesterov must be True or False, got {describe(self.nesterov)}")
        if self.nesterov and (self.momentum == 0.0 or self.dampening != 0.0):
            raise ValueError("Nesterov momentum requires momentum > 0 and dampening = 0")


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma and Ba, 2015) with bias correction.

    ``m = beta1 m + (1 - beta1) g``;  ``v = beta2 v + (1 - beta2) g g``;
    ``x_{k+1} = x_k - learning_rate * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)``
    for t = 1, 2, ...  ``optimizer="adam"`` is ``Adam()``.

    Parameters
    ----------
    beta1 : float, default 0.9
        Decay of the first-moment average, in [0, 1).
    beta2 : float, default 0.999
        Decay of the second-moment average, in [0, 1).
    eps : float, default 1e-8
        Added to the root of the second moment; positive and finite.

    Raises
    ------
    TypeError
        A parameter is not a real number (strings, Decimal, True and False
        are not).
    ValueError
        beta1 or beta2 outside [0, 1); eps not positive or not finite (an int
        beyond the float range included).

    Examples
    --------
    >>> import fastgrad
    >>> bowl = lambda x, y: x**2 + 10 * y**2
    >>> r = fastgrad.gradient_descent(bowl, [1.0, 1.0], 0.05, unpack=True,
    ...                               optimizer=fastgrad.Adam(beta1=0.5))
    >>> r.converged, r.nit
    (True, 100)
    """
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self):
        object.__setattr__(self, "beta1", _unit_interval(self.beta1, "beta1"))
        object.__setattr__(self, "beta2", _unit_interval(self.beta2, "beta2"))
        object.__setattr__(self, "eps", positive(self.eps, "eps"))


@dataclass(frozen=True)
class Armijo:
    """Gradient steps with Armijo backtracking line search.

    From ``s = learning_rate``, ``s *= shrink`` until
    ``f(x - s g) <= f(x) - c s |g|**2``, at most max_backtracks times (the run
    stops, not converged, if none works); then ``x_{k+1} = x_k - s g``.
    Costs one evaluation of f per trial step.  ``optimizer="armijo"`` is
    ``Armijo()``.

    Parameters
    ----------
    c : float, default 1e-4
        Sufficient-decrease constant, in (0, 1).
    shrink : float, default 0.5
        Factor of each backtrack, in (0, 1).
    max_backtracks : int, default 50
        Most backtracks per update, >= 0.

    Raises
    ------
    TypeError
        c or shrink not a real number (True and False are not).
    ValueError
        c or shrink outside (0, 1) (an int beyond the float range included);
        max_backtracks not a non-negative int.

    Examples
    --------
    A first trial step of 1.0 is far too long for ``x**2 + 10 y**2``; the line
    search shortens it at each update:

    >>> import fastgrad
    >>> bowl = lambda x, y: x**2 + 10 * y**2
    >>> r = fastgrad.gradient_descent(bowl, [1.0, 1.0], 1.0, unpack=True,
    ...                               optimizer=fastgrad.Armijo())
    >>> r.converged, r.nit
    (True, 60)
    """
    c: float = 1e-4
    shrink: float = 0.5
    max_backtracks: int = 50

    def __post_init__(self):
        object.__setattr__(self, "c", _unit_interval(self.c, "c", closed_left=False))
        object.__setattr__(self, "shrink", _unit_interval(self.shrink, "shrink", closed_left=False))
        object.__setattr__(self, "max_backtracks", whole_number(
            self.max_backtracks, "max_backtracks", 0, "a non-negative int"))


@dataclass(frozen=True)
class LBFGS:
    """L-BFGS: a quasi-Newton direction from the last `memory` steps, with a
    line search satisfying the strong Wolfe conditions.

    The direction is ``d = -H g``, H the L-BFGS inverse-Hessian estimate built
    by the two-loop recursion from the last `memory` pairs (step, change of the
    gradient); the line search then finds a step a with
    ``f(x + a d) <= f(x) + c1 a g.d`` and ``|g(x + a d).d| <= c2 |g.d|``, trying
    ``a = 1`` first.  On the first update (and after a reset) d = -g, and
    ``learning_rate`` is the length of the first trial step:
    ``x - learning_rate * g / |g|``.  Each
    trial point costs one evaluation of f and, when the search needs it, a
    finite-difference gradient, which the next update then uses (with
    ``method="forward"`` f comes with the gradient, and a trial costs n + 1
    evaluations, as in scipy's L-BFGS-B).  If no step is found along an L-BFGS
    direction, the pairs are dropped and the search retries along -g; if that
    fails too, the run stops at the last iterate (not converged).
    ``optimizer="lbfgs"`` is ``LBFGS()``.

    Parameters
    ----------
    memory : int, default 10
        Pairs kept, >= 1 (each holds 2 n doubles; the rows are allocated as
        pairs come, so a memory beyond the run's updates costs nothing).
    c1 : float, default 1e-4
        Sufficient-decrease constant, in (0, 1).
    c2 : float, default 0.9
        Curvature constant, in (0, 1) and greater than c1.
    max_linesearch : int, default 20
        Most trial points per line search, >= 1.

    Raises
    ------
    TypeError
        c1 or c2 not a real number (True and False are not).
    ValueError
        c1 or c2 outside (0, 1) (an int beyond the float range included), or
        c2 <= c1; memory or max_linesearch not a positive int.

    Examples
    --------
    The Rosenbrock function from its standard start (-1.2, 1): 44 updates and 258
    evaluations of f, where Armijo steps along -g need 16052 updates and 171181
    evaluations:

    >>> import fastgrad
    >>> rosen = lambda x, y: (1 - x)**2 + 100 * (y - x**2)**2
    >>> r = fastgrad.gradient_descent(rosen, [-1.2, 1.0], unpack=True, optimizer="lbfgs")
    >>> r.converged, r.nit, r.nfev, r.x.round(6)
    (True, 44, 258, array([1., 1.]))

    Forward differences with steps sized for double precision (``h="auto"``) give
    f with each gradient, and the line search the slope at every trial: 137
    evaluations.

    >>> fastgrad.gradient_descent(rosen, [-1.2, 1.0], unpack=True, optimizer="lbfgs",
    ...                           method="forward", h="auto").nfev
    137
    """
    memory: int = 10
    c1: float = 1e-4
    c2: float = 0.9
    max_linesearch: int = 20

    def __post_init__(self):
        object.__setattr__(self, "memory", whole_number(
            self.memory, "memory", 1, "a positive int"))
        object.__setattr__(self, "c1", _unit_interval(self.c1, "c1", closed_left=False))
        object.__setattr__(self, "c2", _unit_interval(self.c2, "c2", closed_left=False))
        if not self.c1 < self.c2:
            raise ValueError(f"c2 must be greater than c1 (the Wolfe conditions need "
                             f"0 < c1 < c2 < 1), got c1={self.c1!r} and c2={self.c2!r}")
        object.__setattr__(self, "max_linesearch", whole_number(
            self.max_linesearch, "max_linesearch", 1, "a positive int"))


_NAMED = {"sgd": SGD(), "momentum": Momentum(), "nesterov": Momentum(nesterov=True),
          "adam": Adam(), "armijo": Armijo(), "lbfgs": LBFGS()}


def as_optimizer(optimizer):
    """None, a name ('sgd', 'momentum', 'nesterov', 'adam', 'armijo', 'lbfgs') or an
    optimizer object."""
    if optimizer is None:
        return _NAMED["sgd"]
    if isinstance(optimizer, (SGD, Momentum, Adam, Armijo, LBFGS)):
        return optimizer
    if isinstance(optimizer, str) and optimizer in _NAMED:
        return _NAMED[optimizer]
    raise ValueError(f"optimizer must be one of {', '.join(map(repr, _NAMED))} or an SGD, "
                     f"Momentum, Adam, Armijo or LBFGS object, got {optimizer!r}")
