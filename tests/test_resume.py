"""Resumable descents: DescentResult.state and gradient_descent(..., state=...).

100 + 100 iterations equal 200, bit for bit, for every optimizer, tier and
implementation; a state moves between the implementations; a wrong state is
refused before f is called, with the same message in both.
"""

import numpy as np
import pytest

import fastgrad
import fastgrad.reference as reference
from fastgrad.objectives import Rosenbrock

from _fgtools import bits, tiers

OPTIMIZERS = [None, "momentum", "nesterov", "adam", "armijo",
              fastgrad.Momentum(0.5, dampening=0.25), fastgrad.Adam(beta1=0.8, beta2=0.99)]


TIERS = tiers(Rosenbrock())

#: What the state of each optimizer holds.
BUFFERS = {"SGD": [], "Momentum": ["velocity"], "Adam": ["beta1_t", "beta2_t", "m", "v"],
           "Armijo": [], "LBFGS": ["gamma", "rho", "s", "y"]}


def flat(value):
    """A buffer's numbers in order: a float, a vector, or a list of vectors (L-BFGS's pairs)."""
    if isinstance(value, float):
        return [value]
    return [float(v) for item in value for v in (item if np.ndim(item) else [item])]


def as_bits(buffers):
    """A state's buffers as exactly comparable values (arrays and lists alike)."""
    return {name: bits(flat(value)) for name, value in buffers.items()}


def descend(impl, f, x0, kwargs, **more):
    return impl.gradient_descent(f, x0, 2e-4, tol=0.0, **kwargs, **more)


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
@pytest.mark.parametrize("tier", sorted(TIERS))
def test_100_plus_100_iterations_equal_200_bit_for_bit(impl, tier, optimizer):
    f, kwargs = TIERS[tier]
    whole = descend(impl, f, [-1.2, 1.0], kwargs, max_iter=200, optimizer=optimizer)
    first = descend(impl, f, [-1.2, 1.0], kwargs, max_iter=100, optimizer=optimizer)
    second = descend(impl, f, first.x, kwargs, max_iter=100, optimizer=optimizer,
                     state=first.state)
    assert whole.nit == 200 and first.nit == second.nit == 100
    assert bits(list(second.x)) == bits(list(whole.x))
    assert bits(list(second.grad)) == bits(list(whole.grad))
    assert bits([second.fun]) == bits([whole.fun])
    assert second.message.startswith("max_iter reached: 100 updates made")
    assert (first.state.nit, second.state.nit, whole.state.nit) == (100, 200, 200)
    assert second.state.optimizer == whole.state.optimizer
    assert sorted(whole.state.buffers) == BUFFERS[whole.state.optimizer]
    assert as_bits(second.state.buffers) == as_bits(whole.state.buffers)


def rosen(x, y):
    return 100.0 * (y - x * x) ** 2 + (1.0 - x) ** 2


#: Rosenbrock on every tier: L-BFGS needs ~35 updates for it from (-1.2, 1).
ROSENBROCK = {
    "python": (lambda v: rosen(v[0], v[1]), {}),
    "unpack": (rosen, {"unpack": True}),
    "vectorized": (lambda X: rosen(np.asarray(X)[:, 0], np.asarray(X)[:, 1]),
                   {"vectorized": True}),
    "compiled": (Rosenbrock(), {}),
}


@pytest.mark.parametrize("optimizer", ["lbfgs", fastgrad.LBFGS(memory=3)], ids=repr)
@pytest.mark.parametrize("tier", sorted(ROSENBROCK))
def test_lbfgs_6_plus_6_iterations_equal_12_bit_for_bit(impl, tier, optimizer):
    """Its pairs (s, y, rho) and gamma carry over; memory=3 has dropped pairs by then."""
    f, kwargs = ROSENBROCK[tier]
    whole = impl.gradient_descent(f, [-1.2, 1.0], 1.0, tol=0.0, max_iter=12, optimizer=optimizer,
                                  **kwargs)
    first = impl.gradient_descent(f, [-1.2, 1.0], 1.0, tol=0.0, max_iter=6, optimizer=optimizer,
                                  **kwargs)
    second = impl.gradient_descent(f, first.x, 1.0, tol=0.0, max_iter=6, optimizer=optimizer,
                                   state=first.state, **kwargs)
    assert whole.nit == 12 and first.nit == second.nit == 6
    assert bits(list(second.x)) == bits(list(whole.x))
    assert bits([second.fun]) == bits([whole.fun])
    assert sorted(whole.state.buffers) == BUFFERS["LBFGS"]
    assert len(whole.state.buffers["rho"]) == (3 if optimizer != "lbfgs" else
                                               len(second.state.buffers["rho"]))
    assert as_bits(second.state.buffers) == as_bits(whole.state.buffers)


def test_lbfgs_resumed_with_a_smaller_memory_keeps_the_newest_pairs(impl):
    f, kwargs = TIERS["python"]
    first = impl.gradient_descent(f, [-1.2, 1.0], 1.0, tol=0.0, max_iter=8, optimizer="lbfgs",
                                  **kwargs)
    held = first.state.buffers
    assert len(held["rho"]) > 2
    second = impl.gradient_descent(f, first.x, 1.0, tol=0.0, max_iter=0,
                                   optimizer=fastgrad.LBFGS(memory=2), state=first.state,
                                   **kwargs)
    kept = second.state.buffers
    assert bits(flat(kept["rho"])) == bits(flat(held["rho"])[-2:])
    assert bits(flat(kept["s"])) == bits(flat(held["s"])[-4:])


