"""Extension list and compile flags; everything else is in pyproject.toml."""
import os
import subprocess
import sys
import sysconfig
import tempfile

import numpy
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
    OPENMP_ARGS = (["/openmp"], [])
else:
    # No FMA contraction (GCC contracts by default where the CPU has FMA, e.g.
    # aarch64): the core must round exactly as the pure-Python reference does.
    # No -ffast-math either, for the same reason.
    COMPILE_ARGS = ["-ffp-contract=off"]
    OPENMP_ARGS = (["-fopenmp"], ["-fopenmp"])


def openmp_flags():
    """(compile, link) flags for OpenMP, or ([], []) where the compiler lacks it.

    FASTGRAD_OPENMP=0 builds without it.  Whether a build has it is
    fastgrad._core.OPENMP, so a serial build never goes unnoticed.
    """
    if os.environ.get("FASTGRAD_OPENMP", "1") == "0":
        return [], []
    if sys.platform == "win32":
        return OPENMP_ARGS  # MSVC always has /openmp
    compiler = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "check.c")
        with open(source, "w") as f:
            f.write("#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n")
        command = compiler.split() + OPENMP_ARGS[0] + [source, "-o", os.path.join(tmp, "check")]
        command += OPENMP_ARGS[1]
        try:
            ok = subprocess.run(command, capture_output=True).returncode == 0
        except OSError:
            ok = False
    if not ok:
        print("fastgrad: the compiler does not accept -fopenmp; gradient_batch will run serially")
        return [], []
    return OPENMP_ARGS


OPENMP_COMPILE, OPENMP_LINK = openmp_flags()


def extension(name, openmp=False):
    return Extension(
        f"fastgrad.{name}", [f"fastgrad/{name}.pyx"],
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=COMPILE_ARGS + (OPENMP_COMPILE if openmp else []),
        extra_link_args=OPENMP_LINK if openmp else [])


extensions = [extension("_core", openmp=True), extension("_evaluators"), extension("objectives")]

setup(ext_modules=cythonize(extensions, compiler_directives=DIRECTIVES))
