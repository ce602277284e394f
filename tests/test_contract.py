"""The pieces the two implementations share: public names and signatures, the stop
codes of the core and their messages, and the documented examples."""
import ast
import doctest
import importlib
import importlib.machinery
import inspect
from pathlib import Path

import pytest

import fastgrad
import fastgrad._api
import fastgrad._descent
import fastgrad._result as result
import fastgrad.reference

PUBLIC = ["gradient", "gradient_batch", "gradient_descent_step", "gradient_descent"]

COMPILED = ["fastgrad._arguments", "fastgrad._evaluators", "fastgrad._stencil",
            "fastgrad._descent", "fastgrad._batch", "fastgrad.objectives", "fastgrad._curvature"]


def test_core_stop_codes_match_result_constants():
    # The C loop reports why a descent stopped through its cpdef enum; _result
    # turns the reason into the message.  Both must mean the same by each number.
    core = {member.name: int(member) for member in fastgrad._descent.Stop}
    assert core == {member.name: int(member) for member in result.Stop}
    assert core["CONVERGED"] == 0 and len(core) == 13


def test_the_core_stub_declares_the_core_stop_codes():
    # _descent.pyi spells the cpdef enum out for type checkers: the same names and numbers.
    stub = ast.parse((Path(fastgrad._descent.__file__).parent / "_descent.pyi").read_text())
    stop, = [node for node in stub.body if isinstance(node, ast.ClassDef) and node.name == "Stop"]
    members = {node.targets[0].id: ast.literal_eval(node.value)
               for node in stop.body if isinstance(node, ast.Assign)}
    assert members == {member.name: int(member) for member in fastgrad._descent.Stop}


def test_stop_codes_are_distinct_and_each_has_a_message():
    codes = [int(member) for member in result.Stop]
    assert len(set(codes)) == len(codes)
    messages = {result.stop_message(code, 3, 0.5, 1e-6, 1, **message_extras())
                for code in codes}
    assert len(messages) == len(codes)  # each rule says which rule it is
    assert set(result.MESSAGES) == set(result.Stop)
    with pytest.raises(ValueError, match="is not a valid Stop"):
        result.stop_message(max(codes) + 1, 3, 0.5, 1e-6)


def message_extras():
    # later stop rules (ftol, line search) take extra details, passed if accepted
    accepted = inspect.signature(result.stop_message).parameters
    extras = dict(ftol=1e-9, max_backtracks=20, max_linesearch=20)
    return {k: v for k, v in extras.items() if k in accepted}


@pytest.mark.parametrize("name,words", [
    ("CONVERGED", ["converged", "after 3 updates"]),
    ("MAX_ITER", ["max_iter", "3 updates"]),
    ("GRADIENT_NOT_FINITE", ["iteration 3", "not finite"]),
    ("STEP_NOT_FINITE", ["iteration 3", "not finite"]),
    ("STEP_LOST", ["iteration 3", "lost in rounding"]),
    ("STENCIL_LOST", ["iteration 3", "x[1]", "h is too small"]),
    ("CALLBACK", ["callback", "3 updates"]),
    ("DIVERGED", ["iteration 3", "diverged", "learning_rate"]),
    ("START_NOT_FINITE", ["iteration 0", "not finite at x0"]),
    ("WOLFE_FAILED", ["iteration 3", "line search", "Wolfe", "last iterate"]),
])
def test_stop_messages_name_the_iteration_and_the_reason(name, words):
    message = result.stop_message(result.Stop[name], 3, 0.5, 1e-6, 1)
    for word in words:
        assert word in message, message


def test_public_names():
    assert set(PUBLIC + ["DescentResult", "__version__"]) <= set(fastgrad.__all__)
    for name in fastgrad.__all__:
        assert hasattr(fastgrad, name)
    # the reference offers the same public names (all but the version)
    assert sorted(fastgrad.reference.__all__) == sorted(set(fastgrad.__all__)
                                                        - {"__version__", "show_config"})
    for name in fastgrad.reference.__all__:
        assert hasattr(fastgrad.reference, name)
    assert isinstance(fastgrad.__version__, str) and fastgrad.__version__


@pytest.mark.parametrize("name", PUBLIC)
def test_identical_signatures(name):
    fast = inspect.signature(getattr(fastgrad, name))
    ref = inspect.signature(getattr(fastgrad.reference, name))
    assert fast == ref
    # the contract's defaults
    params = fast.parameters
    assert params["h"].default == 1e-5
    assert params["method"].default == "central"
    assert params["args"].default == ()
    assert params["unpack"].default is False and params["vectorized"].default is False
    assert params["method"].kind is inspect.Parameter.KEYWORD_ONLY
    if name == "gradient_batch":
        assert params["num_threads"].default is None
        assert params["num_threads"].kind is inspect.Parameter.KEYWORD_ONLY


def test_descent_defaults():
    params = inspect.signature(fastgrad.gradient_descent).parameters
    assert params["learning_rate"].default == 0.1
    assert params["max_iter"].default == 1000
    assert params["tol"].default == 1e-6
    assert params["callback"].default is None and params["record"].default is False


def test_the_core_is_compiled():
    # The installed package runs the Cython core, not a Python stand-in.
    for name in COMPILED:
        module = importlib.import_module(name)
        assert any(module.__file__.endswith(s) for s in importlib.machinery.EXTENSION_SUFFIXES)


def test_reference_uses_the_standard_library_only():
    source = inspect.getsource(fastgrad.reference)
    assert "import numpy" not in source and "from numpy" not in source


def test_api_docstring_examples():
    outcome = doctest.testmod(fastgrad._api, verbose=False, report=True)
    assert outcome.attempted >= 3
    assert outcome.failed == 0


def test_hessian_docstring_examples():
    import fastgrad._hessian
    outcome = doctest.testmod(fastgrad._hessian, verbose=False, report=True)
    assert outcome.attempted >= 6
    assert outcome.failed == 0


REFERENCE_ALONE = """
import sys
sys.modules["numpy"] = None  # as if numpy were not installed
for name in ("fastgrad._arguments", "fastgrad._evaluators", "fastgrad._stencil",
             "fastgrad._descent", "fastgrad._batch", "fastgrad.objectives",
             "fastgrad._curvature"):
    sys.modules[name] = None  # nor the compiled core
import fastgrad.reference as ref
g = ref.gradient(lambda x, y: x**2 + y**2, [1.0, -1.0], unpack=True)
r = ref.gradient_descent(lambda x, y: x**2 + y**2, [1.0, -1.0], unpack=True, optimizer="adam")
assert [round(v, 6) for v in g] == [2.0, -2.0] and r.converged, (g, r)
H = ref.hessian(lambda x, y: x**2 * y, [1.0, 2.0], unpack=True)
assert [[round(v, 6) for v in row] for row in H] == [[4.0, 2.0], [2.0, 0.0]], H
"""


def test_the_reference_needs_neither_numpy_nor_the_compiled_core(tmp_path):
    import subprocess
    import sys
    run = subprocess.run([sys.executable, "-c", REFERENCE_ALONE], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
