# Type stubs for fastgrad's public API.  At run time the functions below load on
# first use (so that `import fastgrad.reference` needs neither numpy nor the
# compiled core); type checkers read their real signatures here.
import sys
from concurrent.futures import Executor
from typing import (Any, Callable, Generic, Iterable, Literal, Optional, Tuple, TypeVar, Union,
                    overload)

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._optimizers import SGD as SGD
from ._optimizers import Adam as Adam
from ._optimizers import Armijo as Armijo
from ._optimizers import LBFGS as LBFGS
from ._optimizers import Momentum as Momentum
from ._result import DescentResult as DescentResult
from ._result import DescentState as DescentState
from ._result import IntermediateResult as IntermediateResult
from ._contract import PrecisionWarning as PrecisionWarning
from ._accuracy import GradientResult as GradientResult
from ._accuracy import JacobianResult as JacobianResult
from ._accuracy import HessianResult as HessianResult

# A raw PyCapsule has a type name from Python 3.13 on; before, only a
# scipy.LowLevelCallable (a tuple (capsule, function, user_data)) is typed.
if sys.version_info >= (3, 13):
    from types import CapsuleType as _Capsule
    _CCallback = Union[Tuple[Any, Any, Any], _Capsule]
else:
    _CCallback = Tuple[Any, Any, Any]

__version__: str
__all__ = ["gradient", "gradient_batch", "gradient_descent_step", "gradient_descent",
           "hessian", "hessian_vector", "Hessian", "HessianResult", "Gradient",
           "DescentResult", "DescentState", "IntermediateResult", "GradientResult",
           "SGD", "Momentum", "Adam", "Armijo", "LBFGS", "PrecisionWarning",
           "jacobian", "derivative", "check_grad", "Jacobian", "JacobianResult",
           "show_config", "__version__"]

# f: a Python callable, a compiled objective (fastgrad.objectives), or a C
# function: a scipy.LowLevelCallable (a tuple subclass) or a PyCapsule.
_Function = Union[Callable[..., Any], _CCallback]
_Method = Literal["central", "forward", "backward", "complex"]
_OptimizerName = Literal["sgd", "momentum", "nesterov", "adam", "armijo", "lbfgs"]
_Optimizer = Union[None, _OptimizerName, SGD, Momentum, Adam, Armijo, LBFGS]
_Step = Union[float, ArrayLike, Literal["auto", "adaptive"]]
# workers=: a number of processes (-1: all cores), a map-like callable
# workers(func, iterable) (Pool.map, ThreadPoolExecutor().map), an Executor, or a
# dask.distributed.Client (typed as Any: dask is an optional extra).
_Workers = Union[None, int, Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]],
                 Executor, Any]

@overload
def gradient(
    f: _Function,
    x: ArrayLike,
    h: _Step = 1e-5,
    *,
    method: _Method = "central",
    order: Optional[int] = None,
    bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
    args: Tuple[Any, ...] = (),
    unpack: bool = False,
    vectorized: bool = False,
    full_output: Literal[False] = False,
    workers: _Workers = None,
) -> NDArray[np.float64]: ...
@overload
def gradient(
    f: _Function,
    x: ArrayLike,
    h: _Step = 1e-5,
    *,
    method: _Method = "central",
    order: Optional[int] = None,
    bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
    args: Tuple[Any, ...] = (),
    unpack: bool = False,
    vectorized: bool = False,
    full_output: Literal[True],
    workers: _Workers = None,
) -> GradientResult: ...
_GradientValue = TypeVar("_GradientValue", NDArray[np.float64], GradientResult)

