"""Extension list and compile flags; everything else is in pyproject.toml.

Flags depend on the compiler actually used (GCC/Clang or MSVC), so they are
chosen in build_ext, where the compiler is known (as scikit-learn does).
"""
import os
import sys
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Bounds and wraparound checks stay on, but for the kernels that switch them off
# where their indices are proven in range (the loops work on raw pointers).
# FASTGRAD_DEBUG=1 adds the memoryview initialisation checks.
DEBUG = os.environ.get("FASTGRAD_DEBUG", "") not in ("", "0")
DIRECTIVES = {
    "language_level": 3,
    "initializedcheck": DEBUG,
    # Every division is by a number checked non-zero first: realised steps,
    # 1 - beta**t with beta < 1, sqrt(v) + eps with eps > 0, counts >= 1.
    "cdivision": True,
}
OPENMP_MODULES = {"fastgrad._batch"}  # gradient_batch's prange
OPENMP_CHECK = "#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n"


class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        # Debug and release builds share build/lib*: always compile, never
        # reuse an extension built in the other mode.
        self.force = True

    def build_extensions(self):
        unix = self.compiler.compiler_type != "msvc"
        # No FMA contraction (GCC contracts by default where the CPU has FMA,
        # e.g. aarch64) and no fast-math: the core must round exactly as the
        # pure-Python reference does.
        precise = ["-ffp-contract=off"] if unix else ["/fp:precise"]
        openmp_compile, openmp_link = self.openmp_flags(unix)
        for ext in self.extensions:
            ext.extra_compile_args += precise
            if ext.name in OPENMP_MODULES:
                ext.extra_compile_args += openmp_compile
                ext.extra_link_args += openmp_link
        super().build_extensions()

    def openmp_flags(self, unix):
        """(compile, link) flags for OpenMP, or ([], []): gradient_batch then runs serially.

        FASTGRAD_OPENMP=0 builds without it; FASTGRAD_OPENMP_CFLAGS and
        FASTGRAD_OPENMP_LDFLAGS give the flags outright.  Whether a build has
        OpenMP is fastgrad._batch.OPENMP, so a serial build never goes unnoticed.
        """
        if os.environ.get("FASTGRAD_OPENMP", "1") == "0":
            return [], []
        if "FASTGRAD_OPENMP_CFLAGS" in os.environ:
            return (os.environ["FASTGRAD_OPENMP_CFLAGS"].split(),
                    os.environ.get("FASTGRAD_OPENMP_LDFLAGS", "").split())
        if not unix:
            candidates = [(["/openmp"], [])]
        else:
            candidates = [(["-fopenmp"], ["-fopenmp"])]
            if sys.platform == "darwin":  # Apple clang with libomp (e.g. from Homebrew)
                candidates.append((["-Xpreprocessor", "-fopenmp"], ["-lomp"]))
        for flags in candidates:
            if self.compiles(*flags):
                return flags
        print("fastgrad: no OpenMP with this compiler; gradient_batch will run serially")
        return [], []

    def compiles(self, compile_flags, link_flags):
        """Whether a small OpenMP program compiles and links with these flags."""
        here = os.getcwd()
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)
            try:
                with open("check.c", "w") as f:
                    f.write(OPENMP_CHECK)
                objects = self.compiler.compile(["check.c"], extra_postargs=compile_flags)
                self.compiler.link_executable(objects, "check", extra_postargs=link_flags)
                return True
            except Exception:  # CompileError, LinkError: no OpenMP with these flags
                return False
            finally:
                os.chdir(here)


extensions = [
    Extension(f"fastgrad.{name}", [f"fastgrad/{name}.pyx"],
              include_dirs=[numpy.get_include()],
              define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                             # runs on numpy >= 1.22 (the runtime floor), built with any
                             ("NPY_TARGET_VERSION", "NPY_1_22_API_VERSION")])
    for name in ("_arguments", "_evaluators", "_stencil", "_descent", "_batch", "objectives")
]

setup(
    ext_modules=cythonize(
        extensions, compiler_directives=DIRECTIVES,
        # Generated C per mode, outside the package: a debug build never reuses
        # release C (Cython does not track directives), and no .c reaches a wheel.
        build_dir=os.path.join("build", "cython-debug" if DEBUG else "cython-release")),
    cmdclass={"build_ext": BuildExt},
)
