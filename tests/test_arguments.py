"""The argument layer (issue 8, item 3): each bad argument raises before f runs,
with an exception type and message naming the parameter -- the same type and the
same message from fastgrad and fastgrad.reference (the `impl` fixture)."""
import ctypes
import decimal
import doctest
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

import fastgrad
import fastgrad._config
import fastgrad._contract as contract
import fastgrad._optimizers
import fastgrad._result
import fastgrad.objectives
import fastgrad.plot
from fastgrad.objectives import CFunction, LeastSquares, LogisticLoss, Quadratic, Sphere

from _fgtools import bits, is_fast

HUGE = 10**400  # an int beyond the float range


def cut(text):
    """How messages show a long repr: its first 57 characters and "..." (60 in all)."""
    return text if len(text) <= 60 else text[:57] + "..."


HUGE_SHOWN = cut(repr(HUGE))


class Spy:
    """A harmless f that counts its calls: bad arguments must raise before f runs."""

    def __init__(self):
        self.calls = 0

    def __call__(self, p):
        self.calls += 1
        return float(p[0]) ** 2 + float(p[1]) ** 2


def raises(exc, message, call, *args, **kwargs):
    """call(*args, **kwargs) raises exactly exc(message), before f (a Spy) runs."""
    spy = Spy()
    with pytest.raises(exc) as info:
        call(spy, *args, **kwargs)
    assert type(info.value) is exc, f"{type(info.value).__name__}: {info.value}"
    assert str(info.value) == message
    assert spy.calls == 0, "f was called before the bad argument was rejected"


def every_function(impl):
    """(name, call(f, x, **kw)) for each public function taking one point x."""
    return [("gradient", impl.gradient),
            ("gradient_descent_step", impl.gradient_descent_step),
            ("gradient_descent", impl.gradient_descent),
            ("gradient_batch", lambda f, x, **kw: impl.gradient_batch(f, [x], **kw))]


# -- Adam(eps=...) ------------------------------------------------------------------

@pytest.mark.parametrize("eps,message", [
    ("1e-8", "eps must be a positive finite real number, got str '1e-8'"),
    (True, "eps must be a positive finite real number, got bool True"),
    (decimal.Decimal("1e-8"), "eps must be a positive finite real number, got Decimal Decimal('1E-8')"),
    (None, "eps must be a positive finite real number, got NoneType None"),
    (1e-8 + 0j, "eps must be a positive finite real number, got complex (1e-08+0j)"),
], ids=repr)
def test_adam_eps_of_the_wrong_kind_is_a_type_error(impl, eps, message):
    raises(TypeError, message, lambda f: impl.Adam(eps=eps))


@pytest.mark.parametrize("eps,shown", [
    (0.0, "0.0"), (-1e-8, "-1e-08"), (float("inf"), "inf"), (float("nan"), "nan"), (0, "0"),
    (HUGE, HUGE_SHOWN + ", which overflows a float"),
], ids=repr)
def test_adam_eps_not_positive_and_finite_is_a_value_error(impl, eps, shown):
    raises(ValueError, f"eps must be positive and finite, got {shown}",
           lambda f: impl.Adam(eps=eps))


@pytest.mark.parametrize("eps", [1e-6, 1, Fraction(1, 10**8), np.float32(1e-3), np.int64(2)],
                         ids=repr)
def test_adam_eps_real_numbers_are_floats(impl, eps):
    adam = impl.Adam(eps=eps)
    assert type(adam.eps) is float and adam.eps == float(eps)
    r = impl.gradient_descent(lambda p: float(p[0]) ** 2, [1.0], 0.1, max_iter=3, optimizer=adam)
    assert r.nit == 3


# -- x, h and X given as a dict, a set or a bytearray --------------------------------

