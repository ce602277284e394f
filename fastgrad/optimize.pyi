from typing import Any, Callable, Literal, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["approx_fprime", "check_grad", "value_and_grad"]

def approx_fprime(xk: ArrayLike, f: Callable[..., Any], epsilon: ArrayLike = ...,
                  *args: Any) -> NDArray[np.float64]: ...
def check_grad(func: Callable[..., Any], grad: Callable[..., Any], x0: ArrayLike, *args: Any,
               epsilon: float = ..., direction: Literal["all", "random"] = "all",
               rng: Any = ..., seed: Any = None) -> np.float64: ...
def value_and_grad(
    f: Callable[..., Any],
    *,
    h: Union[float, ArrayLike, Literal["auto"]] = "auto",
    method: Literal["central", "forward", "backward"] = "forward",
    order: Optional[int] = None,
    bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
    unpack: bool = False,
    vectorized: bool = False,
) -> Callable[..., Tuple[float, NDArray[np.float64]]]: ...
