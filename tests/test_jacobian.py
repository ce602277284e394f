"""jacobian, Jacobian, derivative and check_grad (issue 11; DESIGN.md Part II
"More derivatives"): analytic Jacobians, bit parity with the reference, with
gradient() row by row and across the tiers, shapes for m = 1 and n = 1, the
evaluations made, and the exact errors."""
import ctypes
import math
import subprocess

import numpy as np
import pytest
from scipy import LowLevelCallable
from scipy.optimize import rosen_der, rosen_hess

import fastgrad
import fastgrad.reference as reference
from fastgrad.objectives import CFunction
from _fgtools import assert_bits_equal, is_fast


def bits2(J):
    """A Jacobian (ndarray or lists) as rows of float.hex."""
    return [[float(v).hex() for v in row] for row in (J.tolist() if isinstance(J, np.ndarray)
                                                       else J)]


# -- a 3x3 nonlinear system, Python floats or arrays alike -----------------------

def system(x, a=1.0):
    x0, x1, x2 = float(x[0]), float(x[1]), float(x[2])
    return [x0 * x0 + x1 * x2 - a, x0 + x1 * x1 * x1 - x2, x0 * x1 * x2 - 2.0]


def system_jacobian(x, a=1.0):
    x0, x1, x2 = x
    return [[2 * x0, x2, x1], [1.0, 3 * x1 * x1, -1.0], [x1 * x2, x0 * x2, x0 * x1]]


def system_rows(X, a=1.0):
    X = np.asarray(X, dtype=float)
    x0, x1, x2 = X[:, 0], X[:, 1], X[:, 2]
    return np.stack([x0 * x0 + x1 * x2 - a, x0 + x1 * x1 * x1 - x2, x0 * x1 * x2 - 2.0], axis=1)


X3 = [0.7, -1.3, 2.1]


@pytest.mark.parametrize("method,order,tol", [("central", 2, 1e-8), ("central", 4, 1e-9),
                                              ("forward", 1, 1e-4), ("backward", 2, 1e-7)])
def test_analytic_system(impl, method, order, tol):
    J = np.array(impl.jacobian(system, X3, method=method, order=order, h="auto"))
    assert J.shape == (3, 3)
    np.testing.assert_allclose(J, system_jacobian(X3), rtol=tol, atol=tol)


def test_rosenbrock_gradient_jacobian_is_its_hessian(impl):
    x = [1.1, 0.9, -0.4, 1.7, 0.3]
    H = np.array(impl.jacobian(lambda p: rosen_der(np.asarray(p)), x, h="auto", order=4))
    np.testing.assert_allclose(H, rosen_hess(x), rtol=1e-8, atol=1e-6)


def test_himmelblau_gradient_jacobian(impl):
    def grad(p):
        x, y = float(p[0]), float(p[1])
        return [4 * x ** 3 + 4 * x * y - 42 * x + 2 * y ** 2 - 14,
                2 * x ** 2 + 4 * x * y + 4 * y ** 3 - 26 * y - 22]
    x, y = -0.27, -0.9
    H = [[12 * x ** 2 + 4 * y - 42, 4 * x + 4 * y], [4 * x + 4 * y, 4 * x + 12 * y ** 2 - 26]]
    np.testing.assert_allclose(impl.jacobian(grad, [x, y], h=1e-4), H, rtol=1e-8)


# -- bit parity: with the reference, with gradient() row by row, across tiers -----

CASES = [dict(), dict(method="forward"), dict(method="backward", order=3),
         dict(order=6, h=[1e-3, 2e-3, 5e-4]), dict(h="auto"), dict(h="auto", method="forward"),
         dict(bounds=([0.0, -2.0, 0.0], [1.0, -1.3, 2.1]), h=1e-2, order=4),
         dict(bounds=([-1.0, -1.3, 0.0], 3.0), method="forward", h=0.1),
         dict(args=(2.5,)), dict(unpack=True)]


@pytest.mark.parametrize("options", CASES)
def test_parity_with_reference(options):
    f = (lambda *p: system(p)) if options.get("unpack") else system
    J = fastgrad.jacobian(f, X3, **options)
    assert isinstance(J, np.ndarray) and J.dtype == np.float64 and J.shape == (3, 3)
    assert bits2(J) == bits2(reference.jacobian(f, X3, **options))