@pytest.mark.parametrize("optimizer", OPTIMIZERS + ["lbfgs"], ids=repr)
def test_the_state_is_the_same_in_both_implementations_and_moves_between_them(optimizer):
    f, kwargs = TIERS["python"]
    fast = descend(fastgrad, f, [-1.2, 1.0], kwargs, max_iter=50, optimizer=optimizer)
    slow = descend(reference, f, [-1.2, 1.0], kwargs, max_iter=50, optimizer=optimizer)
    assert (fast.state.optimizer, fast.state.n, fast.state.nit) == \
        (slow.state.optimizer, slow.state.n, slow.state.nit)
    assert as_bits(fast.state.buffers) == as_bits(slow.state.buffers)
    for value in fast.state.buffers.values():
        assert type(value) is float or (isinstance(value, np.ndarray) and value.dtype == float)
    for value in slow.state.buffers.values():
        assert type(value) is float or (type(value) is list and all(
            type(v) is float or (type(v) is list and all(type(u) is float for u in v))
            for v in value))
    # each implementation takes up the other's state
    on_fast = descend(fastgrad, f, slow.x, kwargs, max_iter=50, optimizer=optimizer,
                      state=slow.state)
    on_slow = descend(reference, f, fast.x, kwargs, max_iter=50, optimizer=optimizer,
                      state=fast.state)
    assert bits(list(on_fast.x)) == bits(on_slow.x)
    assert as_bits(on_fast.state.buffers) == as_bits(on_slow.state.buffers)


def test_a_state_is_not_changed_by_the_run_that_takes_it_up(impl):
    f, kwargs = TIERS["python"]
    first = descend(impl, f, [-1.2, 1.0], kwargs, max_iter=20, optimizer="adam")
    kept = as_bits(first.state.buffers)
    descend(impl, f, first.x, kwargs, max_iter=20, optimizer="adam", state=first.state)
    assert as_bits(first.state.buffers) == kept


def test_momentum_before_its_first_update_has_no_velocity(impl):
    f, kwargs = TIERS["python"]
    none = descend(impl, f, [-1.2, 1.0], kwargs, max_iter=0, optimizer="momentum")
    assert none.state.buffers == {} and none.state.nit == 0
    # and a run that takes it up starts the buffer afresh, as a first run does
    fresh = descend(impl, f, [-1.2, 1.0], kwargs, max_iter=10, optimizer="momentum")
    taken = descend(impl, f, [-1.2, 1.0], kwargs, max_iter=10, optimizer="momentum",
                    state=none.state)
    assert bits(list(taken.x)) == bits(list(fresh.x))


def test_optimizer_parameters_may_change_on_resuming(impl):
    """Only the kind of optimizer must match: a smaller learning rate or other
    betas go on from the same moments."""
    f, kwargs = TIERS["python"]
    first = descend(impl, f, [-1.2, 1.0], kwargs, max_iter=10, optimizer="adam")
    second = impl.gradient_descent(f, first.x, 0.001, tol=0.0, max_iter=5,
                                   optimizer=fastgrad.Adam(beta1=0.5), state=first.state)
    assert second.state.nit == 15


def test_a_subclass_of_an_optimizer_resumes_its_base_class_state(impl):
    class MyAdam(fastgrad.Adam):
        pass
    f, kwargs = TIERS["python"]
    first = descend(impl, f, [-1.2, 1.0], kwargs, max_iter=3, optimizer=MyAdam())
    assert first.state.optimizer == "Adam"
    descend(impl, f, first.x, kwargs, max_iter=3, optimizer="adam", state=first.state)


def never(*args):
    raise AssertionError("f must not be called")


@pytest.mark.parametrize("state, error, message", [
    (5, TypeError, "state must be None or the DescentState of an earlier run (result.state), "
                   "got int 5"),
    ({"m": [0.0, 0.0]}, TypeError, "state must be None or the DescentState of an earlier run "
                                   "(result.state), got dict {'m': [0.0, 0.0]}"),
    (fastgrad.DescentState("Adam", 2, 1, {}), ValueError,
     "state is from a run with the Adam optimizer, but this run's optimizer is Momentum"),
    (fastgrad.DescentState("Momentum", 3, 1, {}), ValueError,
     "state is from a run in 3 dimensions, but x0 has 2 coordinates"),
])
def test_a_wrong_state_is_refused_before_f_is_called(impl, state, error, message):
    with pytest.raises(error) as info:
        impl.gradient_descent(never, [1.0, 2.0], optimizer="momentum", state=state)
    assert str(info.value) == message


def test_the_state_is_checked_after_the_other_descent_arguments(impl):
    with pytest.raises(ValueError, match="^max_iter must be"):
        impl.gradient_descent(never, [1.0, 2.0], max_iter=-1, state=5)


@pytest.mark.parametrize("optimizer", ["momentum", "adam", "armijo"])
def test_a_bounded_descent_resumes_bit_for_bit(impl, optimizer):
    f, kwargs = TIERS["python"]
    box = ([-2.0, -2.0], [2.0, 0.9])
    whole = descend(impl, f, [-1.2, 0.8], kwargs, max_iter=60, optimizer=optimizer, bounds=box)
    first = descend(impl, f, [-1.2, 0.8], kwargs, max_iter=30, optimizer=optimizer, bounds=box)
    second = descend(impl, f, first.x, kwargs, max_iter=30, optimizer=optimizer, bounds=box,
                     state=first.state)
    assert whole.nit == 60
    assert bits(list(second.x)) == bits(list(whole.x))
    assert as_bits(second.state.buffers) == as_bits(whole.state.buffers)
