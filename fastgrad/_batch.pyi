from typing import Union

import numpy as np
from numpy.typing import NDArray

from ._evaluators import Evaluator
from ._stencil import StencilRow

OPENMP: bool

def max_threads() -> int: ...
def gradient_batch(ev: Evaluator, X: NDArray[np.float64], h: Union[float, NDArray[np.float64]],
                   row: StencilRow, num_threads: int) -> Union[NDArray[np.float64], tuple[int, int]]: ...
