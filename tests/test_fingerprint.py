"""Every case of the fingerprint battery (_battery.py) gives exactly the result
recorded from the wave-1 code in data/fingerprint_wave1.json, bit for bit.

A failure means a result changed.  If the change is intended, re-record (see the
header of _battery.py) and name the change in the commit.
"""
import json
import re
from pathlib import Path

import pytest

import _battery

STORED_PATH = Path(__file__).parent / "data" / "fingerprint_wave1.json"
STORED = json.loads(STORED_PATH.read_text(encoding="utf-8"))
CASES = dict(_battery.cases())


@pytest.mark.filterwarnings("ignore::fastgrad.PrecisionWarning")  # f returns low-precision values on purpose
@pytest.mark.parametrize("name", list(CASES))
def test_case_matches_its_recorded_fingerprint(name):
    if name not in STORED:
        pytest.fail(f"{name} is not recorded in {STORED_PATH.name}")
    computed = _battery.run(CASES[name])
    assert computed == STORED[name], (
        f"{name} changed\n  stored:   {STORED[name]}\n  computed: {computed}")


def test_battery_and_recording_hold_the_same_cases():
    missing = sorted(set(STORED) - set(CASES))
    unrecorded = sorted(set(CASES) - set(STORED))
    assert not missing and not unrecorded, (
        f"recorded but no longer in the battery: {missing}\n"
        f"in the battery but not recorded: {unrecorded}")


# Every way a descent can stop, so that a re-recording cannot quietly lose one.
STOP_REASONS = [
    r"converged: gradient norm \S+ <= tol",
    r"max_iter reached: \d+ updates made",
    r"the gradient is not finite at the next x",
    r"the update would make x not finite",
    r"the update is lost in rounding",
    r"at the next x, h is too small for x\[\d+\]",
    r"stopped by callback after \d+ updates",
    r"converged: the relative change of f in update \d+ is <= ftol",
    r"no step satisfied the Armijo condition after \d+ backtracks",
    r"f is not finite at the next x",
    r"the gradient is not finite at x0",
    r"the run diverged \(\|x\| grew by orders of magnitude",
]


@pytest.mark.parametrize("reason", STOP_REASONS)
def test_the_recording_covers_every_stop_reason(reason):
    assert any(re.search(reason, text) for text in STORED.values())
