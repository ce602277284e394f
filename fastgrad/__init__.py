"""fastgrad: fast finite-difference gradients and gradient descent, with a Cython core.

``fastgrad.reference`` offers the same functions in pure Python.
"""
from ._optimizers import SGD, Adam, Armijo, Momentum
from ._result import DescentResult

__version__ = "0.1.0"

__all__ = ["gradient", "gradient_batch", "gradient_descent_step", "gradient_descent",
           "DescentResult", "SGD", "Momentum", "Adam", "Armijo", "__version__"]

_FAST = ("gradient", "gradient_batch", "gradient_descent_step", "gradient_descent")


def __getattr__(name):
    # The fast functions load numpy and the compiled core on first use, so that
    # `import fastgrad.reference` needs neither (it is standard library only).
    if name in _FAST:
        from . import _api
        for fast in _FAST:
            globals()[fast] = getattr(_api, fast)  # later lookups skip this function
        return globals()[name]
    raise AttributeError(f"module 'fastgrad' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_FAST))
