"""Extension list and compile flags; everything else is in pyproject.toml.

Flags depend on the compiler actually used (GCC/Clang or MSVC), so they are
chosen in build_ext, where the compiler is known (as scikit-learn does).  What
was chosen is written to fastgrad/_build_info.py (generated, not in git), which
fastgrad.show_config() reports.
"""
import os
import subprocess
import sys
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Bounds and wraparound checks stay on, but for the kernels that switch them off
# where their indices are proven in range (the loops work on raw pointers).
# FASTGRAD_DEBUG=1 adds the memoryview initialisation checks.
# FASTGRAD_SANITIZE=1 builds a debug build under AddressSanitizer and
# UndefinedBehaviorSanitizer (GCC/Clang; Python must then run with the ASan
# runtime preloaded: LD_PRELOAD=$(cc -print-file-name=libasan.so), as
# .ci/run's sanitizer stage does).
SANITIZE = os.environ.get("FASTGRAD_SANITIZE", "") not in ("", "0")
DEBUG = SANITIZE or os.environ.get("FASTGRAD_DEBUG", "") not in ("", "0")
SANITIZER_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                   "-fno-sanitize-recover=undefined"]
DIRECTIVES = {
    "language_level": 3,
    "initializedcheck": DEBUG,
    # Every division is by a number checked non-zero first: realised steps,
    # 1 - beta**t with beta < 1, sqrt(v) + eps with eps > 0, counts >= 1.
    "cdivision": True,
}
OPENMP_MODULES = {"fastgrad._batch"}  # gradient_batch's prange
OPENMP_CHECK = "#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n"
BUILD_INFO = "_build_info.py"  # in the package


class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        # Debug and release builds share build/lib*: always compile, never
        # reuse an extension built in the other mode.
        self.force = True
        # The extension modules compile in parallel, one per core, unless -j says.
        if self.parallel is None:
            self.parallel = True

    def build_extensions(self):
        unix = self.compiler.compiler_type != "msvc"
        # No FMA contraction (GCC contracts by default where the CPU has FMA,
        # e.g. aarch64) and no fast-math: the core must round exactly as the
        # pure-Python reference does.
        precise = ["-ffp-contract=off"] if unix else ["/fp:precise"]
        # A release build carries no debug information (-g0 overrides the -g in
        # Python's own CFLAGS): the extension modules shrink about 5x.  A debug
        # build (FASTGRAD_DEBUG=1) keeps it.
        release = ["-g0"] if unix and not DEBUG else []
        # ... and no symbol table, nor the functions nothing calls (the wheel stays
        # under 1 MB with libgomp inside): strip at link, sections collected.
        gnu_ld = release and not SANITIZE and sys.platform.startswith("linux")
        release_compile = ["-ffunction-sections", "-fdata-sections"] if gnu_ld else []
        release_link = ["-s", "-Wl,--gc-sections"] if gnu_ld else []
        if SANITIZE and not unix:
            raise RuntimeError("FASTGRAD_SANITIZE=1 needs GCC or Clang")
        sanitize = SANITIZER_FLAGS if SANITIZE else []
        openmp_compile, openmp_link = self.openmp_flags(unix)
        for ext in self.extensions:
            ext.extra_compile_args += precise + release + release_compile + sanitize
            ext.extra_link_args += release_link + sanitize
            if ext.name in OPENMP_MODULES:
                ext.extra_compile_args += openmp_compile
                ext.extra_link_args += openmp_link
        self.build_info = self.describe_build(unix)
        super().build_extensions()

    def run(self):
        super().run()
        # Into the build directory (and so the wheel); an in-place or editable
        # build (`pip install -e .`) imports the package from the source tree,
        # so it goes there too, beside the extension modules.
        targets = [os.path.join(self.build_lib, "fastgrad", BUILD_INFO)]
        if self.inplace:
            package_dir = self.get_finalized_command("build_py").get_package_dir("fastgrad")
            targets.append(os.path.join(package_dir, BUILD_INFO))
        for target in targets:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as out:
                out.write(self.build_info)

    def describe_build(self, unix):
        """The text of fastgrad/_build_info.py: the compiler and the flags on the
        command lines of gradient_batch's module (the others differ only in
        having no OpenMP flags), as they are passed, nothing guessed."""
        core = next(ext for ext in self.extensions if ext.name in OPENMP_MODULES)
        if unix:
            program, flags = split_command(self.compiler.compiler_so)
            link = split_command(self.compiler.linker_so)[1]
        else:  # MSVC: the compiler is found when it first compiles
            program = [getattr(self.compiler, "cc", "cl.exe")]
            flags = list(getattr(self.compiler, "compile_options", []))
            link = list(getattr(self.compiler, "ldflags_shared", []))
        flags += core.extra_compile_args
        link += core.extra_link_args
        return (
            '"""How the compiled core was built: written by setup.py\'s build_ext."""\n'
            f"compiler = {compiler_version(program)!r}\n"
            f"compile_flags = {flags!r}\n"
            f"link_flags = {link!r}\n"
            f"debug = {DEBUG!r}\n"
        )

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


def split_command(command):
    """(program, options) of a compiler command line: the program is the words
    before the first option ("gcc", "ccache gcc")."""
    command = list(command)
    words = next((i for i, word in enumerate(command) if word.startswith("-")), len(command))
    return command[:words], command[words:]


def compiler_version(program):
    """The first line the compiler prints for --version (GCC, clang) or with no
    arguments (MSVC's cl, on stderr); the command itself if it prints nothing."""
    for args in (["--version"], []):
        try:
            run = subprocess.run(program + args, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            break
        lines = (run.stdout or run.stderr).strip().splitlines()
        if lines:
            return lines[0].strip()
    return " ".join(program)


extensions = [
    Extension(f"fastgrad.{name}", [f"fastgrad/{name}.pyx"],
              include_dirs=[numpy.get_include()],
              define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                             # runs on numpy >= 1.22 (the runtime floor), built with any
                             ("NPY_TARGET_VERSION", "NPY_1_22_API_VERSION")])
    # Largest first: build_ext compiles them in parallel, one per core, and the
    # build ends with its longest compilation.
    for name in ("objectives", "_evaluators", "_batch", "_descent", "_stencil", "_curvature",
                 "_arguments")
]

setup(
    ext_modules=cythonize(
        extensions, compiler_directives=DIRECTIVES,
        # Cython translates the modules in parallel too, one process per core
        # (not on Windows, whose spawned processes would run setup.py again).
        nthreads=0 if sys.platform == "win32" else os.cpu_count() or 1,
        # Generated C per mode, outside the package: a debug build never reuses
        # release C (Cython does not track directives), and no .c reaches a wheel.
        build_dir=os.path.join("build", "cython-debug" if DEBUG else "cython-release")),
    cmdclass={"build_ext": BuildExt},
)
