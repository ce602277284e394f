"""``python -m fastgrad``: the main job's timing table, and the demo's command line.

Each test runs the installed package in a child process (``-I``, from a temporary
directory: the source tree is not on sys.path).
"""
import ctypes
import errno
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fastgrad._timing import table

PROG = "python -m fastgrad"
CASES = ["gradient, f(x, y) unpack=True, n=2",
         "gradient, rosen(x), n=100",
         "gradient, rosen(*x) unpack=True, n=100",
         "gradient, objectives.Rosenbrock(), n=100",
         "gradient_descent, 2-D Rosenbrock, 2000 its"]
THREE_DIGITS = r"(\d{3,}|\d\d\.\d|\d\.\d\d)"  # fmt_time and fmt_ratio: 694, 15.5, 2.91
PICTURES = ["quadratic.png", "rosenbrock.png", "himmelblau.png", "himmelblau_field.png"]


def run(args, cwd, **options):
    return subprocess.run([sys.executable, "-I", "-m", "fastgrad", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, **options)


def test_quick_run_prints_the_timing_table_of_the_shared_formatter(tmp_path):
    done = run(["--quick"], tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"fastgrad \S+ \(OpenMP: (no|yes, 1 thread|yes, \d+ threads)\)",
                        lines[0])
    assert done.stdout.count("bit-identical to fastgrad.reference: yes") == 2
    top = lines.index("Timing: fastgrad vs fastgrad.reference "
                      "(median per call of 5 interleaved repeats)")
    block = lines[top + 1:top + 3 + len(CASES)]  # header, rule, one row per case
    cells = [[cell.strip() for cell in line.strip()[1:-1].split("|")] for line in block]
    header, rows = cells[0], cells[2:]
    assert header == ["case", "fastgrad", "reference", "speed-up"]
    assert [row[0] for row in rows] == CASES
    for _, fast, slow, ratio in rows:
        assert re.fullmatch(THREE_DIGITS + " (s|ms|µs|ns)", fast)
        assert re.fullmatch(THREE_DIGITS + " (s|ms|µs|ns)", slow)
        assert re.fullmatch(THREE_DIGITS + "×", ratio)
    # Laid out by the formatter benchmarks/ uses, indented under its title.
    assert block == textwrap.indent(table(header, rows, "lrrr"), "  ").splitlines()
    assert lines[top + 3 + len(CASES)] == \
        "  speed-up: reference time / fastgrad time, repeat by repeat, median."
    assert re.fullmatch(r"total \d+\.\d s", lines[-1])


def _no_root_override():
    """Run in the child before exec: root loses its power to ignore file permissions.

    Dropping CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set
    (PR_CAPBSET_DROP) leaves the exec'd Python without them (Linux).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def run_unprivileged(args, cwd):
    """run(), where file permissions bind the child even when the tests run as root."""
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    return run(args, cwd, preexec_fn=_no_root_override if as_root else None)


@pytest.mark.parametrize("out, why", [
    ("a-file", errno.ENOTDIR),
    ("a-file/pictures", errno.ENOTDIR),
    ("read-only", errno.EACCES),
    ("read-only/pictures", errno.EACCES),
])
def test_demo_out_unusable_is_a_one_line_error(tmp_path, out, why):
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "read-only").mkdir()
    (tmp_path / "read-only").chmod(0o555)
    try:
        done = run_unprivileged(["demo", "--out", out], tmp_path)
    finally:
        (tmp_path / "read-only").chmod(0o755)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == \
        f"{PROG} demo: error: cannot write to --out {out!r}: {os.strerror(why)}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "read-only"]
    assert (tmp_path / "a-file").read_text() == "not a directory"
    assert list((tmp_path / "read-only").iterdir()) == []


def test_demo_creates_missing_parents(tmp_path):
    done = run(["demo", "--out", "new/pictures"], tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [f"wrote {Path('new/pictures') / name}"
                                        for name in PICTURES]
    for name in PICTURES:
        assert (tmp_path / "new" / "pictures" / name).read_bytes().startswith(b"\x89PNG")


def test_demo_without_matplotlib_is_a_one_line_error(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None  # import matplotlib fails\n"
            "from fastgrad.__main__ import main; sys.exit(main(['demo', '--out', 'pictures']))")
    done = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (f"{PROG} demo: error: fastgrad.plot needs matplotlib: "
                           "pip install 'fastgrad[plot]'\n")


@pytest.mark.parametrize("args, message", [
    (["--out", "pictures"], "--out applies to 'demo' only"),
    (["run", "--out", "pictures"], "--out applies to 'demo' only"),
    (["demo", "--quick"], "--quick applies to 'run' only"),
])
def test_options_of_the_other_command_are_usage_errors(tmp_path, args, message):
    done = run(args, tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines()[-1] == f"{PROG}: error: {message}"
    assert list(tmp_path.iterdir()) == []
