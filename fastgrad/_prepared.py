"""Prepared callables: the options checked once, then the plan evaluated at each x.

Design
------
``Gradient(f, **options)`` is ``gradient(f, x, **options)`` with the work that
does not depend on x done when it is made (numdifftools' convention):

* making it: f and args, h, method and order, and the flags are checked, in
  the order and with the messages of the public function; the stencil row,
  the steps and the evaluation tier are picked.  This is the *plan*;
* calling it, ``G(x)``: x is converted and checked, the plan's stencil is
  placed around x and evaluated, exactly as the public function does --
  the same value bit for bit, the same exceptions and warnings.

What needs x is checked by each call: x itself, the length of a sequence h,
the bounds (x must lie inside).  An h whose error message names n (a wrong
kind of h) cannot be checked without x: such a G sends every call to the
public function, which raises it.

``Prepared`` is the mechanism, shared by every prepared callable
(``Gradient`` here and in ``fastgrad.reference``; ``Jacobian`` and ``Hessian``
follow the same pattern): the options a subclass accepts are those of its
public function (``_function``, ``_defaults``), ``_plan`` checks them once,
``__call__`` evaluates the plan, and ``_public(x)`` is the public function
with the same options -- the path for anything the plan does not cover.

Threads: a prepared callable may be called from several threads at once.
The plan is read-only; what a call writes (the evaluator: the array handed
to f, f's values) is taken from a pool of idle ones, or made afresh if the
pool is empty, and handed back when the call succeeds.  ``list.pop`` and
``list.append`` are atomic, so no two calls ever share one.

This module is standard library only (``fastgrad.reference`` uses ``Prepared``);
the compiled core's pieces are imported when a ``Gradient`` is made.
"""
import warnings

from . import _contract as contract

#: Evaluators kept idle per prepared callable (one per thread that calls it at once).
POOL_SIZE = 4


class Prepared:
    """A public function of f with its options checked once: ``P(x)``.

    Subclasses set ``_function`` (the public function, a staticmethod),
    ``_defaults`` (its keyword options and their defaults) and define
    ``_plan(self, f, options)`` (check the options, store what calls need)
    and ``__call__(self, x)``.
    """

    __slots__ = ("f", "options", "_f", "_deferred", "_pool", "__weakref__")

    _function = None
    _defaults = {}

    def __init__(self, f, **options):
        for name in options:
            if name not in self._defaults:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword "
                                f"argument {name!r}")
        self.f = f
        self.options = dict(options)
        self._pool = []
        self._deferred = False
        self._f = f
        self._plan(f, {**self._defaults, **options})

    def _plan(self, f, options):
        raise NotImplementedError

    def __call__(self, x):
        raise NotImplementedError

    def _public(self, x):
        """The public function with these options: the path for what the plan does
        not cover (and, for a deferred G, the one that raises)."""
        return type(self)._function(self._f, x, **self.options)

    def _take(self, n):
        """An idle evaluator for n coordinates, or None: make one."""
        try:
            m, evaluator = self._pool.pop()
        except IndexError:
            return None
        return evaluator if m == n else None

    def _give(self, n, evaluator):
        """Hand an evaluator back after a call that succeeded."""
        if len(self._pool) < POOL_SIZE:
            self._pool.append((n, evaluator))

    def __repr__(self):
        options = "".join(f", {name}={value!r}" for name, value in self.options.items())
        return f"{type(self).__name__}({self.f!r}{options})"

    def __reduce__(self):
        return (_rebuild, (type(self), self.f, self.options))


def _rebuild(cls, f, options):
    return cls(f, **options)


GRADIENT_DEFAULTS = {"h": 1e-5, "method": "central", "order": None, "bounds": None,
                     "args": (), "unpack": False, "vectorized": False, "full_output": False}


def checked_gradient_options(f, options, steps, stencil_row):
    """The options of gradient() but x, checked in its order: (f, h, row, unpack,
    vectorized, full_output), or None if h is wrong in a way whose message names
    n (then every call goes to the public function).  steps(h): h as the
    implementation reads it and the length it needs (-1: any), or the error;
    stencil_row(method, order): the implementation's row, or the error."""
    args = options["args"]
    f = contract.as_objective(f, args)
    h = options["h"]
    try:
        h = steps(h)
    except (TypeError, ValueError):
        if contract.is_real(h):  # a number's message does not depend on n
            raise
        return None
    row = stencil_row(options["method"], options["order"])
    unpack = contract.check_flag(options["unpack"], "unpack")
    vectorized = contract.check_flag(options["vectorized"], "vectorized")
    full_output = contract.check_flag(options["full_output"], "full_output")
    return f, h, row, unpack, vectorized, full_output