@pytest.mark.parametrize("options", CASES)
def test_rows_are_gradients(impl, options):
    options = dict(options)
    unpack = options.get("unpack")
    f = (lambda *p: system(p)) if unpack else system
    J = impl.jacobian(f, X3, **options)
    for r in range(3):
        if unpack:
            def fr(*p, r=r):
                return system(p)[r]
        else:
            def fr(p, *args, r=r):
                return system(p, *args)[r]
        assert_bits_equal(J[r], impl.gradient(fr, X3, **options), f"row {r}")


def test_one_output_is_the_gradient_bit_for_bit(impl):
    def scalar(p):
        return math.sin(float(p[0])) * float(p[1]) + float(p[1]) ** 3 * float(p[2])
    for options in CASES[:8]:
        J = impl.jacobian(lambda p: [scalar(p)], X3, **options)
        assert np.shape(J) == (1, 3)
        assert_bits_equal(J[0], impl.gradient(scalar, X3, **options))


def test_vectorized_tier_agrees(impl):
    for options in (dict(), dict(method="backward", order=2), dict(h="auto", order=4)):
        J = impl.jacobian(system_rows, X3, vectorized=True, **options)
        assert bits2(J) == bits2(impl.jacobian(system, X3, **options))


def test_vectorized_unpacked(impl):
    def columns(x0, x1, x2):
        return system_rows(np.column_stack([x0, x1, x2]))
    J = impl.jacobian(columns, X3, vectorized=True, unpack=True)
    assert bits2(J) == bits2(impl.jacobian(system, X3))


C_SOURCE = r"""
void system(int n, const double *x, int m, double *out, void *user_data) {
    double a = user_data ? *(double *)user_data : 1.0;
    out[0] = x[0] * x[0] + x[1] * x[2] - a;
    out[1] = x[0] + x[1] * x[1] * x[1] - x[2];
    out[2] = x[0] * x[1] * x[2] - 2.0;
}
/* f_r(x) = (r + 1) * sum x_i^2: m outputs of any n */
void scaled(int n, const double *x, int m, double *out, void *user_data) {
    double total = 0.0;
    for (int i = 0; i < n; i++) total += x[i] * x[i];
    for (int r = 0; r < m; r++) out[r] = (r + 1) * total;
}
"""

VECTOR = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.POINTER(ctypes.c_double), ctypes.c_int,
                          ctypes.POINTER(ctypes.c_double), ctypes.c_void_p)


@pytest.fixture(scope="module")
def vector_library(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vector")
    (tmp / "v.c").write_text(C_SOURCE)
    subprocess.run(["cc", "-O2", "-ffp-contract=off", "-shared", "-fPIC", str(tmp / "v.c"),
                    "-o", str(tmp / "v.so")], check=True)
    lib = ctypes.CDLL(str(tmp / "v.so"))
    for name in ("system", "scaled"):
        getattr(lib, name).restype = None
        getattr(lib, name).argtypes = (ctypes.c_int, ctypes.POINTER(ctypes.c_double),
                                       ctypes.c_int, ctypes.POINTER(ctypes.c_double),
                                       ctypes.c_void_p)
    return lib


@pytest.mark.parametrize("options", CASES[:8])
def test_compiled_vector_callback(impl, vector_library, options):
    f = CFunction(LowLevelCallable(vector_library.system), outputs=3)
    np.testing.assert_array_equal(f(X3), system(X3))
    assert bits2(impl.jacobian(f, X3, **options)) == bits2(impl.jacobian(system, X3, **options))


def test_compiled_any_m_and_n(impl, vector_library):
    for m, n in ((1, 1), (1, 4), (5, 1), (3, 2)):
        f = CFunction(LowLevelCallable(vector_library.scaled), outputs=m)
        x = [0.5 + i for i in range(n)]
        J = impl.jacobian(f, x)
        assert np.shape(J) == (m, n)
        np.testing.assert_allclose(J, [[(r + 1) * 2 * xi for xi in x] for r in range(m)],
                                   rtol=1e-9)


def test_ctypes_vector_callback_of_python_code(impl):
    @VECTOR
    def callback(n, x, m, out, user_data):
        for r, v in enumerate(system([x[0], x[1], x[2]])):
            out[r] = v
    f = CFunction(LowLevelCallable(callback), outputs=3)
    assert bits2(impl.jacobian(f, X3)) == bits2(impl.jacobian(system, X3))

    @VECTOR
    def fails(n, x, m, out, user_data):
        raise ArithmeticError("in the callback")
    with pytest.raises(ArithmeticError, match="in the callback"):
        impl.jacobian(CFunction(LowLevelCallable(fails), outputs=2), X3)


def test_cfunction_outputs_checked(vector_library):
    callback = LowLevelCallable(vector_library.system)
    with pytest.raises(TypeError, match=r"^callback has the vector signature 'void \(int, double "
                       r"\*, int, double \*, void \*\)': give outputs=m, the number of values "
                       r"it writes$"):
        CFunction(callback)
    with pytest.raises(ValueError, match="^outputs must be a positive int, got 0$"):
        CFunction(callback, outputs=0)
    scalar = LowLevelCallable(ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int,
                                               ctypes.POINTER(ctypes.c_double))(lambda n, x: 0.0))
    with pytest.raises(TypeError, match=r"^outputs is for a vector-valued callback .*got "
                                        r"outputs=2$"):
        CFunction(scalar, outputs=2)
    assert CFunction(callback, outputs=3).outputs == 3 and CFunction(scalar).outputs == 0


