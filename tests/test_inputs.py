"""x is never modified, results never alias x, and results have the contract's types."""
import array
import copy

import numpy as np
import pytest

import fastgrad

from _fgtools import assert_same_result, check_matrix, check_vector, floats, is_fast


def f(p):
    return sum(float(v) ** 2 for v in p) + float(p[0])


def inputs():
    base = [1.0, -2.0, 3.0]
    strided = np.array([1.0, 9.0, -2.0, 9.0, 3.0, 9.0])[::2]
    readonly = np.array(base)
    readonly.flags.writeable = False
    return {
        "list": list(base),
        "tuple": tuple(base),
        "list-of-ints": [1, -2, 3],
        "float64": np.array(base),
        "float32": np.array(base, dtype=np.float32),
        "int64": np.array([1, -2, 3]),
        "int8": np.array([1, -2, 3], dtype=np.int8),
        "strided-view": strided,
        "reversed-view": np.array([3.0, -2.0, 1.0])[::-1],
        "column-view": np.array([[1.0, 0.0], [-2.0, 0.0], [3.0, 0.0]])[:, 0],
        "read-only": readonly,
        "numpy-scalars-list": [np.float64(1.0), np.float32(-2.0), np.int16(3)],
        "zero-d-arrays-list": [np.array(1.0), np.array(-2), np.array(3.0, dtype=np.float32)],
        "array.array": array.array("d", base),
        "range": range(1, 4),  # (1, 2, 3): the gradient differs; see below
    }


CALLS = {
    "gradient": lambda impl, x: [impl.gradient(f, x)],
    "gradient-forward-per-coordinate-h":
        lambda impl, x: [impl.gradient(f, x, [1e-3, 1e-4, 1e-5], method="forward")],
    "step": lambda impl, x: [impl.gradient_descent_step(f, x, 0.1)],
    "descent": lambda impl, x: _descent_outputs(impl.gradient_descent(f, x, 0.1, max_iter=3,
                                                                      record=True)),
    "descent-max-iter-0": lambda impl, x: _descent_outputs(
        impl.gradient_descent(f, x, max_iter=0, record=True)),
}


def _descent_outputs(r):
    return [r.x, r.grad, r.path, r.path_fun]


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("kind", sorted(inputs()))
def test_x_is_never_modified_and_results_never_alias_it(impl, call, kind):
    x = inputs()[kind]
    before = copy.deepcopy(x)
    outputs = CALLS[call](impl, x)
    # x unchanged: same type, dtype, values
    assert type(x) is type(before)
    if isinstance(x, np.ndarray):
        assert x.dtype == before.dtype and np.array_equal(x, before)
    else:
        assert x == before and [type(v) for v in x] == [type(v) for v in before]
    for out in outputs:
        assert out is not x
        if is_fast(impl):
            assert isinstance(out, np.ndarray) and out.dtype == np.float64
            if isinstance(x, np.ndarray):
                assert not np.shares_memory(out, x)
    # writing to every output leaves x alone
    for out in outputs:
        if isinstance(out, np.ndarray):
            out[...] = 12345.0
        else:
            for i in range(len(out)):
                if isinstance(out[i], list):
                    out[i][:] = [12345.0] * len(out[i])
                else:
                    out[i] = 12345.0
    if isinstance(x, np.ndarray):
        assert np.array_equal(x, before)
    else:
        assert x == before


def test_results_are_new_objects_each_call(impl):
    x = np.array([1.0, 2.0])
    a = impl.gradient(f, x)
    b = impl.gradient(f, x)
    assert a is not b
    if is_fast(impl):
        assert not np.shares_memory(a, b)


@pytest.mark.parametrize("kind", sorted(inputs()))
def test_every_input_kind_gives_the_same_result(impl, kind):
    expected = floats(impl.gradient(f, [1.0, 2.0, 3.0] if kind == "range" else [1.0, -2.0, 3.0]))
    g = impl.gradient(f, inputs()[kind])
    check_vector(impl, g, 3)
    assert floats(g) == expected


def test_result_shapes_for_n_1(impl):
    g = impl.gradient(lambda p: 3.0 * float(p[0]), [2.0])
    check_vector(impl, g, 1)
    s = impl.gradient_descent_step(lambda p: 3.0 * float(p[0]), (2.0,), 0.5)
    check_vector(impl, s, 1)
    r = impl.gradient_descent(lambda p: float(p[0]) ** 2, np.array([2.0]), record=True,
                              max_iter=4)
    check_vector(impl, r.x, 1)
    check_matrix(impl, r.path, 5, 1)


@pytest.mark.parametrize("container", [list, np.array])
def test_caller_changing_x_or_h_inside_f_does_not_affect_the_run(impl, container):
    # The library works on its own copies of x and h, taken up front.
    x = container([1.0, -2.0, 3.0])
    h = container([1e-3, 1e-4, 1e-5])
    clean = impl.gradient_descent(f, [1.0, -2.0, 3.0], 0.1, max_iter=5, h=[1e-3, 1e-4, 1e-5])

    def meddling(p):
        x[0] += 1.0
        h[1] *= 2.0
        return f(p)

    r = impl.gradient_descent(meddling, x, 0.1, max_iter=5, h=h)
    assert_same_result(r, clean)


def test_array_subclasses_give_plain_arrays():
    x = np.ma.array([1.0, -1.0])
    g = fastgrad.gradient(lambda v: float(v[0] ** 2 + v[1] ** 2), x)
    r = fastgrad.gradient_descent(lambda v: float(v[0] ** 2 + v[1] ** 2), x, max_iter=3)
    assert type(g) is np.ndarray and type(r.x) is np.ndarray and type(r.grad) is np.ndarray


@pytest.mark.parametrize("kwargs", [{"method": "bogus"}, {"h": -1.0}])
def test_a_non_finite_x_is_named_first_in_both(impl, kwargs):
    # Arguments are checked in the same order in both: x before h and method.
    with pytest.raises(ValueError, match=r"x must be finite, but x\[1\] = nan"):
        impl.gradient(lambda v: 0.0, [1.0, float("nan")], **kwargs)


def test_ints_beyond_the_float_range_are_not_finite(impl):
    with pytest.raises(ValueError, match=r"x must be finite, but x\[0\] = 1000.* overflows"):
        impl.gradient(lambda v: 0.0, [10**400, 1.0])


def test_masked_inputs_are_checked_as_the_reference_does(impl):
    # (np.matrix as gradient_batch's X: test_batch.py)
    x = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    with pytest.raises(ValueError, match=r"x must be finite, but x\[1\] = nan"), \
            pytest.warns(UserWarning, match="converting a masked element to nan"):
        impl.gradient(lambda v: float(v[0]), x)


def test_nested_lists_get_the_same_message_in_both(impl):
    with pytest.raises(ValueError, match=r"x must be 1-D, but x\[0\] is list \[1, 2\]"):
        impl.gradient(lambda v: 0.0, [[1, 2]])