class Gradient(Prepared):
    """``fastgrad.gradient`` prepared for f: ``G(x)`` is ``gradient(f, x, **options)``.

    f, h, method, order, args and the flags are checked once, when G is made
    (with the exceptions gradient() raises for them); each call checks x (and
    the bounds against it) and returns exactly what gradient() returns, bit for
    bit, with the same exceptions and warnings -- at a fraction of the cost
    per call.  G may be called from several threads at once.

    Parameters
    ----------
    f : callable
        As for :func:`fastgrad.gradient`.
    **options
        h, method, order, bounds, args, unpack, vectorized, full_output: as for
        :func:`fastgrad.gradient`, read when G is made.

    Examples
    --------
    >>> import fastgrad
    >>> G = fastgrad.Gradient(lambda x, y: x**2 + y**2, unpack=True)
    >>> G([1.0, -1.0])
    array([ 2., -2.])
    >>> bool((G([3.0, 0.5]) == fastgrad.gradient(lambda x, y: x**2 + y**2, [3.0, 0.5],
    ...                                              unpack=True)).all())
    True
    """

    __slots__ = ("_h", "_n", "_row", "_bounds", "_full_output", "_args", "_unpack",
                 "_vectorized", "_api", "_simple", "_point", "_kernel")

    _defaults = GRADIENT_DEFAULTS

    @staticmethod
    def _function(f, x, **options):
        from ._api import gradient
        return gradient(f, x, **options)

    def _plan(self, f, options):
        from . import _api, _arguments
        self._api = _api
        checked = checked_gradient_options(f, options, lambda h: _steps(_arguments, h),
                                           _api._stencil_row)
        if checked is None:
            self._deferred = True
            return
        self._f, h, self._row, self._unpack, self._vectorized, self._full_output = checked
        self._h, self._n = h
        if type(self._h) is str:  # "auto": the constants; "adaptive" stays
            self._h = _api._kernel_steps(self._h, self._row)
        self._args = tuple(options["args"])
        self._bounds = options["bounds"]
        # The common case, straight to the kernel: no bounds, no estimate, a fixed
        # or relative step (else gradient()'s own path after its checks).
        self._simple = (self._bounds is None and not self._full_output
                        and type(self._h) is not str)
        self._point = _arguments.point
        self._kernel = _api._stencil.prepared_steps(self._h) if self._simple else None

    def __call__(self, x):
        """The gradient at x: ``gradient(f, x, **options)``."""
        if self._deferred:
            return self._public(x)
        x = self._point(x)
        n = x.shape[0]
        if self._n >= 0 and self._n != n:  # a sequence h of another length: its error
            return self._public(x)
        try:  # an idle evaluator (list.pop is atomic: never one two calls share)
            m, evaluator = self._pool.pop()
            if m != n:
                evaluator = self._api._evaluator(self._f, self._args, n, self._unpack,
                                                 self._vectorized)
        except IndexError:
            evaluator = self._api._evaluator(self._f, self._args, n, self._unpack,
                                             self._vectorized)
        if self._simple:
            g = self._api._stencil.gradient(evaluator, x, self._kernel, self._row, None)
            if type(g) is int:
                raise self._api._no_usable_step(x, self._h, g, None, self._row, None,
                                                evaluator)
            if evaluator.low_precision:  # (its flag stays: not reused)
                self._api._warn_if_imprecise(evaluator, self._h, 3)
                return g
        else:
            g = self._api._gradient(evaluator, x, self._h, self._row, self._bounds,
                                    self._full_output)
            if evaluator.low_precision:
                return g
        if len(self._pool) < POOL_SIZE:
            self._pool.append((n, evaluator))
        return g


def sequence_length(h):
    """The n a step h needs: -1 for a number or a rule ("auto"...), len(h) for a
    sequence; TypeError for anything else (its message names n: not raised)."""
    if contract.is_real(h) or isinstance(h, str):
        return -1
    if not contract.is_sequence(h):
        raise TypeError("h")
    return len(h)


def _steps(arguments, h):
    """h as the kernels read it (a float, "auto" or "adaptive", a float64 vector)
    and the length it needs (errors: as arguments.steps)."""
    n = sequence_length(h)
    return arguments.steps(h, max(n, 1)), n
