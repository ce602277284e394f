"""fastgrad.show_config: what the build and this run really are (numpy's convention)."""
import importlib.machinery
import os
import subprocess
import sys

import numpy as np
import pytest

import fastgrad
import fastgrad._config as config_module

KEYS = ["version", "python", "numpy", "openmp", "max_threads", "extension", "compiler",
        "compile_flags"]


def test_dicts_mode_returns_the_configuration():
    config = fastgrad.show_config(mode="dicts")
    assert list(config) == KEYS
    assert config["version"] == fastgrad.__version__
    assert config["python"] == ".".join(map(str, sys.version_info[:3]))
    assert config["numpy"] == np.__version__
    assert type(config["openmp"]) is bool and type(config["max_threads"]) is int
    assert config["extension"].endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert os.path.dirname(config["extension"]) == os.path.dirname(fastgrad.__file__)


def test_stdout_mode_prints_the_same_lines(capsys):
    assert fastgrad.show_config() is None
    config = fastgrad.show_config(mode="dicts")
    expected = [f"{k}: {' '.join(v) if isinstance(v, list) else v}" for k, v in config.items()]
    assert capsys.readouterr().out.splitlines() == expected
    assert fastgrad.show_config("stdout") is None
    assert capsys.readouterr().out.splitlines() == expected


@pytest.mark.parametrize("mode", ["json", "dict", "", None, 1], ids=repr)
def test_an_unknown_mode_is_a_value_error(mode):
    with pytest.raises(ValueError) as info:
        fastgrad.show_config(mode)
    assert str(info.value) == f"mode must be one of 'stdout', 'dicts', got {mode!r}"


def test_the_build_record_agrees_with_the_build():
    # GCC records its flags in the debug information of a pip build (not stripped):
    # -ffp-contract=off always, -fopenmp exactly when the core has OpenMP.
    # Extensions that are not ELF files (macOS, Windows) record nothing readable.
    config = fastgrad.show_config(mode="dicts")
    if not sys.platform.startswith("linux"):
        assert config["compiler"] is None and config["compile_flags"] is None
        return
    assert config["compiler"] is not None
    if "GCC" in config["compiler"]:
        flags = config["compile_flags"]
        assert flags is not None and "-ffp-contract=off" in flags
        assert ("-fopenmp" in flags) == config["openmp"]


THREADS = """
import fastgrad
config = fastgrad.show_config(mode="dicts")
print(config["openmp"], config["max_threads"])
"""


@pytest.mark.parametrize("threads", ["1", "3"])
def test_max_threads_follows_omp_num_threads(tmp_path, threads):
    env = dict(os.environ, OMP_NUM_THREADS=threads)
    run = subprocess.run([sys.executable, "-c", THREADS], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    openmp, count = run.stdout.split()
    assert int(count) == (int(threads) if openmp == "True" else 1)


C_SOURCE = "double twice(double x) { return 2.0 * x; }\n"


def test_the_build_record_of_a_library_built_here(tmp_path):
    # The reader finds what the compiler wrote, for a library compiled now.
    (tmp_path / "twice.c").write_text(C_SOURCE)
    library = tmp_path / "twice.so"
    subprocess.run(["cc", "-g", "-O1", "-fno-strict-aliasing", "-shared", "-fPIC",
                    str(tmp_path / "twice.c"), "-o", str(library)], check=True)
    compiler, producers = config_module._build_record(str(library))
    version = subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout
    if not sys.platform.startswith("linux"):  # Mach-O: no ELF record
        assert (compiler, producers) == (None, [])
    elif "free software foundation" in version.lower():  # GCC
        assert compiler.startswith("GCC: ")
        assert {"-g", "-O1", "-fno-strict-aliasing"} <= set(config_module._flags(producers))
    else:  # clang records its version; flags only with -grecord-command-line
        assert compiler is not None and "clang" in compiler


def test_a_file_that_is_not_elf_records_nothing(tmp_path):
    (tmp_path / "text.so").write_text("not a shared library")
    assert config_module._build_record(str(tmp_path / "text.so")) == (None, [])
    assert config_module._build_record(str(tmp_path / "missing.so")) == (None, [])
    (tmp_path / "short.so").write_bytes(b"\x7fELF\x02\x01")  # cut off after the header start
    assert config_module._build_record(str(tmp_path / "short.so")) == (None, [])
