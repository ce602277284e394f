from typing import Any, Optional, Tuple, Union

import numpy as np
from numpy.typing import NDArray

from ._evaluators import Evaluator
from ._stencil import StencilRow

OPENMP: bool

def max_threads() -> int: ...
def gradient_batch(ev: Evaluator, X: NDArray[np.float64],
                   h: Union[float, NDArray[np.float64], Tuple[float, float]], row: StencilRow,
                   num_threads: int,
                   bounds: Optional[Tuple[NDArray[np.float64], NDArray[np.float64]]] = None,
                   progress: Any = None,
                   ) -> Union[NDArray[np.float64], Tuple[int, int]]: ...
