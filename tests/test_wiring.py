"""End-to-end checks of the argument layer once _api, reference and _evaluators call it."""
import ctypes
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import LowLevelCallable

import fastgrad
import fastgrad.reference

from _fgtools import bits

CALLBACK = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int, ctypes.POINTER(ctypes.c_double))


@CALLBACK
def _sum_of_squares(n, x):
    return sum(x[i] * x[i] for i in range(n))


def test_the_reference_takes_a_c_callback_as_fastgrad_does(impl):
    callable_ = LowLevelCallable(_sum_of_squares)
    capsule = tuple.__getitem__(callable_, 0)
    for f in (callable_, capsule):
        assert bits(impl.gradient(f, [1.0, 2.0])) == bits(fastgrad.gradient(f, [1.0, 2.0]))
        assert [bits(r) for r in impl.gradient_batch(f, [[1.0, 2.0], [3.0, 4.0]])] == \
            [bits(r) for r in fastgrad.gradient_batch(f, [[1.0, 2.0], [3.0, 4.0]])]
        r = impl.gradient_descent(f, [1.0, 2.0], 0.25, max_iter=5)
        assert r.nit == 5 or r.converged


def object_array(*items):
    array = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        array[i] = item
    return array


RESULTS = {
    "k-by-1": lambda k: np.ones((k, 1)),
    "nested-list": lambda k: [[1.0]] * k,
    "ragged": lambda k: [[1.0]] + [[1.0, 2.0]] * (k - 1),
    "object-of-lists": lambda k: object_array(*[[1.0]] * k),
    "k+1": lambda k: np.ones(k + 1),
    "list-k-1": lambda k: [1.0] * (k - 1),
    "float": lambda k: 1.0,
    "float64": lambda k: np.float64(1.0),
    "None": lambda k: None,
    "generator": lambda k: (1.0 for _ in range(k)),
    "complex-list": lambda k: [1j] * k,
    "complex-array": lambda k: np.ones(k, dtype=complex),
    "str-array": lambda k: np.array(["a"] * k),
    "None-entry": lambda k: [1.0] * (k - 1) + [None],
    "object-str": lambda k: object_array(*["a"] * k),
}


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_vectorized_wrong_results_get_the_same_message_in_both(name):
    make = RESULTS[name]
    errors = []
    for impl in (fastgrad, fastgrad.reference):
        with pytest.raises((TypeError, ValueError)) as info:
            impl.gradient(lambda X: make(len(X)), [1.0, 2.0], vectorized=True)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]


@pytest.mark.filterwarnings("ignore::fastgrad.PrecisionWarning")  # f returns low-precision values on purpose
@pytest.mark.parametrize("make", [lambda k: [Fraction(1, 3)] * k,
                                  lambda k: object_array(*[10**400] * k),
                                  lambda k: np.arange(k, dtype=np.int32),
                                  lambda k: np.ones(k, dtype=np.float32)], ids=["fractions", "huge", "int32", "float32"])
def test_vectorized_results_of_other_kinds_agree(make):
    fast = fastgrad.gradient(lambda X: make(len(X)), [1.0, 2.0], vectorized=True)
    slow = fastgrad.reference.gradient(lambda X: make(len(X)), [1.0, 2.0], vectorized=True)
    assert bits(fast) == bits(slow)


def test_gradient_batch_on_a_dataframe_takes_the_array_path():
    frame = pd.DataFrame([[1.0, 2.0], [3.0, -1.0]], columns=pd.MultiIndex.from_tuples([(1, 2), (3, 4)]))
    f = lambda p: float(p[0]) ** 2 + float(p[1]) ** 2
    assert [bits(r) for r in fastgrad.gradient_batch(f, frame)] == \
        [bits(r) for r in fastgrad.reference.gradient_batch(f, frame)]