CONTAINERS = {
    "dict": {0: 1.0, 1: 2.0},
    "set": {1.0, 2.0},
    "frozenset": frozenset({1.0, 2.0}),
    "bytearray": bytearray(b"\x01\x02"),
    "dict-keys": {1.0: "a", 2.0: "b"}.keys(),
    "dict-values": {"a": 1.0, "b": 2.0}.values(),
}


@pytest.mark.parametrize("kind", sorted(CONTAINERS))
def test_x_as_a_mapping_set_or_bytearray_is_refused(impl, kind):
    x = CONTAINERS[kind]
    shown = contract.describe(x)
    for name, call in every_function(impl)[:3]:
        raises(TypeError, f"x must be a 1-D sequence of real numbers, got {shown}", call, x)


@pytest.mark.parametrize("kind", sorted(CONTAINERS))
def test_h_as_a_mapping_set_or_bytearray_is_refused(impl, kind):
    h = CONTAINERS[kind]
    message = f"h must be a positive number or a sequence of 2 of them, got {contract.describe(h)}"
    for name, call in every_function(impl):
        raises(TypeError, message, call, [1.0, 2.0], h=h)


def test_the_messages_show_what_was_passed(impl):
    raises(TypeError, "x must be a 1-D sequence of real numbers, got dict {0: 1.0, 1: 2.0}",
           impl.gradient, {0: 1.0, 1: 2.0})
    raises(TypeError, "x must be a 1-D sequence of real numbers, got bytearray bytearray(b'ab')",
           impl.gradient, bytearray(b"ab"))
    raises(TypeError, "h must be a positive number or a sequence of 2 of them, got set {1e-05}",
           impl.gradient, [1.0, 2.0], h={1e-5})


@pytest.mark.parametrize("kind", sorted(CONTAINERS))
def test_X_as_a_mapping_set_or_bytearray_is_refused(impl, kind):
    X = CONTAINERS[kind]
    raises(TypeError, f"X must be a 2-D sequence of real numbers, got {contract.describe(X)}",
           impl.gradient_batch, X)
    if kind == "bytearray":  # bytes as a row are one thing, as str is
        raises(ValueError, "X must be 2-D (one point per row), but X[1] is bytearray "
                           "bytearray(b'\\x01\\x02')", impl.gradient_batch, [[1.0, 2.0], X])
    else:
        raises(TypeError, "X[1]: x must be a 1-D sequence of real numbers, got "
                          f"{contract.describe(X)}", impl.gradient_batch, [[1.0, 2.0], X])


def test_sequences_that_are_not_lists_still_work(impl):
    import array
    expected = bits(impl.gradient(Spy(), [1.0, 2.0]))
    for x in (array.array("d", [1.0, 2.0]), memoryview(array.array("d", [1.0, 2.0])),
              pd.Series([1.0, 2.0], index=["a", "b"]), np.array([1.0, 2.0]).view(np.ma.MaskedArray)):
        assert bits(impl.gradient(Spy(), x)) == expected, type(x)
        assert bits(impl.gradient(Spy(), [1.0, 2.0], h=[1e-5, 1e-5])) == expected


# -- ints and Fractions beyond the float range ---------------------------------------

def test_huge_h_is_a_value_error_naming_h(impl):
    for name, call in every_function(impl):
        raises(ValueError, f"h must be positive and finite, got {HUGE_SHOWN}, which overflows a float",
               call, [1.0, 2.0], h=HUGE)
        raises(ValueError, f"h[1] must be positive and finite, got {HUGE_SHOWN}, which overflows "
                           "a float", call, [1.0, 2.0], h=[1e-5, HUGE])
        raises(ValueError, f"h must be positive and finite, got {cut(repr(Fraction(HUGE)))}, "
                           "which overflows a float", call, [1.0, 2.0], h=Fraction(HUGE, 1))
        raises(ValueError, f"h must be positive and finite, got {cut(repr(-HUGE))}, which "
                           "overflows a float", call, [1.0, 2.0], h=-HUGE)