class Gradient(Generic[_GradientValue]):
    f: _Function
    options: dict[str, Any]
    @overload
    def __init__(
        self: Gradient[NDArray[np.float64]],
        f: _Function,
        *,
        h: _Step = 1e-5,
        method: _Method = "central",
        order: Optional[int] = None,
        bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
        args: Tuple[Any, ...] = (),
        unpack: bool = False,
        vectorized: bool = False,
        full_output: Literal[False] = False,
        workers: _Workers = None,
    ) -> None: ...
    @overload
    def __init__(
        self: Gradient[GradientResult],
        f: _Function,
        *,
        h: _Step = 1e-5,
        method: _Method = "central",
        order: Optional[int] = None,
        bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
        args: Tuple[Any, ...] = (),
        unpack: bool = False,
        vectorized: bool = False,
        full_output: Literal[True],
        workers: _Workers = None,
    ) -> None: ...
    def __call__(self, x: ArrayLike) -> _GradientValue: ...

@overload
def gradient_batch(
    f: _Function,
    X: ArrayLike,
    h: _Step = 1e-5,
    *,
    method: _Method = "central",
    order: Optional[int] = None,
    bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
    args: Tuple[Any, ...] = (),
    unpack: bool = False,
    vectorized: bool = False,
    num_threads: Optional[int] = None,
    full_output: Literal[False] = False,
    progress: bool = False,
    workers: _Workers = None,
) -> NDArray[np.float64]: ...
@overload
def gradient_batch(
    f: _Function,
    X: ArrayLike,
    h: _Step = 1e-5,
    *,
    method: _Method = "central",
    order: Optional[int] = None,
    bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
    args: Tuple[Any, ...] = (),
    unpack: bool = False,
    vectorized: bool = False,
    num_threads: Optional[int] = None,
    full_output: Literal[True],
    progress: bool = False,
    workers: _Workers = None,
) -> GradientResult: ...
def gradient_descent_step(
    f: _Function,
    x: ArrayLike,
    learning_rate: float = 0.1,
    h: _Step = 1e-5,
    *,
    method: _Method = "central",
    order: Optional[int] = None,
    bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
    args: Tuple[Any, ...] = (),
    unpack: bool = False,
    vectorized: bool = False,
    workers: _Workers = None,
) -> NDArray[np.float64]: ...
def gradient_descent(
    f: _Function,
    x0: ArrayLike,
    learning_rate: float = 0.1,
    *,
    max_iter: int = 1000,
    tol: float = 1e-6,
    ftol: Optional[float] = None,
    h: _Step = 1e-5,
    method: _Method = "central",
    order: Optional[int] = None,
    bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
    optimizer: _Optimizer = None,
    args: Tuple[Any, ...] = (),
    unpack: bool = False,
    vectorized: bool = False,
    callback: Union[None, Callable[[NDArray[np.float64]], object],
                    Callable[[IntermediateResult], object]] = None,
    record: bool = False,
    state: Optional[DescentState] = None,
    progress: bool = False,
    workers: _Workers = None,
) -> DescentResult: ...
@overload
def jacobian(
    f: _Function,
    x: ArrayLike,
    h: _Step = 1e-5,
    *,
    method: _Method = "central",
    order: Optional[int] = None,
    bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
    args: Tuple[Any, ...] = (),
    unpack: bool = False,
    vectorized: bool = False,
    full_output: Literal[False] = False,
    workers: _Workers = None,
) -> NDArray[np.float64]: ...
@overload
def jacobian(
    f: _Function,
    x: ArrayLike,
    h: _Step = 1e-5,
    *,
    method: _Method = "central",
    order: Optional[int] = None,
    bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
    args: Tuple[Any, ...] = (),
    unpack: bool = False,
    vectorized: bool = False,
    full_output: Literal[True],
    workers: _Workers = None,
) -> JacobianResult: ...

_JacobianValue = TypeVar("_JacobianValue", NDArray[np.float64], JacobianResult)