def test_vector_objective_is_not_a_gradient_objective(impl, vector_library):
    f = CFunction(LowLevelCallable(vector_library.system), outputs=3)
    with pytest.raises(TypeError, match=r"^f must return a real scalar, got ndarray of "
                                        r"shape \(3,\); a gradient is of a function with one "
                                        r"value: for the derivatives of each of f's values "
                                        r"use jacobian, "):
        impl.gradient(f, X3)
    with pytest.raises(ValueError, match=r"^f must return a 1-D sequence of m >= 1 real numbers, "
                                         r"shape \(m,\), got float"):
        impl.jacobian(fastgrad.objectives.Sphere(), X3)


# -- shapes ------------------------------------------------------------------------

@pytest.mark.parametrize("m,n", [(1, 1), (1, 3), (3, 1), (2, 2)])
@pytest.mark.parametrize("returns", ["list", "array", "tuple"])
def test_shapes(impl, m, n, returns):
    def f(x):
        values = [(r + 1) * sum(float(v) ** 2 for v in x) for r in range(m)]
        return {"list": values, "array": np.array(values), "tuple": tuple(values)}[returns]
    J = impl.jacobian(f, [1.0 + i for i in range(n)])
    assert np.shape(J) == (m, n)
    if is_fast(impl):
        assert isinstance(J, np.ndarray) and J.dtype == np.float64
    np.testing.assert_allclose(J, [[(r + 1) * 2 * (1.0 + i) for i in range(n)]
                                   for r in range(m)], rtol=1e-8)


# -- evaluations: f(x) first, then the stencil without it --------------------------

@pytest.mark.parametrize("options,count", [(dict(), 7), (dict(method="forward"), 4),
                                           (dict(order=4), 13),
                                           (dict(method="backward", order=2), 7),
                                           (dict(bounds=(-5.0, 5.0)), 7),
                                           (dict(h="auto"), 7)])
def test_evaluations(impl, options, count):
    seen = []

    def f(x):
        seen.append(list(x))
        return system(x)
    impl.jacobian(f, X3, **options)
    assert len(seen) == count
    assert seen[0] == X3  # f(x) first: it tells m


def test_f_may_write_to_its_argument(impl):
    x = np.array(X3)

    def f(p):
        value = system(p)
        for i in range(len(p)):
            p[i] = 99.0
        return value
    assert bits2(impl.jacobian(f, x)) == bits2(impl.jacobian(system, X3))
    assert x.tolist() == X3


# -- errors: the same type and message in both -------------------------------------

