import enum
from typing import Any, Callable, Optional, Union

import numpy as np
from numpy.typing import NDArray

from ._evaluators import Evaluator
from ._stencil import StencilRow

class Stop(enum.IntEnum):
    CONVERGED = 0
    MAX_ITER = 1
    GRADIENT_NOT_FINITE = 2
    STEP_NOT_FINITE = 3
    STEP_LOST = 4
    STENCIL_LOST = 5
    CALLBACK = 6
    FTOL = 7
    LINE_SEARCH_FAILED = 8
    F_NOT_FINITE = 9
    START_NOT_FINITE = 10
    DIVERGED = 11
    WOLFE_FAILED = 12

DIVERGENCE: tuple[int, float]

class Rule:
    searches: bool
    projects: bool
    def __init__(self, params: Any, learning_rate: float, *args: Any) -> None: ...
    def save(self) -> dict[str, Any]: ...
    def load(self, buffers: dict[str, Any]) -> None: ...

class SGDRule(Rule): ...
class MomentumRule(Rule): ...
class AdamRule(Rule): ...
class ArmijoRule(Rule): ...
class LBFGSRule(Rule): ...

def descent(ev: Evaluator, x: NDArray[np.float64], h: Union[float, NDArray[np.float64]],
            row: StencilRow, rule: Rule, max_iter: int, tol: float, ftol: Optional[float],
            callback: Optional[Callable[[Any], Any]],
            record: bool,
            bounds: Optional[tuple[NDArray[np.float64], NDArray[np.float64]]] = None,
            buffers: Optional[dict[str, Any]] = None,
            report: Optional[Callable[..., Any]] = None,
            progress: Any = None) -> Union[int, tuple[Any, ...]]: ...
