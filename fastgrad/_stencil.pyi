from typing import Any, Union

import numpy as np
from numpy.typing import NDArray

from ._evaluators import Evaluator

class StencilRow:
    method: str
    order: int
    def __init__(self, row: Any) -> None: ...

def gradient(ev: Evaluator, x: NDArray[np.float64], h: Union[float, NDArray[np.float64]],
             row: StencilRow) -> Union[NDArray[np.float64], int]: ...
def descent_step(ev: Evaluator, x: NDArray[np.float64], h: Union[float, NDArray[np.float64]],
                 row: StencilRow, learning_rate: float) -> Union[NDArray[np.float64], int]: ...
