from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike

from ._result import DescentResult

__all__ = ["gradient_batch", "multistart_descent"]

def gradient_batch(f: Any, X: Any, h: Any = 1e-5, **options: Any) -> Any: ...
def multistart_descent(f: Any, X0: ArrayLike, *, client: Optional[Any] = None,
                       **descent_options: Any) -> list[DescentResult]: ...
