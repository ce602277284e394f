"""The leak soak (benchmarks/soak.py) on a small count: every tier and error path
called 10**4 times (the gradient_batch-on-threads tiers 1000) in a fresh
process; tracemalloc's traced memory must not grow by more than 16 kB over
half of the calls (a leak of one small object a call is >= 80 kB), RSS by more
than 32 MB, the objects the collector tracks by more than 100.  The full run
(10**6 calls per tier) is ``python benchmarks/soak.py``."""
import os
import subprocess
import sys

SOAK = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "benchmarks",
                    "soak.py")


def run_soak(*options):
    return subprocess.run([sys.executable, SOAK, *options], capture_output=True, text=True,
                          timeout=900)


def test_no_tier_leaks_over_ten_thousand_calls():
    run = run_soak("--calls", "10000", "--traced-share", "0.5", "--check")
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    tiers = {line[:32].strip() for line in lines}
    for tier in ("python", "python unpack", "vectorized", "compiled", "C callback",
                 "ctypes callback", "batch, 2 threads", "descent, compiled",
                 "descent, python f", "error: f raises", "error: ctypes callback raises"):
        assert tier in tiers, run.stdout


def test_the_soak_catches_a_leak(tmp_path):
    # The same measure over an f that keeps one more array each call: it must fail.
    leaky = tmp_path / "leaky.py"
    leaky.write_text(
        "import runpy, sys\n"
        "import fastgrad\n"
        "kept = []\n"
        "real = fastgrad.gradient\n"
        "def leaking(*a, **k):\n"
        "    kept.append(bytearray(16))\n"
        "    return real(*a, **k)\n"
        "fastgrad.gradient = leaking\n"
        f"sys.argv = [{SOAK!r}] + sys.argv[1:]\n"
        f"runpy.run_path({SOAK!r}, run_name='__main__')\n")
    run = subprocess.run([sys.executable, str(leaky), "--calls", "10000", "--traced-share",
                          "0.5", "--check", "--only", "compiled"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "growth over the limits: compiled, compiled h=auto" in run.stderr