def test_an_int_too_long_to_print_is_still_named(impl):
    # repr() refuses ints of more than sys.get_int_max_str_digits() digits
    raises(ValueError, "h must be positive and finite, got <int of 16610 bits>, which overflows "
                       "a float", impl.gradient, [1.0, 2.0], h=10**5000)


def test_huge_entries_of_x_are_not_finite(impl):
    for x in ([Fraction(HUGE, 1), 1.0], [1.0, HUGE], (1.0, -HUGE)):
        i = 0 if isinstance(x[0], Fraction) else 1
        message = f"x must be finite, but x[{i}] = {contract.show(x[i])}, which overflows a float"
        for name, call in every_function(impl)[:3]:
            raises(ValueError, message, call, list(x))
        raises(ValueError, "X[0]: " + message, impl.gradient_batch, [list(x)])


def test_fraction_entries_in_the_float_range_are_read_exactly(impl):
    g = impl.gradient(Spy(), [Fraction(1, 3), Fraction(-2, 1)])
    assert bits(g) == bits(impl.gradient(Spy(), [1 / 3, -2.0]))


def test_f_returning_an_int_beyond_the_float_range_gives_inf(impl):
    # f's value is no argument to refuse: it rounds to +-inf, as a float overflow does.
    assert bits(impl.gradient(lambda p: HUGE if float(p[0]) > 1.0 else 0, [1.0])) == bits([float("inf")])
    assert bits(impl.gradient(lambda p: Fraction(-HUGE) if float(p[0]) > 1.0 else 0, [1.0],
                              method="forward")) == bits([float("-inf")])
    r = impl.gradient_descent(lambda p: HUGE if float(p[0]) < 0.5 else float(p[0]) ** 2, [3.0], 0.3)
    # 3 -> 1.2 -> 0.48, whose stencil meets inf: the run returns 1.2
    assert r.message == ("stopped at iteration 1: the gradient is not finite at the next x "
                         "(f returned nan or inf near it)")
    assert not r.converged and bits(r.x) == bits([1.2000000000000002])


@pytest.mark.parametrize("which", ["step", "descent"])
def test_huge_learning_rate_is_a_value_error(impl, which):
    call = impl.gradient_descent_step if which == "step" else impl.gradient_descent
    raises(ValueError, f"learning_rate must be positive and finite, got {HUGE_SHOWN}, which "
                       "overflows a float", call, [1.0, 2.0], HUGE)


@pytest.mark.parametrize("parameter,wording", [("tol", "a real number >= 0"),
                                               ("ftol", "None or a real number >= 0")])
def test_huge_tol_and_ftol_are_value_errors(impl, parameter, wording):
    raises(ValueError, f"{parameter} must be {wording}, got {HUGE_SHOWN}, which overflows a float",
           impl.gradient_descent, [1.0, 2.0], **{parameter: HUGE})
    raises(ValueError, f"{parameter} must be {wording}, got {cut(repr(Fraction(-HUGE)))}, "
                       "which overflows a float",
           impl.gradient_descent, [1.0, 2.0], **{parameter: Fraction(-HUGE, 1)})
    raises(ValueError, f"{parameter} must be {wording}, got True",
           impl.gradient_descent, [1.0, 2.0], **{parameter: True})


def test_bools_are_not_numbers_for_h_and_learning_rate(impl):
    raises(TypeError, "h must be a positive finite real number, got bool True",
           impl.gradient, [1.0, 2.0], h=True)
    raises(TypeError, "h[0] must be a positive finite real number, got bool True",
           impl.gradient, [1.0, 2.0], h=[True, 1e-5])
    raises(TypeError, "learning_rate must be a positive finite real number, got bool True",
           impl.gradient_descent, [1.0, 2.0], True)