ERRORS = [
    (lambda x: 1.0, {}, ValueError,
     r"f must return a 1-D sequence of m >= 1 real numbers, shape (m,), got float 1.0"),
    (lambda x: [], {}, ValueError,
     r"f must return a 1-D sequence of m >= 1 real numbers, shape (m,), got shape (0,)"),
    (lambda x: [[1.0, 2.0]], {}, ValueError,
     r"f must return a 1-D sequence of m >= 1 real numbers, shape (m,), got shape (1, 2)"),
    (lambda x: np.ones((2, 2)), {}, ValueError,
     r"f must return a 1-D sequence of m >= 1 real numbers, shape (m,), got shape (2, 2)"),
    (lambda x: [1.0, "a"], {}, TypeError, "f must return real numbers, got str 'a'"),
    (lambda x: [1.0, 2.0] if x[0] == 1.0 else [1.0], {}, ValueError,
     "f must return shape (2,) (m = 2, the length of f(x)), got shape (1,)"),
    (lambda X: [1.0] * len(X), dict(vectorized=True), ValueError,
     "vectorized f must return an array of shape (1, m) with m >= 1, got shape (1,)"),
    (lambda X: [[1.0, 2.0]] * len(X) if len(X) == 1 else [[1.0]] * len(X),
     dict(vectorized=True), ValueError,
     "vectorized f must return an array of shape (4, 2) (m = 2, the length of f(x)), "
     "got shape (4, 1)"),
    (lambda x: x, dict(full_output=True, method="complex"), ValueError,
     "full_output=True is not offered by this function yet (gradient() has it); leave "
     "full_output at its default"),
    (lambda x: x, dict(h=1e-300), ValueError,
     "h[0] = 1e-300 gives no usable step at x[0] = 1.0: the realised step (x[i] + h) - "
     "(x[i] - h) rounds to 0 or is not finite"),
    (lambda x: x, dict(method="sideways"), ValueError,
     "method must be one of 'central', 'forward', 'backward', 'complex', got 'sideways'"),
    ("f", {}, TypeError, "f must be callable, got str 'f'"),
]


@pytest.mark.parametrize("f,options,error,message", ERRORS)
def test_errors(impl, f, options, error, message):
    with pytest.raises(error) as info:
        impl.jacobian(f, [1.0, 2.0], **options)
    assert str(info.value) == message


def test_checks_before_f(impl):
    calls = []

    def f(x):
        calls.append(x)
        return [1.0]
    for x, options in (([1.0, math.nan], {}), ([1.0], dict(h=-1.0)),
                       ([1.0], dict(bounds=(2.0, 3.0))), ([1.0], dict(unpack=1))):
        with pytest.raises((TypeError, ValueError)):
            impl.jacobian(f, x, **options)
    assert calls == []


def test_float32_warns_with_fixed_h(impl):
    with pytest.warns(fastgrad.PrecisionWarning):
        impl.jacobian(lambda x: np.array([x[0] * x[1]], dtype=np.float32), [1.0, 2.0])


# -- the prepared Jacobian -----------------------------------------------------------

def test_prepared_jacobian():
    for options in CASES:
        f = (lambda *p: system(p)) if options.get("unpack") else system
        J = fastgrad.Jacobian(f, **options)
        for x in (X3, [0.5, -1.3, 2.0]):
            assert bits2(J(x)) == bits2(fastgrad.jacobian(f, x, **options))
    with pytest.raises(ValueError, match="^method must be one of"):
        fastgrad.Jacobian(system, method="sideways")
    with pytest.raises(TypeError, match="^f must be callable"):
        fastgrad.Jacobian(3)


# -- derivative -------------------------------------------------------------------

def cubic(t):
    return t * t * t - 2.0 * t


@pytest.mark.parametrize("options", [dict(), dict(method="forward"), dict(order=6),
                                     dict(h="auto"), dict(method="backward", order=4, h=1e-3),
                                     dict(args=())])
def test_derivative_parity(options):
    x = [[0.5, -1.0, 3.0], [2.0, 1e-3, -7.5]]
    d = fastgrad.derivative(cubic, np.array(x), **options)
    assert isinstance(d, np.ndarray) and d.shape == (2, 3)
    r = reference.derivative(cubic, x, **options)
    assert bits2(d) == bits2(r)
    for j, xj in enumerate(np.ravel(x)):  # each element as gradient() gives it
        g = fastgrad.gradient(lambda p: cubic(p[0]), [xj], **options)[0]
        assert float(d.ravel()[j]).hex() == float(g).hex()
    s = fastgrad.derivative(cubic, 2.0, **options)
    assert type(s) is float and s.hex() == reference.derivative(cubic, 2.0, **options).hex()
    np.testing.assert_allclose(d, 3 * np.array(x) ** 2 - 2, rtol=1e-4, atol=1e-4)


def test_derivative_one_call_per_point():
    calls = []

    def f(t):
        calls.append(np.shape(t))
        return np.sin(t)
    d = fastgrad.derivative(f, np.linspace(0, 1, 1000), order=4)
    assert calls == [(1000,)] * 4
    np.testing.assert_allclose(d, np.cos(np.linspace(0, 1, 1000)), rtol=1e-10)


