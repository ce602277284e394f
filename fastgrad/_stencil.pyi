from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import NDArray

from ._evaluators import Evaluator

# h as the kernels take it: a float, a float64 vector of n, or (c, c_single) for h="auto"
_KernelSteps = Union[float, NDArray[np.float64], Tuple[float, float]]
_Box = Optional[Tuple[NDArray[np.float64], NDArray[np.float64]]]

class StencilRow:
    method: str
    order: int
    def __init__(self, row: Any, sides: Optional[Sequence[Any]] = None) -> None: ...

def gradient(ev: Evaluator, x: NDArray[np.float64], h: _KernelSteps, row: StencilRow,
             bounds: _Box = None) -> Union[NDArray[np.float64], int]: ...
class PreparedGradient:
    def __init__(self, h: _KernelSteps, row: StencilRow, n: int, point: Callable[[Any], Any],
                 evaluator: Callable[[int], Evaluator], fail: Callable[..., Any],
                 public: Callable[[Any], Any]) -> None: ...
    def call(self, x: Any) -> Any: ...

def call_prepared(self: Any, x: Any) -> Any: ...

class PublicGradient:
    def __init__(self, rows: Dict[str, StencilRow], auto: Dict[str, Tuple[float, float]],
                 point: Callable[[Any], NDArray[np.float64]], fail: Callable[..., Any],
                 hint: Callable[..., None]) -> None: ...
    # None: not the common case (the general path runs)
    def gradient(self, f: Any, x: Any, h: Any, method: Any, order: Any, bounds: Any, args: Any,
                 unpack: Any, vectorized: Any, full_output: Any, workers: Any
                 ) -> Optional[NDArray[np.float64]]: ...
    def descent_step(self, f: Any, x: Any, learning_rate: Any, h: Any, method: Any, order: Any,
                     bounds: Any, args: Any, unpack: Any, vectorized: Any, workers: Any
                     ) -> Optional[NDArray[np.float64]]: ...

def jacobian(ev: Evaluator, x: NDArray[np.float64], h: _KernelSteps, row: StencilRow,
             bounds: _Box = None
             ) -> Union[Tuple[NDArray[np.float64], NDArray[np.float64]], int]: ...
def value_at(ev: Evaluator, x: NDArray[np.float64]) -> float: ...
def descent_step(ev: Evaluator, x: NDArray[np.float64], h: _KernelSteps, row: StencilRow,
                 learning_rate: float, bounds: _Box = None) -> Union[NDArray[np.float64], int]: ...
