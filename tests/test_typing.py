"""Type checkers see fastgrad's real signatures: py.typed, __init__.pyi and
objectives.pyi are installed, ``mypy --strict`` passes on a user script
(tests/typing/user_script.py) and reveals the real types, flags misuse, and the
stubs say what the functions take at run time."""
import ast
import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastgrad
import fastgrad.objectives
import fastgrad.reference

SCRIPT = Path(__file__).parent / "typing" / "user_script.py"
PACKAGE = Path(fastgrad.__file__).parent


def mypy(directory, cache, *files):
    """mypy --strict on files in directory (away from the checkout, so that the
    installed package, not the source tree, is what mypy reads)."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), *files],
        cwd=directory, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory):
    """One mypy cache for the module's runs: the first fills it with numpy's and
    fastgrad's stubs (~3 s), the next reads them (~0.3 s).  mypy checks each
    cached module against its source, so a warm cache gives the same messages."""
    return tmp_path_factory.mktemp("mypy_cache")


@pytest.fixture(scope="module")
def checked(tmp_path_factory, mypy_cache):
    directory = tmp_path_factory.mktemp("typing")
    shutil.copy(SCRIPT, directory / SCRIPT.name)
    return mypy(directory, mypy_cache, SCRIPT.name)


def revealed(run):
    return re.findall(r'note: Revealed type is "(.*)"', run.stdout)


def test_the_stubs_and_marker_are_installed():
    for name in ("py.typed", "__init__.pyi", "objectives.pyi"):
        assert (PACKAGE / name).is_file(), name


def test_mypy_strict_passes_on_a_user_script(checked):
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.splitlines()[-1] == "Success: no issues found in 1 source file"
    assert " error: " not in checked.stdout


def test_mypy_reveals_the_real_signature_of_gradient(checked):
    revealed_gradient = revealed(checked)[0]
    # two overloads: the array, and with full_output=True a GradientResult
    assert revealed_gradient.startswith("Overload(def (f: ")
    assert re.search(r"full_output: Literal\[True\], workers: .* =\) -> "
                     r"fastgrad\._accuracy\.GradientResult\)$", revealed_gradient)
    gradient = revealed_gradient[len("Overload("):revealed_gradient.index(", def (f: ")]
    # the parameters in order, method and after keyword-only
    names = re.findall(r"(?:^def \(|, )(\*, )?(\w+): ", gradient)
    assert [name for _, name in names] == ["f", "x", "h", "method", "order", "bounds", "args",
                                          "unpack", "vectorized", "full_output", "workers"]
    assert [star for star, _ in names].index("*, ") == 3
    assert "method: Literal['central'] | Literal['forward'] | Literal['backward'] | Literal['complex'] =" in gradient
    assert ("args: tuple[Any, ...] =, unpack: bool =, vectorized: bool =, "
            "full_output: Literal[False] =, workers: ") in gradient
    assert re.search(r"\) -> numpy\.ndarray\[.*numpy\.dtype\[numpy\.float64\]\]$", gradient)
    assert "Any, x:" not in gradient  # f is not Any (which would accept anything)


def test_mypy_reveals_the_descent_options_and_results(checked):
    descent, batch, config, matrix = revealed(checked)[1:]
    assert ("optimizer: None | Literal['sgd'] | Literal['momentum'] | Literal['nesterov'] | "
            "Literal['adam'] | Literal['armijo'] | Literal['lbfgs'] | fastgrad._optimizers.SGD | "
            "fastgrad._optimizers.Momentum | fastgrad._optimizers.Adam | "
            "fastgrad._optimizers.Armijo | fastgrad._optimizers.LBFGS =") in descent
    assert "max_iter: int =, tol: float =, ftol: float | None =" in descent
    assert re.search(r"callback: None \| \(def \(numpy\.ndarray\[.*float64\]\]\) -> "
                     r"(builtins\.)?object\) \| \(def \(fastgrad\.[\w.]*IntermediateResult\) -> "
                     r"(builtins\.)?object\) =, record: bool =, state: fastgrad\.[\w.]*DescentState "
                     r"\| None =, progress: bool =, workers: .* =\) -> "
                     r"fastgrad\.[\w.]*DescentResult$", descent)
    for array in (batch, matrix):
        assert re.fullmatch(r"numpy\.ndarray\[.*numpy\.dtype\[numpy\.float64\]\]", array)
    assert re.fullmatch(r"(builtins\.)?dict\[(builtins\.)?str, Any\]", config)  # mypy versions differ


MISUSE = '''
import fastgrad
from fastgrad.objectives import Quadratic

def f(x: object) -> float:
    return 0.0

fastgrad.gradient(f, [1.0], method="centre")
fastgrad.gradient_descent(f, [1.0], optimizer="rmsprop")
fastgrad.gradient(f, [1.0], 1e-5, "central")
fastgrad.gradient_batch(f, [[1.0]], num_threads="all")
fastgrad.gradient(3, [1.0])
fastgrad.Adam(eps="1e-8")
Quadratic([[1.0]], [0.0], c="2")
text: str = fastgrad.gradient(f, [1.0])
fastgrad.show_config(mode="json")
'''


def test_mypy_flags_misuse(tmp_path, mypy_cache):
    (tmp_path / "misuse.py").write_text(MISUSE)
    run = mypy(tmp_path, mypy_cache, "misuse.py")
    assert run.returncode == 1
    lines = {int(line.split(":")[1]) for line in run.stdout.splitlines() if ": error: " in line}
    assert lines == set(range(8, 17)), run.stdout  # every call after the definitions


# -- the stubs against the functions -------------------------------------------------

def stub_functions(path):
    """Each stub function by name; of overloads the first (which has every default)."""
    tree = ast.parse(path.read_text())
    functions = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            functions.setdefault(node.name, node)
    return functions


def stub_parameters(node):
    """(name, kind, default) of a stub's parameters, as inspect names them."""
    a = node.args
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + a.defaults
    out = [(p.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, d) for p, d in zip(positional, defaults)]
    out += [(p.arg, inspect.Parameter.KEYWORD_ONLY, d) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    return [(name, kind, inspect.Parameter.empty if d is None else ast.literal_eval(d))
            for name, kind, d in out]


@pytest.mark.parametrize("module", [fastgrad, fastgrad.reference], ids=lambda m: m.__name__)
@pytest.mark.parametrize("name", ["gradient", "gradient_batch", "gradient_descent_step",
                                  "gradient_descent", "hessian", "hessian_vector"])
def test_the_stub_signatures_are_the_functions(module, name):
    stub = stub_parameters(stub_functions(PACKAGE / "__init__.pyi")[name])
    actual = [(p.name, p.kind, p.default)
              for p in inspect.signature(getattr(module, name)).parameters.values()]
    assert stub == actual


def test_the_stubs_export_what_the_modules_export():
    for module, stub in ((fastgrad, "__init__.pyi"), (fastgrad.objectives, "objectives.pyi")):
        tree = ast.parse((PACKAGE / stub).read_text())
        exported = next(ast.literal_eval(node.value) for node in tree.body
                        if isinstance(node, ast.Assign) and node.targets[0].id == "__all__")
        assert exported == module.__all__
        declared = {node.name for node in tree.body
                    if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        imported = {alias.asname for node in tree.body if isinstance(node, ast.ImportFrom)
                    for alias in node.names}
        assert set(module.__all__) - {"__version__"} <= declared | imported
        for name in module.__all__:
            assert hasattr(module, name)


# -- the user script runs --------------------------------------------------------------

def test_the_user_script_runs(tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPT)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "[ 2. 20.] [2. 4.] (2, 2) [ 0.9 -0. ]"
    assert lines[2].startswith("2.5 2 ") and lines[2].endswith(" " + fastgrad.__version__)
    assert lines[3] == f"version: {fastgrad.__version__}"
    # fastgrad.Gradient, and with full_output; Jacobian's JacobianResult (5 + 5 for the
    # estimate), Jacobian, Hessian, hessian_vector and Gradient with workers=map
    assert lines[-2] == "[ 2. 20.] 9 10 (1, 1) (2, 2) (2,) (2,)"
    assert lines[-1] == "(2, 2) (1, 1) 6.0 [2. 4.] True 11.0 (2,) (2,)"


LAZY = """
import sys
import fastgrad
assert "fastgrad._batch" not in sys.modules and "numpy" not in sys.modules
show = fastgrad.show_config
assert "fastgrad._batch" not in sys.modules and "numpy" not in sys.modules
print(sorted(show(mode="dicts")))
assert "fastgrad._batch" in sys.modules
"""


def test_import_stays_lazy_and_show_config_loads_the_core_when_called(tmp_path):
    run = subprocess.run([sys.executable, "-c", LAZY], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ("['compile_flags', 'compiler', 'extension', 'max_threads', 'numpy', "
                          "'openmp', 'python', 'version']\n")