@pytest.mark.parametrize("make,message", [
    (lambda i: i.Momentum(momentum=HUGE), "momentum must be in [0, 1), got {}, which overflows a float"),
    (lambda i: i.Momentum(dampening=-HUGE), "dampening must be in [0, 1), got -{}, which overflows a float"),
    (lambda i: i.Adam(beta1=HUGE), "beta1 must be in [0, 1), got {}, which overflows a float"),
    (lambda i: i.Adam(beta2=HUGE), "beta2 must be in [0, 1), got {}, which overflows a float"),
    (lambda i: i.Armijo(c=HUGE), "c must be in (0, 1), got {}, which overflows a float"),
    (lambda i: i.Armijo(shrink=HUGE), "shrink must be in (0, 1), got {}, which overflows a float"),
])
def test_huge_optimizer_parameters_are_value_errors(impl, make, message):
    shown = HUGE_SHOWN if "-{}" not in message else cut(repr(-HUGE))[1:]
    raises(ValueError, message.format(shown), lambda f: make(impl))


@pytest.mark.parametrize("make,message", [
    (lambda i: i.Momentum(momentum=True), "momentum must be a real number, got bool True"),
    (lambda i: i.Momentum(dampening=False), "dampening must be a real number, got bool False"),
    (lambda i: i.Adam(beta1=False), "beta1 must be a real number, got bool False"),
    (lambda i: i.Armijo(c=decimal.Decimal("0.1")), "c must be a real number, got Decimal Decimal('0.1')"),
])
def test_bools_and_decimals_are_not_optimizer_parameters(impl, make, message):
    raises(TypeError, message, lambda f: make(impl))


@pytest.mark.parametrize("make,exc,message", [
    (lambda: Quadratic(np.eye(1), [1.0], c=HUGE), ValueError,
     f"c must be a finite real number, got {HUGE_SHOWN}, which overflows a float"),
    (lambda: Quadratic(np.eye(1), [1.0], c=True), TypeError,
     "c must be a finite real number, got True"),
    (lambda: Quadratic([[HUGE]], [1.0]), ValueError,
     f"A must be finite, but it holds {HUGE_SHOWN}, which overflows a float"),
    (lambda: Quadratic(np.eye(2), [1.0, Fraction(-HUGE, 1)]), ValueError,
     f"b must be finite, but it holds {cut(repr(Fraction(-HUGE)))}, which overflows a float"),
    (lambda: Quadratic([[1.0, "a"], [0.0, 1.0]], [1.0, 2.0]), TypeError,
     "A must hold real numbers, got dtype <U32"),
    (lambda: Quadratic([[1.0, None], [0.0, 1.0]], [1.0, 2.0]), TypeError,
     "A must hold real numbers, got NoneType None"),
    (lambda: Quadratic([[1.0], [0.0, 1.0]], [1.0, 2.0]), ValueError,
     "A must be a 2-D array of real numbers: setting an array element with a sequence. The "
     "requested array has an inhomogeneous shape after 1 dimensions. The detected shape was "
     "(2,) + inhomogeneous part."),
    (lambda: LogisticLoss([[1.0]], [1.0], l2=HUGE), ValueError,
     f"l2 must be a finite real number, got {HUGE_SHOWN}, which overflows a float"),
    (lambda: LeastSquares([[1.0, HUGE]], [1.0]), ValueError,
     f"X must be finite, but it holds {HUGE_SHOWN}, which overflows a float"),
], ids=["c", "c-bool", "A", "b-fraction", "A-str", "A-None", "A-ragged", "l2", "X"])
def test_objective_parameters_beyond_the_float_range(make, exc, message):
    with pytest.raises(exc) as info:
        make()
    assert type(info.value) is exc and str(info.value) == message


def test_objective_parameters_given_as_fractions_and_big_ints_are_read_as_floats():
    q = Quadratic([[Fraction(1, 2), 0], [0, 2**70]], [Fraction(1, 3), 0], c=Fraction(1, 4))
    assert q.A.tolist() == [[0.5, 0.0], [0.0, 2.0**70]] and q.b.tolist() == [1 / 3, 0.0]
    assert q.c == 0.25 and q([1.0, 0.0]) == 0.25 + 1 / 3 + 0.25


