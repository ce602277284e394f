"""fastgrad: fast finite-difference gradients and gradient descent, with a Cython core.

``fastgrad.reference`` offers the same functions in pure Python.
"""
import os as _os
import sys as _sys

from ._accuracy import GradientResult, HessianResult, JacobianResult
from ._contract import PrecisionWarning
from ._optimizers import LBFGS, SGD, Adam, Armijo, Momentum
from ._result import DescentResult, DescentState, IntermediateResult

__version__ = "0.1.0"

__all__ = ["gradient", "gradient_batch", "gradient_descent_step", "gradient_descent",
           "hessian", "hessian_vector", "Hessian", "HessianResult", "Gradient",
           "DescentResult", "DescentState", "IntermediateResult", "GradientResult",
           "SGD", "Momentum", "Adam", "Armijo", "LBFGS", "PrecisionWarning",
           "jacobian", "derivative", "check_grad", "Jacobian", "JacobianResult",
           "show_config", "__version__"]

# Loaded on first use, so that `import fastgrad.reference` needs neither numpy nor
# the compiled core (it is standard library only).  Type checkers read the real
# signatures from __init__.pyi.
_LAZY = {"gradient": "_api", "gradient_batch": "_api", "gradient_descent_step": "_api",
         "gradient_descent": "_api", "show_config": "_config", "jacobian": "_jacobian",
         "derivative": "_jacobian", "check_grad": "_jacobian", "Jacobian": "_jacobian",
         "hessian": "_hessian", "hessian_vector": "_hessian", "Hessian": "_hessian",
         "Gradient": "_api"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        for public, home in _LAZY.items():
            if home == _LAZY[name]:
                globals()[public] = getattr(module, public)  # later lookups skip this function
        return globals()[name]
    raise AttributeError(f"module 'fastgrad' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


# -- a compiled module that is not there ----------------------------------------
# The last finder on sys.meta_path is asked only for a module that no other finder
# found, so it costs nothing while the core is built.  For one of fastgrad's
# compiled modules (a .pyx beside this file) it raises an ImportError that says
# why and what to do, in place of Python's "cannot import name '_batch' from
# 'fastgrad'" -- typically Python started in the repository, whose unbuilt
# fastgrad/ shadows the installed package.  (A plain ImportError: a
# ModuleNotFoundError for the module itself would be swallowed by `from . import`.)

_HERE = _os.path.dirname(_os.path.abspath(__file__))


#: What `pip install --no-build-isolation` needs first: pyproject.toml's [build-system].
_BUILD_REQUIRES = ["setuptools>=77", "Cython>=3.0.8", "numpy>=2.0"]


def _unbuilt_message(name):
    """Why fastgrad's compiled module `name` cannot be imported, and the fixes."""
    from importlib.machinery import EXTENSION_SUFFIXES
    file = name.rpartition(".")[2] + EXTENSION_SUFFIXES[0]
    root = _os.path.dirname(_HERE)
    if not (_os.path.isfile(_os.path.join(root, "setup.py")) and
            _os.path.isfile(_os.path.join(root, "pyproject.toml"))):
        return (f"fastgrad's compiled core is missing from this installation (no {file} "
                f"in {_HERE}) for this Python; reinstall it: "
                "pip install --force-reinstall fastgrad")
    requires = " ".join(f'"{requirement}"' for requirement in _BUILD_REQUIRES)
    return (f"fastgrad's compiled core is not built here: fastgrad was imported from its "
            f"source tree {root}, which has no fastgrad/{file}. Either\n"
            "  - install fastgrad (`pip install .`) and run Python outside the source "
            "tree, or with `python -I` (which keeps the current directory off sys.path), or\n"
            f"  - build it in place for development: `pip install {requires}`, then "
            "`pip install --no-build-isolation -e .`\n"
            "fastgrad.reference (pure Python) needs no compiled core.")


class _UnbuiltCoreFinder:
    """Raises the ImportError of _unbuilt_message for fastgrad's compiled modules."""

    fastgrad_unbuilt_core = True  # how a reloaded fastgrad recognises the old one

    @staticmethod
    def find_spec(name, path=None, target=None):
        package, _, module = name.rpartition(".")
        if package == __name__ and _os.path.isfile(_os.path.join(_HERE, module + ".pyx")):
            raise ImportError(_unbuilt_message(name), name=name)
        return None


_sys.meta_path[:] = [finder for finder in _sys.meta_path
                    if not getattr(finder, "fastgrad_unbuilt_core", False)]
_sys.meta_path.append(_UnbuiltCoreFinder())
