"""Teaching messages: the common mistakes with one obvious fix say what it is.

Same type and message in both implementations; a TypeError from inside f
passes unchanged.
"""
import numpy as np
import pytest


def two(x, y):
    return x * x + y


def five(a, b, c, d, e):
    return a + b + c + d + e


def scaled(a, b, c, s):
    return s * (a + b + c)


MISSING = ("f takes one number per coordinate, not x as one array (two() missing 1 required "
           "positional argument: 'y'): pass unpack=True to call it as f(x[0], x[1])")


@pytest.mark.parametrize("call", ["gradient", "gradient_descent_step", "gradient_descent",
                                  "gradient_batch"])
def test_f_of_several_numbers_without_unpack_suggests_unpack(impl, call):
    x = [[1.0, -1.0]] if call == "gradient_batch" else [1.0, -1.0]
    with pytest.raises(TypeError) as info:
        getattr(impl, call)(two, x)
    assert str(info.value) == MISSING
    assert isinstance(info.value.__cause__, TypeError)  # Python's own message, kept


def test_the_hint_names_the_coordinates_of_x(impl):
    with pytest.raises(TypeError) as info:
        impl.gradient(five, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert str(info.value) == (
        "f takes one number per coordinate, not x as one array (five() missing 4 required "
        "positional arguments: 'b', 'c', 'd', and 'e'): pass unpack=True to call it as "
        "f(x[0], x[1], ..., x[4])")
    with pytest.raises(TypeError) as info:
        impl.gradient(scaled, [1.0, 2.0, 3.0], args=(1.0,))
    assert str(info.value) == (
        "f takes one number per coordinate, not x as one array (scaled() missing 2 required "
        "positional arguments: 'c' and 's'): pass unpack=True to call it as "
        "f(x[0], x[1], x[2])")


def test_a_vectorized_f_of_columns_without_unpack_suggests_unpack(impl):
    with pytest.raises(TypeError) as info:
        impl.gradient(two, [1.0, -1.0], vectorized=True)
    assert str(info.value) == (
        "f takes one column of points per coordinate, not the points as one array (two() "
        "missing 1 required positional argument: 'y'): pass unpack=True to call it as "
        "f(X[:, 0], X[:, 1])")


def test_a_type_error_from_inside_f_is_not_touched(impl):
    def f(x):
        return x + "oops"

    with pytest.raises(TypeError) as info:
        impl.gradient(f, [1.0, 2.0])
    assert "unpack" not in str(info.value) and info.value.__cause__ is None
    # nor with unpack=True, nor for one coordinate (f(x) of one number is f(*x) too)
    with pytest.raises(TypeError, match="^two\\(\\) takes 2 positional arguments but 3"):
        impl.gradient(two, [1.0, 2.0, 3.0], unpack=True)
    with pytest.raises(TypeError, match="^two\\(\\) missing 1 required positional"):
        impl.gradient(two, [1.0])


@pytest.mark.parametrize("value, message", [
    (np.array([2.0]), "f must return a real scalar, got ndarray of shape (1,); return its one "
                      "value (value.item(), or value[0])"),
    (np.array([[2.0]]), "f must return a real scalar, got ndarray of shape (1, 1); return its "
                        "one value (value.item(), or value[0])"),
    (np.array([2.0, 3.0]), "f must return a real scalar, got ndarray of shape (2,); a gradient "
                           "is of a function with one value: for the derivatives of each of "
                           "f's values use jacobian, or, if they are terms to minimise "
                           "together, return their sum"),
    (np.zeros((2, 2)), "f must return a real scalar, got ndarray of shape (2, 2)"),
])
def test_f_returning_an_array_is_told_what_to_return(impl, value, message):
    with pytest.raises(TypeError) as info:
        impl.gradient(lambda x: value, [1.0, 2.0])
    assert str(info.value) == message