def test_derivative_errors(impl):
    cases = [((cubic, "x"), TypeError, "x must be a real number or an array of them, got str 'x'"),
             ((cubic, [[1.0], [1.0, 2.0]]), ValueError,
              "x must be a regular array, but x[1] has length 2, not 1"),
             ((cubic, [1.0, math.inf]), ValueError, "x must be finite, but x[1] = inf"),
             ((cubic, []), ValueError, "x must not be empty"),
             ((cubic, 1e300), ValueError, None),
             ((cubic, 1.0, "big"), ValueError, 'h must be a positive number or "auto", got \'big\''),
             ((cubic, 1.0, 0.0), ValueError, "h must be positive and finite, got 0.0"),
             ((lambda t: "no", 1.0), TypeError, "f must return a real scalar, got str 'no'")]
    for arguments, error, message in cases:
        with pytest.raises(error) as info:
            impl.derivative(*arguments)
        if message is not None:
            assert str(info.value) == message
    with pytest.raises(ValueError, match=r"^h\[0\] = 1e-05 gives no usable step at x\[0\] = 1e\+300"):
        impl.derivative(cubic, 1e300)


def test_derivative_wrong_shape():
    with pytest.raises(ValueError, match=r"^f must return an array of x's shape \(3,\), got "
                                         r"shape \(\)$"):
        fastgrad.derivative(lambda t: np.sum(t), [1.0, 2.0, 3.0])


# -- check_grad -----------------------------------------------------------------------

def poly(x, c=3.0):
    return float(x[0]) ** 2 * float(x[1]) + c * float(x[0]) * float(x[1]) ** 3


def poly_grad(x, c=3.0):
    x0, x1 = float(x[0]), float(x[1])
    return [2 * x0 * x1 + c * x1 ** 3, x0 ** 2 + 3 * c * x0 * x1 ** 2]


@pytest.mark.parametrize("options", [dict(), dict(h=1e-4, method="forward"),
                                     dict(direction="random", seed=7),
                                     dict(direction="random", seed=7, order=4, h=1e-3),
                                     dict(args=(1.5,))])
def test_check_grad(options):
    value = fastgrad.check_grad(poly, poly_grad, [1.0, 2.0], **options)
    assert type(value) is float
    assert value.hex() == reference.check_grad(poly, poly_grad, [1.0, 2.0], **options).hex()
    assert value < 1e-2
    wrong = fastgrad.check_grad(poly, lambda x, *a: [0.0, 0.0], [1.0, 2.0], **options)
    assert wrong > 1.0


def test_check_grad_all_is_the_norm(impl):
    g = impl.gradient(poly, [1.0, 2.0], "auto")
    expected = math.sqrt((poly_grad([1.0, 2.0])[0] - g[0]) ** 2
                         + (poly_grad([1.0, 2.0])[1] - g[1]) ** 2)
    assert impl.check_grad(poly, poly_grad, [1.0, 2.0]) == expected


def test_check_grad_random_is_reproducible(impl):
    a = impl.check_grad(poly, poly_grad, [1.0, 2.0], direction="random", seed=3)
    assert a == impl.check_grad(poly, poly_grad, [1.0, 2.0], direction="random", seed=3)
    calls = []

    def counted(x):
        calls.append(1)
        return poly(x)
    impl.check_grad(counted, poly_grad, [1.0, 2.0, 4.0][:2], direction="random", seed=3, h=1e-5)
    assert len(calls) == 2  # one central stencil along the direction, whatever n


def test_check_grad_errors(impl):
    for kwargs, error, message in [
            (dict(direction="some"), ValueError, "direction must be 'all' or 'random', got 'some'"),
            (dict(seed=1.5), TypeError, "seed must be an int or None, got float 1.5"),
            (dict(grad=lambda x: [1.0]), ValueError,
             "grad must return n = 2 real numbers (shape (2,)), got shape (1,)"),
            (dict(grad=3), TypeError, "grad must be callable, got int 3")]:
        grad = kwargs.pop("grad", poly_grad)
        with pytest.raises(error) as info:
            impl.check_grad(poly, grad, [1.0, 2.0], **kwargs)
        assert str(info.value) == message


@pytest.mark.parametrize("name", ["jacobian", "derivative", "check_grad", "Jacobian"])
def test_identical_signatures(name):
    import inspect
    assert inspect.signature(getattr(fastgrad, name)) == \
        inspect.signature(getattr(reference, name))


