"""fastgrad: fast finite-difference gradients and gradient descent, with a Cython core.

``fastgrad.reference`` offers the same functions in pure Python.
"""
from ._accuracy import GradientResult
from ._contract import PrecisionWarning
from ._optimizers import SGD, Adam, Armijo, Momentum
from ._result import DescentResult

__version__ = "0.1.0"

__all__ = ["gradient", "gradient_batch", "gradient_descent_step", "gradient_descent",
           "DescentResult", "GradientResult", "SGD", "Momentum", "Adam", "Armijo",
           "PrecisionWarning",
           "show_config", "__version__"]

# Loaded on first use, so that `import fastgrad.reference` needs neither numpy nor
# the compiled core (it is standard library only).  Type checkers read the real
# signatures from __init__.pyi.
_LAZY = {"gradient": "_api", "gradient_batch": "_api", "gradient_descent_step": "_api",
         "gradient_descent": "_api", "show_config": "_config"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        for public, home in _LAZY.items():
            if home == _LAZY[name]:
                globals()[public] = getattr(module, public)  # later lookups skip this function
        return globals()[name]
    raise AttributeError(f"module 'fastgrad' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