def test_objectives_check_x_as_gradient_does(impl):
    for x, exc, message in [
            ({0: 1.0}, TypeError, "x must be a 1-D sequence of real numbers, got dict {0: 1.0}"),
            (["a"], TypeError, "x must hold real numbers, but x[0] is str 'a'"),
            ([[1.0]], ValueError, "x must be 1-D, but x[0] is list [1.0]"),
            ([HUGE], ValueError, f"x must be finite, but x[0] = {HUGE_SHOWN}, which overflows a float")]:
        with pytest.raises(exc) as called:
            Sphere()(x)
        with pytest.raises(exc) as through:
            impl.gradient(Sphere(), x)
        assert str(called.value) == str(through.value) == message
    assert Sphere()([Fraction(1, 2), 1]) == 1.25


# -- CFunction(dim=...) -------------------------------------------------------------

CALLBACK_TYPE = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int, ctypes.POINTER(ctypes.c_double))


@CALLBACK_TYPE
def _sum_of_squares(n, x):
    return sum(x[i] * x[i] for i in range(n))


def low_level_callable():
    from scipy import LowLevelCallable
    return LowLevelCallable(_sum_of_squares)


@pytest.mark.parametrize("dim,message", [
    (2**70, "dim must be at most 2147483647 (the C function takes int n), got 1180591620717411303424"),
    (2**31, "dim must be at most 2147483647 (the C function takes int n), got 2147483648"),
    (HUGE, f"dim must be at most 2147483647 (the C function takes int n), got {HUGE_SHOWN}"),
    (0, "dim must be a positive int or None, got 0"),
    (True, "dim must be a positive int or None, got True"),
    (2.0, "dim must be a positive int or None, got 2.0"),
])
def test_cfunction_dim_out_of_range_is_a_value_error(dim, message):
    with pytest.raises(ValueError) as info:
        CFunction(low_level_callable(), dim=dim)
    assert type(info.value) is ValueError and str(info.value) == message


def test_cfunction_dim_up_to_int_max():
    assert CFunction(low_level_callable(), dim=2**31 - 1).dim == 2**31 - 1
    assert CFunction(low_level_callable(), dim=np.int64(2)).dim == 2


# -- the message helper -------------------------------------------------------------

class OddShape:
    def __init__(self, shape):
        self.shape = shape

    def __repr__(self):
        return "OddShape()"


class RaisingShape:
    @property
    def shape(self):
        raise RuntimeError("no shape")

    def __repr__(self):
        raise RuntimeError("no repr")


@pytest.mark.parametrize("value,described", [
    (OddShape(5), "OddShape OddShape()"),
    (OddShape(None), "OddShape OddShape()"),
    (OddShape("ab"), "OddShape OddShape()"),
    (OddShape((2, "a")), "OddShape OddShape()"),
    (OddShape(2.5), "OddShape OddShape()"),
    (OddShape((2, 3)), "OddShape of shape (2, 3)"),
    (OddShape([np.int64(4)]), "OddShape of shape (4,)"),
    (RaisingShape(), "RaisingShape <RaisingShape object>"),
    (np.zeros((2, 3)), "ndarray of shape (2, 3)"),
    (np.float32(1.5), "float32 np.float32(1.5)"),
    (np.str_("a"), "str_ np.str_('a')"),
    ("x" * 50, "str 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."),
], ids=lambda v: contract.show(v) if not isinstance(v, str) or len(v) > 30 else v)
def test_describe_never_crashes(value, described):
    assert contract.describe(value) == described


