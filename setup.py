"""Extension list and compile flags; everything else is in pyproject.toml."""
import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

# FASTGRAD_DEBUG=1 turns the checks back on for a debug build.
DEBUG = os.environ.get("FASTGRAD_DEBUG", "") not in ("", "0")
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    # The core divides only by realised steps that it checked are non-zero.
    "cdivision": True,
}

if sys.platform == "win32":
    COMPILE_ARGS = ["/fp:precise"]
else:
    # No FMA contraction (GCC contracts by default where the CPU has FMA, e.g.
    # aarch64): the core must round exactly as the pure-Python reference does.
    # No -ffast-math either, for the same reason.
    COMPILE_ARGS = ["-ffp-contract=off"]

extensions = [
    Extension(f"fastgrad.{name}", [f"fastgrad/{name}.pyx"], extra_compile_args=COMPILE_ARGS)
    for name in ("_core", "_evaluators")
]

setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES))
