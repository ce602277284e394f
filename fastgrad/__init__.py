"""fastgrad: fast finite-difference gradients and gradient descent, with a Cython core.

``fastgrad.reference`` offers the same functions in pure Python.
"""
from ._api import gradient, gradient_batch, gradient_descent, gradient_descent_step
from ._optimizers import SGD, Adam, Armijo, Momentum
from ._result import DescentResult

__version__ = "0.1.0"

__all__ = ["gradient", "gradient_batch", "gradient_descent_step", "gradient_descent",
           "DescentResult", "SGD", "Momentum", "Adam", "Armijo", "__version__"]
