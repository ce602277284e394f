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

from fastgrad._timing import fmt_ratio, fmt_time, table

PROG = "python -m fastgrad"
# Every kind of f in its fast form first; the indexing pitfall after, as a note.
CASES = ["gradient, f(x, y) unpack=True, n=2",
         "gradient, pure-Python rosen(*x) unpack=True, n=100",
         "gradient, numpy rosen(X) vectorized=True, n=100",
         "gradient, objectives.Rosenbrock(), n=100",
         "gradient_descent, 2-D Rosenbrock, 2000 its"]
GUIDE = ["  Each kind of f in its fast form: pure Python with unpack=True (f gets floats),",
         "  numpy with vectorized=True (every stencil point in one call), a compiled objective",
         "  (the loops in C; the reference calls the same objective from Python)."]
THREE_DIGITS = r"(\d{3,}|\d\d\.\d|\d\.\d\d)"  # fmt_time and fmt_ratio: 694, 15.5, 2.91
PICTURES = ["quadratic.png", "rosenbrock.png", "himmelblau.png", "himmelblau_field.png"]


def run(args, cwd, **options):
    return subprocess.run([sys.executable, "-I", "-m", "fastgrad", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, **options)


@pytest.mark.parametrize("seconds, shown", [
    (2.914e-6, "2.91 µs"), (11.24e-3, "11.2 ms"), (694.2e-9, "694 ns"),
    (9.996e-6, "10.0 µs"), (99.96e-6, "100 µs"), (999.6e-6, "1.00 ms"),
    (999.6e-9, "1.00 µs"), (0.9996, "1.00 s"), (1234.0, "1230 s"),
])
def test_times_are_shown_with_three_significant_digits_rounded_before_the_unit(seconds, shown):
    assert fmt_time(seconds) == shown
    assert re.fullmatch(THREE_DIGITS + " (s|ms|µs|ns)", shown)


@pytest.mark.parametrize("ratio, shown", [(2.916, "2.92×"), (9.996, "10.0×"), (99.96, "100×")])
def test_ratios_are_shown_with_three_significant_digits(ratio, shown):
    assert fmt_ratio(ratio) == shown


def test_quick_run_prints_the_timing_table_of_the_shared_formatter(tmp_path):
    done = run(["--quick"], tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"fastgrad \S+ \(OpenMP: (no|yes, 1 thread|yes, \d+ threads)\)",
                        lines[0])
    assert done.stdout.count("bit-identical to fastgrad.reference: yes") == 2
    top = lines.index("Timing: fastgrad vs fastgrad.reference "
                      "(median per call of 5 interleaved repeats)")
    assert lines[top + 1:top + 4] == GUIDE
    top += len(GUIDE)
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
    after = lines[top + 3 + len(CASES):]
    assert after[0] == "  speed-up: reference time / fastgrad time, repeat by repeat, median."
    # The pitfall, with its honest numbers, and the fix in one line.
    times = THREE_DIGITS + " (s|ms|µs|ns)"
    assert re.fullmatch(rf"  Pitfall: the same rosen as rosen\(x\), n=100: fastgrad {times}, "
                        rf"reference {times} \({THREE_DIGITS}×\)\.", after[1]), after[1]
    assert after[2] == ("  It indexes fastgrad's float64 array: each x[i] is a numpy scalar, "
                        "slow in pure Python. Use unpack=True.")
    assert after[3] == ""
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


def test_the_timed_forms_compute_the_same_rosenbrock():
    # The fast forms the main job recommends are the same function as the pitfall's.
    import numpy as np

    from fastgrad import __main__ as job
    from fastgrad.objectives import Rosenbrock

    X = np.array([job.X100, [1.0] * 100, [-1.2 + 0.03 * i for i in range(100)]])
    expected = [job.rosen(list(row)) for row in X]
    np.testing.assert_allclose(job.rosen_rows(X), expected, rtol=1e-13)
    assert [job.rosen_unpacked(*row) for row in X.tolist()] == expected
    np.testing.assert_allclose([Rosenbrock()(row) for row in X], expected, rtol=1e-13)
    pitfall_fast, pitfall_reference = job.pitfall()
    fast = {label: call() for label, call, _ in job.benchmarks()}
    np.testing.assert_allclose(fast["gradient, numpy rosen(X) vectorized=True, n=100"],
                               pitfall_fast(), rtol=1e-6, atol=1e-6)
    assert fast["gradient, pure-Python rosen(*x) unpack=True, n=100"].tolist() == \
        pitfall_reference()
