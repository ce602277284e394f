# Type stubs for the compiled module fastgrad.objectives (objectives.pyx).
import sys
from typing import Any, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

# A raw PyCapsule has a type name from Python 3.13 on; before, only a
# scipy.LowLevelCallable (a tuple (capsule, function, user_data)) is typed.
if sys.version_info >= (3, 13):
    from types import CapsuleType as _Capsule
    _CCallback = Union[Tuple[Any, Any, Any], _Capsule]
else:
    _CCallback = Tuple[Any, Any, Any]

__all__ = ["Objective", "Sphere", "Rosenbrock", "Quadratic", "LeastSquares", "LogisticLoss",
           "Himmelblau", "Booth", "Beale", "CFunction"]

SIGNATURES_WITH_DATA: Tuple[str, ...]
SIGNATURES_NO_DATA: Tuple[str, ...]
SIGNATURES_VECTOR: Tuple[str, ...]

class Objective:
    """Base of the compiled objectives (abstract: use a subclass)."""
    @property
    def dim(self) -> int: ...
    @property
    def outputs(self) -> int: ...
    def __call__(self, x: ArrayLike) -> float: ...

class Sphere(Objective):
    def __init__(self) -> None: ...

class Rosenbrock(Objective):
    def __init__(self) -> None: ...

class Quadratic(Objective):
    def __init__(self, A: ArrayLike, b: ArrayLike, c: float = 0.0) -> None: ...
    @property
    def A(self) -> NDArray[np.float64]: ...
    @property
    def b(self) -> NDArray[np.float64]: ...
    @property
    def c(self) -> float: ...

class _LinearModel(Objective):
    @property
    def X(self) -> NDArray[np.float64]: ...
    @property
    def y(self) -> NDArray[np.float64]: ...

class LeastSquares(_LinearModel):
    def __init__(self, X: ArrayLike, y: ArrayLike) -> None: ...

class LogisticLoss(_LinearModel):
    def __init__(self, X: ArrayLike, y: ArrayLike, l2: float = 0.0) -> None: ...
    @property
    def l2(self) -> float: ...

class _Plane(Objective):
    def __init__(self) -> None: ...

class Himmelblau(_Plane): ...
class Booth(_Plane): ...
class Beale(_Plane): ...

class CFunction(Objective):
    def __init__(
        self, callback: _CCallback, dim: Optional[int] = None, outputs: Optional[int] = None
    ) -> None: ...
    # A vector-valued callback (outputs=m) returns a float64 array of m.
    def __call__(self, x: ArrayLike) -> Any: ...
