from typing import Any, Optional, Tuple, Union

import numpy as np
from numpy.typing import NDArray

from ._evaluators import Evaluator

# h as the kernel takes it: a float, a float64 vector of n, or (c, c_single) for h="auto"
_KernelSteps = Union[float, NDArray[np.float64], Tuple[float, float]]

class SecondRow:
    order: int
    def __init__(self, row: Any) -> None: ...

def hessian(ev: Evaluator, x: NDArray[np.float64], h: _KernelSteps, row: SecondRow,
            fx_out: Optional[NDArray[np.float64]] = None) -> Union[NDArray[np.float64], int]: ...
def value_at(ev: Evaluator, x: NDArray[np.float64]) -> float: ...
