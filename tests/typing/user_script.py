"""A small user script, type-checked with ``mypy --strict`` (tests/test_typing.py, .ci/run).

It uses fastgrad as a user would: gradients, descent, the objectives, the
optimizers.  It also runs (test_typing runs it), so what it claims is true.
"""
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

import fastgrad
from fastgrad.objectives import Quadratic, Rosenbrock, Sphere
from fastgrad.optimize import approx_fprime, value_and_grad


def bowl(x: NDArray[np.float64]) -> float:
    return float(x[0] ** 2 + 10.0 * x[1] ** 2)


def stop_early(x: NDArray[np.float64]) -> bool:
    return bool(abs(x[0]) < 1e-3)


LOSSES: list[float] = []


def log_loss(intermediate_result: fastgrad.IntermediateResult) -> None:
    LOSSES.append(intermediate_result.fun)


def main() -> None:
    g: NDArray[np.float64] = fastgrad.gradient(bowl, [1.0, 1.0], method="forward")
    steps = fastgrad.gradient(Sphere(), np.array([1.0, 2.0]), h=[1e-6, 1e-5])
    batch = fastgrad.gradient_batch(Rosenbrock(), [[0.0, 0.0], [1.0, 1.0]], num_threads=2)
    step = fastgrad.gradient_descent_step(bowl, (1.0, 1.0), 0.05)
    hess: NDArray[np.float64] = fastgrad.hessian(bowl, [1.0, 1.0], "auto", order=4)
    hv = fastgrad.hessian_vector(Rosenbrock(), [1.0, 1.0], np.array([1.0, 0.0]))
    prepared_hessian = fastgrad.Hessian(bowl, h=1e-3)
    adaptive = fastgrad.hessian(bowl, [1.0, 1.0], "adaptive", bounds=([0.0, 0.0], [2.0, 1.0]),
                                full_output=True)
    prepared_adaptive = fastgrad.Hessian(bowl, h="adaptive")
    assert adaptive.hess.shape == prepared_adaptive([1.0, 1.0]).shape == (2, 2)
    assert prepared_hessian([1.0, 1.0]).shape == hess.shape == (2, 2) and hv.shape == (2,)
    with ThreadPoolExecutor(2) as pool:
        spread: NDArray[np.float64] = fastgrad.gradient(bowl, [1.0, 1.0], workers=pool.map)
        pooled = fastgrad.gradient_batch(bowl, [[1.0, 1.0]], workers=pool)

    result: fastgrad.DescentResult = fastgrad.gradient_descent(
        bowl, [1.0, 1.0], 0.05, max_iter=500, optimizer="adam", callback=stop_early)
    momentum = fastgrad.gradient_descent(
        Quadratic(np.eye(2), [1.0, -1.0], c=2.0), [0.0, 0.0],
        optimizer=fastgrad.Momentum(momentum=0.5), record=True)
    state: "fastgrad.DescentState | None" = result.state
    resumed = fastgrad.gradient_descent(bowl, result.x, 0.05, max_iter=5, optimizer="adam",
                                        state=state, callback=log_loss, progress=False)
    tuned = fastgrad.Adam(beta1=0.8, eps=1e-7)
    line_search = fastgrad.Armijo(c=1e-4, shrink=0.5)
    quasi_newton = fastgrad.gradient_descent(bowl, [1.0, 1.0], optimizer=fastgrad.LBFGS(memory=5))
    named: fastgrad.DescentResult = fastgrad.gradient_descent(bowl, [1.0, 1.0], optimizer="lbfgs")
    quadratic = Quadratic(np.eye(2), np.zeros(2))
    value: float = quadratic([1.0, 2.0])
    size: int = quadratic.dim
    prepared_gradient = fastgrad.Gradient(bowl, h=1e-6)
    prepared_g: NDArray[np.float64] = prepared_gradient([1.0, 1.0])
    estimate: fastgrad.GradientResult = fastgrad.Gradient(bowl, full_output=True)([1.0, 1.0])
    config = fastgrad.show_config(mode="dicts")
    openmp: bool = bool(config["openmp"])

    print(g.round(3), steps.round(3), batch.shape, step.round(3))
    print(result.converged, result.nit, momentum.message, tuned.eps, line_search.c,
          quasi_newton.nfev, named.nit, resumed.nit == len(LOSSES))
    print(value, size, openmp, fastgrad.__version__)

    J: NDArray[np.float64] = fastgrad.jacobian(lambda x: [x[0] * x[1], x[0]], [1.0, 2.0])
    prepared = fastgrad.Jacobian(lambda x: [x[0] ** 2], h="auto")
    estimated: fastgrad.JacobianResult = fastgrad.jacobian(
        lambda x: [x[0] * x[1]], [1.0, 2.0], "adaptive", full_output=True, workers=map)
    estimated_nfev: int = estimated.nfev
    prepared_estimate: fastgrad.JacobianResult = fastgrad.Jacobian(
        lambda x: [x[0] * x[1]], full_output=True, workers=map)([1.0, 2.0])
    prepared_J: NDArray[np.float64] = prepared([1.0])
    H: NDArray[np.float64] = fastgrad.Hessian(bowl, workers=map)([1.0, 1.0])
    Hv: NDArray[np.float64] = fastgrad.hessian_vector(bowl, [1.0, 1.0], [1.0, 0.0], workers=map)
    G_spread: NDArray[np.float64] = fastgrad.Gradient(bowl, workers=map)([1.0, 1.0])
    slope: float = fastgrad.derivative(lambda t: t ** 2, 3.0)
    slopes = fastgrad.derivative(lambda t: t ** 2, [1.0, 2.0])
    error: float = fastgrad.check_grad(bowl, lambda x: [2 * x[0], 20 * x[1]], [1.0, 1.0])
    fun = value_and_grad(bowl)
    f_value, g_value = fun(np.array([1.0, 1.0]))
    fprime = approx_fprime([1.0, 1.0], bowl)
    fastgrad.show_config()
    print(prepared_g.round(3), estimate.nfev, prepared_estimate.nfev, prepared_J.shape,
          H.shape, Hv.shape, G_spread.shape)
    print(J.shape, prepared([1.0]).shape, slope, slopes, error < 1e-6, f_value, g_value.shape,
          fprime.shape)


if TYPE_CHECKING:
    reveal_type(fastgrad.gradient)
    reveal_type(fastgrad.gradient_descent)
    reveal_type(fastgrad.gradient_batch(Sphere(), [[1.0]]))
    reveal_type(fastgrad.show_config(mode="dicts"))
    reveal_type(Quadratic(np.eye(1), [0.0]).A)


if __name__ == "__main__":
    main()
