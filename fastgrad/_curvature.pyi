from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import NDArray

from ._evaluators import Evaluator

# h as the kernel takes it: a float, a float64 vector of n, or (c, c_single) for h="auto"
_KernelSteps = Union[float, NDArray[np.float64], Tuple[float, float]]

class SecondRow:
    order: int
    # sides: the central, forward and backward rows of one order (_stencils.SECOND_SIDES);
    # mixed[s][t]: _stencils.second_mixed(sides[s], sides[t])
    def __init__(self, sides: Sequence[Any], mixed: Sequence[Sequence[Any]]) -> None: ...

def hessian(ev: Evaluator, x: NDArray[np.float64], h: _KernelSteps, row: SecondRow,
            fx_out: Optional[NDArray[np.float64]] = None,
            sides: Optional[NDArray[np.intp]] = None,
            single: Optional[Tuple[NDArray[np.float64], NDArray[np.intp]]] = None,
            ) -> Union[NDArray[np.float64], int]: ...
def value_at(ev: Evaluator, x: NDArray[np.float64]) -> float: ...