def test_odd_shapes_in_the_public_functions(impl):
    raises(TypeError, "x must be a 1-D sequence of real numbers, got OddShape OddShape()",
           impl.gradient, OddShape(5))
    raises(TypeError, "f must be callable, got RaisingShape <RaisingShape object>",
           lambda f: impl.gradient(RaisingShape(), [1.0]))

    class ShapedList(list):
        shape = 5  # not a shape: read as the list it is

    assert bits(impl.gradient(Spy(), ShapedList([1.0, 2.0]))) == bits(impl.gradient(Spy(), [1.0, 2.0]))
    with pytest.raises(TypeError) as info:
        impl.gradient(lambda p: OddShape(5), [1.0, 2.0])
    assert str(info.value) == "f must return a real scalar, got OddShape OddShape()"


# -- plot limits --------------------------------------------------------------------

def bowl(x, y):
    return x**2 + y**2


@pytest.mark.parametrize("lim,message", [
    ((0, HUGE), "{} must be finite with low < high, got " + cut(repr((0, HUGE)))),
    ((-HUGE, 0), "{} must be finite with low < high, got " + cut(repr((-HUGE, 0)))),
    ((-1e308, 1e308), "{} spans more than the float range: high - low = 1e+308 - -1e+308 "
                      "overflows, got (-1e+308, 1e+308)"),
    ((0.0, float("inf")), "{} must be finite with low < high, got (0.0, inf)"),
    (("0", "1"), "{} must be a pair (low, high) of numbers, got ('0', '1')"),
    ((0, 1, 2), "{} must be a pair (low, high) of numbers, got (0, 1, 2)"),
    (5, "{} must be a pair (low, high) of numbers, got 5"),
], ids=["huge-high", "huge-low", "span", "inf", "strings", "three", "scalar"])
def test_plot_limits_are_refused_up_front(lim, message):
    good = (-1.0, 1.0)
    run = fastgrad.gradient_descent(bowl, [0.5, 0.5], unpack=True, record=True, max_iter=2)
    for name in ("xlim", "ylim"):
        limits = {"xlim": good, "ylim": good, name: lim}
        with pytest.raises(ValueError) as field:
            fastgrad.plot.gradient_field(bowl, limits["xlim"], limits["ylim"], unpack=True)
        with pytest.raises(ValueError) as path:
            fastgrad.plot.descent_path(bowl, run, unpack=True, **limits)
        assert str(field.value) == str(path.value) == message.format(name)


def test_plot_paths_too_wide_for_a_margin_need_limits():
    result = fastgrad._result.DescentResult(
        x=[1e308, 0.0], fun=0.0, grad=[0.0, 0.0], nit=1, nfev=1, converged=False, message="",
        path=[[-1e308, 0.0], [1e308, 1.0]], path_fun=[0.0, 0.0])
    with pytest.raises(ValueError) as info:
        fastgrad.plot.descent_path(bowl, result, unpack=True)
    assert str(info.value) == ("the paths span too much of the float range to draw with a "
                               "margin: give xlim")


# -- gradient_batch reads X through its array form ------------------------------------

def sphere(p):
    return float(p[0]) ** 2 + float(p[1]) ** 2


ROWS = [[1.0, 2.0], [3.0, -1.0], [0.5, 0.25]]


@pytest.mark.parametrize("columns", [
    ["a", "b"],
    [0, 1],  # iterating the frame yields 0 and 1
    [10.0, 20.0],
    pd.MultiIndex.from_tuples([(10, 20), (30, 40)]),  # iterating yields (10, 20), (30, 40)
    pd.MultiIndex.from_tuples([(1.5, 2.5), (3.5, 4.5)]),
], ids=["labels", "range", "floats", "multiindex-ints", "multiindex-floats"])
def test_gradient_batch_reads_a_dataframe_by_its_values(impl, columns):
    frame = pd.DataFrame(ROWS, columns=columns)
    expected = impl.gradient_batch(sphere, ROWS)
    assert [bits(r) for r in impl.gradient_batch(sphere, frame)] == [bits(r) for r in expected]
    assert [bits(r) for r in impl.gradient_batch(Sphere(), frame)] == \
        [bits(r) for r in impl.gradient_batch(Sphere(), ROWS)]


