"""Python started in an unbuilt source tree: fastgrad/ there has no compiled modules.

Each test copies the installed package's Python and Cython sources (not its
extension modules) into a temporary tree laid out as the repository is, and runs
Python there, where ``python -c`` and ``python -m`` import that copy first.  (An
editable install's import hook would find its own fastgrad first, wherever
Python starts: the tests run Python without it.)
"""
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import fastgrad

REPOSITORY = Path(__file__).resolve().parents[1]
PACKAGE = Path(fastgrad.__file__).parent
SUFFIX = EXTENSION_SUFFIXES[0]


def source_tree(root, project_files=True):
    """A copy of the package without its extension modules (and build record) in root/fastgrad;
    with the repository's setup.py and pyproject.toml beside it if project_files."""
    (root / "fastgrad").mkdir(parents=True)
    for path in PACKAGE.iterdir():
        if path.suffix in (".py", ".pyx", ".pxd", ".pyi") and path.name != "_build_info.py":
            shutil.copy(path, root / "fastgrad" / path.name)
    if project_files:
        for name in ("setup.py", "pyproject.toml"):
            shutil.copy(REPOSITORY / name, root / name)
    return root


def python(root, *args):
    """Python run in root, which comes first on its sys.path; without the site
    module, so that no .pth file (an editable install's import hook) runs, and
    with site-packages on PYTHONPATH, after root, for numpy."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONSAFEPATH", "PYTHONSTARTUP")}
    paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return subprocess.run([sys.executable, "-S", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def unbuilt(root, module):
    return (
        f"ImportError: fastgrad's compiled core is not built here: fastgrad was imported "
        f"from its source tree {root}, which has no fastgrad/{module}{SUFFIX}. Either\n"
        "  - install fastgrad (`pip install .`) and run Python outside the source tree, "
        "or with `python -I` (which keeps the current directory off sys.path), or\n"
        '  - build it in place for development: `pip install "setuptools>=77" '
        '"Cython>=3.0.8" "numpy>=2.0"`, then `pip install --no-build-isolation -e .`\n'
        "fastgrad.reference (pure Python) needs no compiled core.\n")


@pytest.mark.parametrize("args, module", [
    (["-c", "import fastgrad; fastgrad.gradient(lambda x: x[0] ** 2, [1.0])"], "_arguments"),
    (["-c", "from fastgrad import gradient_descent"], "_arguments"),
    (["-c", "import fastgrad._api"], "_arguments"),
    (["-c", "from fastgrad.objectives import Rosenbrock"], "objectives"),
    (["-c", "import fastgrad; fastgrad.show_config()"], "_batch"),
    (["-m", "fastgrad", "--quick"], "objectives"),
], ids=["gradient", "from-import", "_api", "objectives", "show_config", "main-job"])
def test_the_compiled_core_missing_is_an_import_error_naming_the_fixes(tmp_path, args, module):
    root = source_tree(tmp_path / "repository")
    run = python(root, *args)
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.endswith(unbuilt(root, module)), run.stderr
    assert "cannot import name" not in run.stderr  # Python's own message, not ours


def test_the_reference_needs_no_compiled_core(tmp_path):
    root = source_tree(tmp_path / "repository")
    code = ("import sys, fastgrad, fastgrad.reference as r\n"
            "print(r.gradient(lambda x, y: x * x + 3 * y, [1.0, 2.0], h=0.5, unpack=True))\n"
            "print(fastgrad.__file__)\n"
            "print(sorted(m for m in sys.modules if m.startswith(('fastgrad.', 'numpy'))))\n")
    run = python(root, "-c", code)
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines() == [
        "[2.0, 3.0]",
        str(root / "fastgrad" / "__init__.py"),
        "['fastgrad._accuracy', 'fastgrad._complex', 'fastgrad._contract', "
        "'fastgrad._optimizers', 'fastgrad._prepared', 'fastgrad._progress', "
        "'fastgrad._result', "
        "'fastgrad._stencils', 'fastgrad._workers', 'fastgrad.reference']"]


def test_an_installation_missing_its_core_says_reinstall(tmp_path):
    # No setup.py and pyproject.toml beside the package: not a source tree.
    root = source_tree(tmp_path / "site-packages", project_files=False)
    run = python(root, "-c", "import fastgrad; fastgrad.gradient(abs, [1.0])")
    assert run.returncode == 1
    assert run.stderr.endswith(
        "ImportError: fastgrad's compiled core is missing from this installation (no "
        f"_arguments{SUFFIX} in {root / 'fastgrad'}) for this Python; reinstall it: "
        "pip install --force-reinstall fastgrad\n"), run.stderr


def test_a_module_that_does_not_exist_is_the_usual_error(tmp_path):
    # Only fastgrad's compiled modules (a .pyx in the package) get the message.
    root = source_tree(tmp_path / "repository")
    run = python(root, "-c", "import fastgrad.nonexistent")
    assert run.returncode == 1
    assert run.stderr.endswith(
        "ModuleNotFoundError: No module named 'fastgrad.nonexistent'\n"), run.stderr


def test_the_message_names_the_build_requirements_of_pyproject_toml():
    text = (REPOSITORY / "pyproject.toml").read_text()
    requires = re.search(r"^\[build-system\]\nrequires = \[(.*)\]$", text, re.M).group(1)
    assert [item.strip().strip('"') for item in requires.split(",")] == \
        fastgrad._BUILD_REQUIRES


def test_the_finder_is_registered_once_and_answers_only_for_compiled_modules(tmp_path):
    code = ("import importlib, sys, fastgrad\n"
            "importlib.reload(fastgrad)\n"
            "finders = [f for f in sys.meta_path if getattr(f, 'fastgrad_unbuilt_core', 0)]\n"
            "print(len(finders), finders[0] is sys.meta_path[-1])\n"
            "print(finders[0].find_spec('numpy.nothing'), "
            "finders[0].find_spec('fastgrad.nothing'))\n")
    run = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)  # the installed fastgrad
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines() == ["1 True", "None None"]