class Jacobian(Generic[_JacobianValue]):
    @overload
    def __init__(
        self: Jacobian[NDArray[np.float64]],
        f: _Function,
        h: _Step = 1e-5,
        *,
        method: _Method = "central",
        order: Optional[int] = None,
        bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
        args: Tuple[Any, ...] = (),
        unpack: bool = False,
        vectorized: bool = False,
        full_output: Literal[False] = False,
        workers: _Workers = None,
    ) -> None: ...
    @overload
    def __init__(
        self: Jacobian[JacobianResult],
        f: _Function,
        h: _Step = 1e-5,
        *,
        method: _Method = "central",
        order: Optional[int] = None,
        bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
        args: Tuple[Any, ...] = (),
        unpack: bool = False,
        vectorized: bool = False,
        full_output: Literal[True],
        workers: _Workers = None,
    ) -> None: ...
    def __call__(self, x: ArrayLike) -> _JacobianValue: ...

@overload
def derivative(
    f: Callable[..., Any],
    x: float,
    h: Union[float, Literal["auto"]] = 1e-5,
    *,
    method: _Method = "central",
    order: Optional[int] = None,
    args: Tuple[Any, ...] = (),
    workers: _Workers = None,
) -> float: ...
@overload
def derivative(
    f: Callable[..., Any],
    x: ArrayLike,
    h: Union[float, Literal["auto"]] = 1e-5,
    *,
    method: _Method = "central",
    order: Optional[int] = None,
    args: Tuple[Any, ...] = (),
    workers: _Workers = None,
) -> Union[float, NDArray[np.float64]]: ...
def check_grad(
    f: Callable[..., Any],
    grad: Callable[..., Any],
    x: ArrayLike,
    *,
    h: _Step = "auto",
    method: _Method = "central",
    order: Optional[int] = None,
    direction: Literal["all", "random"] = "all",
    seed: Optional[int] = None,
    args: Tuple[Any, ...] = (),
    workers: _Workers = None,
) -> float: ...
_SecondStep = Union[float, ArrayLike, Literal["auto"]]
# hessian() and Hessian also take h="adaptive" (hessian_vector does not)
_HessianStep = Union[float, ArrayLike, Literal["auto", "adaptive"]]

@overload
def hessian(
    f: _Function,
    x: ArrayLike,
    h: _HessianStep = 1e-4,
    *,
    method: Literal["central"] = "central",
    order: Optional[int] = None,
    bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
    args: Tuple[Any, ...] = (),
    unpack: bool = False,
    vectorized: bool = False,
    full_output: Literal[False] = False,
    workers: _Workers = None,
) -> NDArray[np.float64]: ...
@overload
def hessian(
    f: _Function,
    x: ArrayLike,
    h: _HessianStep = 1e-4,
    *,
    method: Literal["central"] = "central",
    order: Optional[int] = None,
    bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
    args: Tuple[Any, ...] = (),
    unpack: bool = False,
    vectorized: bool = False,
    full_output: Literal[True],
    workers: _Workers = None,
) -> HessianResult: ...
def hessian_vector(
    f: _Function,
    x: ArrayLike,
    v: ArrayLike,
    h: _SecondStep = 1e-5,
    *,
    method: Literal["central"] = "central",
    order: Optional[int] = None,
    args: Tuple[Any, ...] = (),
    unpack: bool = False,
    vectorized: bool = False,
    workers: _Workers = None,
) -> NDArray[np.float64]: ...

class Hessian:
    def __init__(
        self,
        f: _Function,
        *,
        h: _HessianStep = 1e-4,
        method: Literal["central"] = "central",
        order: Optional[int] = None,
        bounds: Optional[Tuple[ArrayLike, ArrayLike]] = None,
        args: Tuple[Any, ...] = (),
        unpack: bool = False,
        vectorized: bool = False,
        workers: _Workers = None,
    ) -> None: ...
    def __call__(self, x: ArrayLike) -> NDArray[np.float64]: ...

@overload
def show_config(mode: Literal["stdout"] = "stdout") -> None: ...
@overload
def show_config(mode: Literal["dicts"]) -> dict[str, Any]: ...