def test_the_labels_of_a_multiindex_are_never_read_as_points(impl):
    frame = pd.DataFrame([[1.0, 2.0]], columns=pd.MultiIndex.from_tuples([(10, 20), (30, 40)]))
    g = impl.gradient_batch(sphere, frame)
    assert [[round(float(v), 6) for v in row] for row in g] == [[2.0, 4.0]]  # not 2 rows of labels


def test_dataframe_values_are_checked_as_rows(impl):
    frame = pd.DataFrame([[1.0, 2.0], [np.nan, 1.0]], columns=["a", "b"])
    raises(ValueError, "X[1]: x must be finite, but x[0] = nan", impl.gradient_batch, frame)
    text = pd.DataFrame([[1.0, "a"]], columns=["a", "b"])
    raises(TypeError, "X[0]: x must hold real numbers, but x[1] is str 'a'",
           impl.gradient_batch, text)
    raises(ValueError, "X must be 2-D (one point per row), got shape (2,)",
           impl.gradient_batch, pd.Series([1.0, 2.0]))


class ArrayOnly:
    """Neither a sequence nor numpy's: only __array__ gives its values."""

    def __init__(self, rows):
        self.rows = rows

    def __array__(self, dtype=None, copy=None):
        return np.array(self.rows, dtype=dtype)


def test_any_object_with_an_array_form_works(impl):
    g = impl.gradient_batch(sphere, ArrayOnly(ROWS))
    assert [bits(r) for r in g] == [bits(r) for r in impl.gradient_batch(sphere, ROWS)]


def test_numpy_arrays_are_read_item_by_item():
    # numpy's own arrays (subclasses too) are not read through __array__: a masked
    # entry stays visible (nan), a matrix row stays 2-D.
    masked = np.ma.masked_array([[1.0, 2.0]], mask=[[False, True]])
    assert contract.array_form(masked) is masked
    plain = np.zeros((2, 2))
    assert contract.array_form(plain) is plain and contract.array_form(ROWS) is ROWS


# -- f as a C callback: as_objective ---------------------------------------------------

def test_as_objective_wraps_a_low_level_callable():
    f = contract.as_objective(low_level_callable(), ())
    assert type(f) is CFunction and f([3.0, 4.0]) == 25.0


def test_as_objective_wraps_a_raw_capsule():
    capsule = tuple.__getitem__(low_level_callable(), 0)
    assert type(capsule).__name__ == "PyCapsule"
    f = contract.as_objective(capsule, ())
    assert type(f) is CFunction and f([1.0, 2.0]) == 5.0


def test_as_objective_keeps_callables_and_checks_the_rest():
    def f(p):
        return 0.0
    assert contract.as_objective(f, ()) is f
    objective = Sphere()
    assert contract.as_objective(objective, (1,)) is objective
    for bad, args, message in [
            (3, (), "f must be callable, got int 3"),
            ((1, 2, 3), (), "f must be callable, got tuple (1, 2, 3)"),
            (f, [1], "args must be a tuple of extra arguments for f, got list [1]")]:
        with pytest.raises(TypeError) as info:
            contract.as_objective(bad, args)
        assert str(info.value) == message


WITHOUT_OBJECTIVES = """
import ctypes, sys
sys.modules["numpy"] = None
sys.modules["fastgrad.objectives"] = None
import fastgrad._contract as contract
new = ctypes.pythonapi.PyCapsule_New
new.restype, new.argtypes = ctypes.py_object, (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
capsule = new(1, b"double (int, double *)", None)
try:
    contract.as_objective(capsule, ())
except ImportError as error:
    print(type(error).__name__, error)
"""


