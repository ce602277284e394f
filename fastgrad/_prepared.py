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
the bounds (x must lie inside).  With workers= every call goes to the
public function (the pool is opened and closed per call).  An h whose
error message names n (a wrong kind of h) cannot be checked without x: such
a G sends every call to the public function, which raises it.

``Prepared`` is the mechanism, shared by every prepared callable
(``Gradient``, ``Jacobian`` and ``Hessian`` in ``fastgrad`` and
``fastgrad.reference``): the options a subclass accepts are those of its
public function (``_function``, ``_defaults``), ``_plan`` checks them once,
``__call__`` evaluates the plan, and ``_public(x)`` is the public function
with the same options -- the path for anything the plan does not cover.

Threads: a prepared callable may be called from several threads at once.
The plan is read-only; what a call writes (the evaluator: the array handed
to f, f's values) is taken from a pool of idle ones, or made afresh if the
pool is empty, and handed back when the call succeeds.  ``list.pop`` and
``list.append`` are atomic, so no two calls ever share one.

This module is standard library only (``fastgrad.reference`` uses ``Prepared``);
fastgrad's ``Gradient`` is in ``_api`` with gradient(); the call of its common
case (no bounds, no estimate) is compiled (``_stencil.PreparedGradient``).
"""
import warnings

from . import _contract as contract
from . import _workers

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
                     "args": (), "unpack": False, "vectorized": False, "full_output": False,
                     "workers": None}


#: jacobian()'s options but x are gradient()'s (``GRADIENT_DEFAULTS``); hessian()'s:
HESSIAN_DEFAULTS = {"h": 1e-4, "method": "central", "order": None, "bounds": None, "args": (),
                    "unpack": False, "vectorized": False, "workers": None}


def checked_gradient_options(f, options, steps, stencil_row):
    """The options of gradient() but x, checked in its order: (f, h, row, unpack,
    vectorized, full_output), or None if h is wrong in a way whose message names
    n (then every call goes to the public function).  steps(h): h as the
    implementation reads it and the length it needs (-1: any), or the error;
    stencil_row(method, order): the implementation's row, or the error.
    workers is checked first, as gradient() checks it (a prepared callable with
    workers sends its calls to gradient())."""
    if options["workers"] is not None:
        _workers.Engine(options["workers"])  # its checks (a pool is made only when tasks run)
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


def sequence_length(h):
    """The n a step h needs: -1 for a number or a rule ("auto"...), len(h) for a
    sequence; TypeError for anything else (its message names n: not raised)."""
    if contract.is_real(h) or isinstance(h, str):
        return -1
    if not contract.is_sequence(h):
        raise TypeError("h")
    return len(h)
