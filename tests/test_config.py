"""fastgrad.show_config: what the build and this run really are (numpy's convention)."""
import importlib.machinery
import os
import shlex
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

import fastgrad

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


def _recorded():
    from fastgrad import _build_info
    return _build_info


def test_the_build_record_is_what_setup_py_recorded():
    # setup.py's build_ext writes fastgrad/_build_info.py beside the extension
    # modules: -ffp-contract=off always, -fopenmp exactly when the core has
    # OpenMP, -g0 in a release build.
    config = fastgrad.show_config(mode="dicts")
    record = _recorded()
    assert config["compiler"] == record.compiler
    assert config["compile_flags"] == record.compile_flags
    flags = config["compile_flags"]
    assert "-ffp-contract=off" in flags
    assert ("-fopenmp" in flags) == config["openmp"]
    assert ("-g0" in flags) == (not record.debug)
    assert ("-fopenmp" in record.link_flags) == config["openmp"]


def _compiler_command():
    """The compiler setuptools builds with here: $CC, else Python's own CC."""
    words = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC"))
    return words[:next(i for i, word in enumerate(words + ["-"]) if word.startswith("-"))]


def test_the_recorded_compiler_is_the_one_that_built_the_core():
    version = subprocess.run(_compiler_command() + ["--version"], capture_output=True,
                             text=True, timeout=60, check=True).stdout.splitlines()[0]
    assert fastgrad.show_config(mode="dicts")["compiler"] == version.strip()


def test_the_recorded_flags_are_the_ones_the_core_was_compiled_with():
    # A release build has no debug information in its extension modules: the
    # last -g option on the command line decides (-g0 after Python's -g).
    record = _recorded()
    debug_options = [flag for flag in record.compile_flags
                     if flag.startswith("-g") and not flag.startswith("-grecord")]
    has_debug_info = bool(debug_options) and debug_options[-1] != "-g0"
    directory = os.path.dirname(fastgrad.__file__)
    modules = [name for name in os.listdir(directory)
               if name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))]
    assert os.path.basename(fastgrad.show_config(mode="dicts")["extension"]) in modules
    for name in modules:
        with open(os.path.join(directory, name), "rb") as file:
            assert (b".debug_info" in file.read()) == has_debug_info, name


def test_a_core_built_without_the_record_shows_none(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "fastgrad._build_info", None)  # import fails
    monkeypatch.delattr(fastgrad, "_build_info", raising=False)
    config = fastgrad.show_config(mode="dicts")
    assert (config["compiler"], config["compile_flags"]) == (None, None)
    fastgrad.show_config()
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == ["compiler: None", "compile_flags: None"]


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
