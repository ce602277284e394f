"""The compiled front of gradient() and gradient_descent_step() (_stencil.PublicGradient).

The common arguments take it; everything else takes the general path
(``_api._prepare``).  Either way the result, the exceptions and the warnings
are the reference's, bit for bit: checked here on the kinds at the border
between the two paths.
"""
import collections
import struct
import warnings

import numpy as np
import pytest

import fastgrad
import fastgrad._api as api
import fastgrad.reference as reference
from fastgrad.objectives import Rosenbrock


def bits(values):
    return [struct.pack("<d", v).hex() for v in np.asarray(values, dtype=np.float64).tolist()]


def rosen(x):
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] * x[0]) ** 2


def rosen_unpacked(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


@pytest.fixture
def general_path(monkeypatch):
    """Counts the calls that take the general path."""
    calls = []
    prepare = api._prepare

    def counted(*args, **kwargs):
        calls.append(args)
        return prepare(*args, **kwargs)
    monkeypatch.setattr(api, "_prepare", counted)
    return calls


COMMON = [
    (Rosenbrock(), np.array([-1.2, 1.0]), {}),
    (Rosenbrock(), [-1.2, 1.0], {"method": "forward"}),
    (Rosenbrock(), (-1.2, 1), {"method": "backward"}),
    (Rosenbrock(), [-1.2, 1.0], {"h": "auto"}),
    (rosen, [-1.2, 1.0], {"h": 1e-3}),
    (rosen_unpacked, [-1.2, 1.0], {"unpack": True, "h": "auto"}),
    (lambda x, a: rosen(x) * a, [0.5, 0.25], {"args": (3.0,)}),
    (Rosenbrock(), np.array([-1.2, 1.0, 7.0, 3.0])[::2], {}),  # strided: copied
    (Rosenbrock(), np.array([-1.2, 1.0], dtype=">f8"), {}),  # byte-swapped
]


@pytest.mark.parametrize("f,x,kwargs", COMMON)
def test_the_common_arguments_take_the_front_with_the_references_bits(general_path, f, x,
                                                                       kwargs):
    expected = reference.gradient(f, list(np.asarray(x).tolist()), **kwargs)
    assert bits(fastgrad.gradient(f, x, **kwargs)) == bits(expected)
    step = reference.gradient_descent_step(f, list(np.asarray(x).tolist()), 0.001, **kwargs)
    assert bits(fastgrad.gradient_descent_step(f, x, 0.001, **kwargs)) == bits(step)
    assert general_path == []


class Redefined(Rosenbrock):
    def __call__(self, x):
        return 2.0 * rosen(x)


class Inherited(Rosenbrock):
    pass


Point = collections.namedtuple("Point", "a")

OTHERS = [  # (f, options, whether the general path takes them)
    (Redefined(), {}, True),  # a Python subclass: its own __call__, the Python tier
    (Inherited(), {}, True),
    (rosen, {"h": np.float64(1e-5)}, True),
    (rosen, {"h": [1e-5, 2e-5]}, True),
    (rosen, {"h": 1}, True),
    (rosen, {"method": "central", "order": 4}, True),
    (lambda x: np.exp(x).sum(), {"method": "complex"}, True),
    (lambda x, a: rosen(x) * a, {"args": Point(2.0)}, True),
    (rosen, {"bounds": (-5.0, 5.0)}, True),
    (rosen, {"full_output": True}, True),
    (rosen_unpacked, {"unpack": True, "vectorized": False, "full_output": False,
                      "workers": None, "bounds": None}, False),
]


@pytest.mark.parametrize("f,kwargs,general", OTHERS)
def test_other_kinds_take_the_general_path_with_the_references_bits(general_path, f, kwargs,
                                                                     general):
    x = [-1.2, 1.0]
    expected = reference.gradient(f, x, **kwargs)
    got = fastgrad.gradient(f, x, **kwargs)
    if kwargs.get("full_output"):
        got, expected = got.grad, expected.grad
    assert bits(got) == bits(expected)
    assert len(general_path) == general


def test_a_redefined_call_is_what_the_gradient_differentiates():
    assert bits(fastgrad.gradient(Redefined(), [1.0, 1.0])) == bits(
        reference.gradient(lambda x: 2.0 * rosen(x), [1.0, 1.0]))


def test_x_is_not_modified_and_the_result_is_new():
    x = np.array([-1.2, 1.0])
    g = fastgrad.gradient(Rosenbrock(), x)
    assert x.tolist() == [-1.2, 1.0] and g is not x and not np.shares_memory(g, x)
    y = fastgrad.gradient_descent_step(Rosenbrock(), x, 0.001)
    assert x.tolist() == [-1.2, 1.0] and not np.shares_memory(y, x)


class PyCapsule:
    """Named like a C callback: the general path takes it as one."""

    def __call__(self, x):
        return 0.0


ERRORS = [
    (rosen, [1.0, float("nan")], {}),  # x: its error comes first
    (rosen, [], {}),
    (rosen, "12", {}),
    (Rosenbrock(), [1.0], {}),  # the objective's dimension, when f is first called
    (rosen, [1e300, 1.0], {"h": 1e-300}),  # no usable step at x[0]
    (rosen, [1.0, 1.0], {"h": float("inf")}),
    (rosen, [1.0, 1.0], {"h": 0.0}),
    (rosen, [1.0, 1.0], {"method": "sideways"}),
    (rosen, [1.0, 1.0], {"unpack": 1}),
    (rosen, [1.0, 1.0], {"args": [1.0]}),
    (rosen, [1.0, float("nan")], {"args": [1.0]}),  # args before x
    (rosen, [1.0, float("nan")], {"h": -1.0}),  # x before h
    (rosen, [1.0, 1.0], {"h": -1.0, "method": "sideways"}),  # h before method
    (rosen, [1.0, 1.0], {"full_output": "yes"}),
    (rosen_unpacked, [1.0, 1.0], {}),  # f(x) of two parameters: the unpack hint
    (PyCapsule(), [1.0, 1.0], {}),
    (lambda x: "a string", [1.0, 1.0], {}),
]


@pytest.mark.parametrize("f,x,kwargs", ERRORS)
def test_errors_are_the_references_in_its_order(f, x, kwargs):
    with pytest.raises(Exception) as expected:
        reference.gradient(f, x, **kwargs)
    with pytest.raises(expected.type) as got:
        fastgrad.gradient(f, x, **kwargs)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("learning_rate", [0.0, -1.0, float("nan"), True, "0.1", 1])
def test_learning_rate_errors_and_ints_are_the_references(learning_rate):
    try:
        expected = reference.gradient_descent_step(rosen, [1.0, 1.0], learning_rate)
    except Exception as error:
        with pytest.raises(type(error)) as got:
            fastgrad.gradient_descent_step(rosen, [1.0, 1.0], learning_rate)
        assert str(got.value) == str(error)
    else:
        assert bits(fastgrad.gradient_descent_step(rosen, [1.0, 1.0], learning_rate)) == \
            bits(expected)


def test_an_error_of_f_propagates_and_the_next_call_is_fine():
    calls = []

    def f(x):
        calls.append(x.copy())
        if len(calls) == 2:
            raise KeyError("second")
        return float(x[0] ** 2)
    with pytest.raises(KeyError, match="second"):
        fastgrad.gradient(f, [1.0, 2.0])
    assert len(calls) == 2
    assert bits(fastgrad.gradient(f, [1.0, 2.0])) == bits(
        reference.gradient(lambda x: float(x[0] ** 2), [1.0, 2.0]))


def test_a_low_precision_f_warns_once_from_the_callers_line_and_auto_does_not():
    def f(x):
        return np.float32(x[0] ** 2 + x[1])
    for name in ("gradient", "gradient_descent_step"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            getattr(fastgrad, name)(f, [1.0, 2.0])
        assert [(w.category, w.filename) for w in caught] == \
            [(fastgrad.PrecisionWarning, __file__)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = fastgrad.gradient(f, [1.0, 2.0], "auto")
    assert caught == [] and bits(g) == bits(reference.gradient(f, [1.0, 2.0], "auto"))