def test_reference_prepared_jacobian():
    J = reference.Jacobian(system, h="auto", method="forward")
    assert bits2(J(X3)) == bits2(fastgrad.Jacobian(system, h="auto", method="forward")(X3))
    with pytest.raises(ValueError, match="^method must be one of"):
        reference.Jacobian(system, method="sideways")


def test_many_outputs_rows_are_gradients(impl):
    # m = 70 > 32: the compiled combine gathers outputs in blocks
    def f(x):
        x0, x1 = float(x[0]), float(x[1])
        return [math.sin((k + 1) * x0) * x1 + k * x1 * x1 for k in range(70)]
    x = [0.4, -0.8]
    for options in (dict(), dict(method="forward", order=3), dict(bounds=([0.4, -1.0], [1.0, -0.8]))):
        J = impl.jacobian(f, x, **options)
        assert np.shape(J) == (70, 2)
        for r in (0, 31, 32, 33, 63, 64, 69):
            assert_bits_equal(J[r], impl.gradient(lambda p, r=r: f(p)[r], x, **options))


def test_reference_needs_no_numpy():
    import sys
    code = ("import sys; sys.modules['numpy'] = None\n"
            "import fastgrad.reference as r\n"
            "print(r.jacobian(lambda p: [p[0] * p[1], p[1]], [1.0, 2.0], h=0.5))\n"
            "print(r.derivative(lambda t: t * t, [[1.0], [2.0]], h=0.5))\n"
            "print(r.check_grad(lambda p: p[0] ** 2, lambda p: [2 * p[0]], [1.0], h=0.5,"
            " direction='random', seed=1))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines() == ["[[2.0, 1.0], [0.0, 1.0]]", "[[2.0], [4.0]]", "0.0"]


# -- hypothesis: parity for random smooth vector functions ----------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def smooth_vector(p, c, a, q):
    p = [float(v) for v in p]
    return [sum(c[r][i] * math.sin(a[r][i] * v) for i, v in enumerate(p)) + q[r] * p[0] * p[-1]
            for r in range(len(c))]


@st.composite
def vector_problems(draw):
    n, m = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    number = st.floats(-3.0, 3.0, allow_nan=False)
    c = [[draw(number) for _ in range(n)] for _ in range(m)]
    a = [[draw(number) for _ in range(n)] for _ in range(m)]
    q = [draw(number) for _ in range(m)]
    x = [draw(st.floats(-4.0, 4.0, allow_nan=False)) for _ in range(n)]
    method = draw(st.sampled_from(["central", "forward", "backward"]))
    order = draw(st.sampled_from([None, 4] if method == "central" else [None, 2, 4]))
    h = draw(st.one_of(st.floats(1e-8, 1e-1), st.just("auto")))
    return x, (c, a, q), dict(method=method, order=order, h=h)


@settings(max_examples=60, deadline=None)
@given(vector_problems())
def test_hypothesis_parity(problem):
    x, args, options = problem
    J = fastgrad.jacobian(smooth_vector, x, args=args, **options)
    assert bits2(J) == bits2(reference.jacobian(smooth_vector, x, args=args, **options))
    for r in range(len(args[0])):
        g = fastgrad.gradient(lambda p, *a, r=r: smooth_vector(p, *a)[r], x, args=args, **options)
        assert_bits_equal(J[r], g, f"row {r}")


def test_derivative_array_errors_match():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, np.inf]])
    for impl in (fastgrad, reference):
        with pytest.raises(ValueError) as info:
            impl.derivative(cubic, x)
        assert str(info.value) == "x must be finite, but x[1][2] = inf"
        with pytest.raises(ValueError) as info:
            impl.derivative(cubic, np.float64(np.nan))
        assert str(info.value) == "x must be finite, got nan"


@pytest.mark.parametrize("f,options", [(lambda x: x, {}), (lambda *p: p, dict(unpack=True)),
                                       (lambda X: X, dict(vectorized=True))])
def test_f_returning_its_argument(impl, f, options):
    # the array f got, handed back: its values are read before it is reused
    J = impl.jacobian(f, [1.0, 2.0, 3.0], h=0.5, **options)
    assert bits2(J) == bits2(np.eye(3))


def test_check_grad_complex_step(impl):
    def f(x):
        return x[0] ** 2 * x[1] + 3 * x[0] * x[1] ** 3
    grad = poly_grad
    for direction in ("all", "random"):
        value = impl.check_grad(f, grad, [1.0, 2.0], method="complex", direction=direction,
                                seed=2)
        assert value < 1e-12