def test_as_objective_without_the_compiled_objectives_says_why(tmp_path):
    run = subprocess.run([sys.executable, "-c", WITHOUT_OBJECTIVES], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ("ImportError f is a C callback: calling it needs fastgrad's compiled "
                          "objectives, which cannot be imported (import of fastgrad.objectives "
                          "halted; None in sys.modules)\n")


# -- what a vectorized f returned -------------------------------------------------------

def object_array(*items):
    array = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        array[i] = item
    return array


@pytest.mark.parametrize("result,exc,message", [
    (np.ones((3, 1)), ValueError, "got shape (3, 1)"),
    ([[1.0]] * 3, ValueError, "got shape (3, 1)"),  # as numpy would see it
    ([[1.0], [1.0, 2.0], 3.0], ValueError, "got shape (3, 1)"),  # ragged: the first nesting
    (object_array([1.0], [2.0], [3.0]), ValueError, "got shape (3, 1)"),
    (np.ones(4), ValueError, "got shape (4,)"),
    ([1.0] * 2, ValueError, "got shape (2,)"),
    (np.ones((1, 3)), ValueError, "got shape (1, 3)"),
    (1.0, ValueError, "got float 1.0"),
    (np.float64(1.0), ValueError, "got shape ()"),
    (None, ValueError, "got NoneType None"),
    ({1: 1.0, 2: 2.0, 3: 3.0}, ValueError, "got dict {1: 1.0, 2: 2.0, 3: 3.0}"),
    ("abc", ValueError, "got str 'abc'"),
    ([1j] * 3, TypeError, "got complex 1j"),
    (np.ones(3, dtype=complex), TypeError, "got complex128 np.complex128(1+0j)"),
    (np.array(["a"] * 3), TypeError, "got str_ np.str_('a')"),
    ([1.0, None, 2.0], TypeError, "got NoneType None"),
], ids=repr)
def test_vectorized_values_messages(result, exc, message):
    with pytest.raises(exc) as info:
        contract.vectorized_values(result, 3)
    prefix = ("vectorized f must return an array of shape (3,), " if exc is ValueError
              else "vectorized f must return real numbers, ")
    assert type(info.value) is exc and str(info.value) == prefix + message


def test_vectorized_values_beyond_the_float_range_are_infinite():
    assert contract.vectorized_values([HUGE, Fraction(-HUGE), 1], 3) == [float("inf"), float("-inf"), 1.0]
    assert contract.vectorized_values(object_array(HUGE, 2, 3), 3) == [float("inf"), 2.0, 3.0]


@pytest.mark.parametrize("result", [[1.0, 2, Fraction(1, 2)], (1.0, 2.0, 0.5),
                                    np.array([1.0, 2.0, 0.5], dtype=np.float32),
                                    np.array([1.0, 2.0, 0.5]), [np.float64(1.0), np.array(2.0), 0.5],
                                    pd.Series([1.0, 2.0, 0.5])], ids=repr)
def test_vectorized_values_reads_real_results(result):
    values = contract.vectorized_values(result, 3)
    assert values == [1.0, 2.0, 0.5] and all(type(v) is float for v in values)


# -- the documented examples of the modules this layer owns -------------------------------

@pytest.mark.parametrize("module", [fastgrad._optimizers, fastgrad.objectives, fastgrad._config,
                                    fastgrad._result, fastgrad.plot],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing a doctest writes lands in the checkout
    outcome = doctest.testmod(module, verbose=False, report=True)
    assert outcome.attempted >= 3
    assert outcome.failed == 0


def test_every_public_class_and_function_has_numpydoc_sections():
    public = [fastgrad.SGD, fastgrad.Momentum, fastgrad.Adam, fastgrad.Armijo,
              fastgrad.DescentResult, fastgrad.show_config, fastgrad.plot.gradient_field,
              fastgrad.plot.descent_path, fastgrad.plot.loss_curve]
    public += [getattr(fastgrad.objectives, name) for name in fastgrad.objectives.__all__]
    for item in public:
        doc = item.__doc__ or ""
        for section in ("Parameters\n", "Examples\n"):
            assert section in doc, (item.__name__, section)
    assert "Returns\n" in fastgrad.objectives.Objective.__call__.__doc__
