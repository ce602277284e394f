"""Side-by-side timing and its formatting: the one harness of ``python -m fastgrad``
and of benchmarks/ (which is not shipped, so the harness lives here).

Timing that a shared, noisy machine cannot fool easily:

- Warm-up: every callable runs once before timing (JIT compilation, caches,
  lazy imports); its return value is handed back for the correctness check.
- Calibration: each callable gets its own ``number`` of calls per repeat, so
  that one repeat lasts at least ``target`` seconds (timer resolution and
  per-repeat overhead vanish); slow callables run once per repeat.  The
  number of repeats adapts too (see Schedule).
- Interleaving: repeat r runs every competitor of the cell once, in turn (the
  order rotates from repeat to repeat), so a burst of machine noise hits all
  of them alike.  Ratios are computed repeat by repeat from these paired runs
  and then summarised by their median.
- The garbage collector is off while a repeat runs, as in ``timeit``.

Nothing here asserts anything about speed.  Standard library only.
"""
import gc
import itertools
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Dict, List

MAX_NUMBER = 1_000_000


# -- timing --------------------------------------------------------------------------

@dataclass
class Timing:
    """Seconds per call of one competitor in one cell, one entry per repeat."""
    number: int
    times: List[float] = field(default_factory=list)

    @property
    def median(self):
        return statistics.median(self.times)

    @property
    def min(self):
        return min(self.times)

    @property
    def max(self):
        return max(self.times)


def timed(fn, number):
    """Seconds per call of fn over `number` back-to-back calls, gc off."""
    calls = itertools.repeat(None, number)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in calls:
            fn()
        elapsed = time.perf_counter() - start
    finally:
        if was_enabled:
            gc.enable()
    return elapsed / number


def calibrate(fn, target):
    """(number of calls so that one repeat lasts >= target seconds, seconds per call)."""
    number = 1
    while True:
        per_call = timed(fn, number)
        if per_call * number >= target / 5 or number >= MAX_NUMBER:
            return min(MAX_NUMBER, max(1, math.ceil(target / per_call))), per_call
        number *= 10


@dataclass
class CellTiming:
    timings: Dict[str, Timing]
    first_results: Dict[str, object]   # what each callable returned on its warm-up call
    left_out: Dict[str, str]           # name -> why it was not timed in this cell


def warm_up(fns, optional):
    """Call each fn once; returns (results, left_out).

    A failure of an `optional` callable (a third-party competitor) leaves it out
    of the cell with the reason; any other failure propagates.
    """
    results, left_out = {}, {}
    for name, fn in fns.items():
        try:
            results[name] = fn()
        except Exception as error:
            if name not in optional:
                raise
            left_out[name] = f"failed: {type(error).__name__}: {error}"
    return results, left_out


@dataclass(frozen=True)
class Schedule:
    """How long to measure one cell.

    Each competitor gets enough calls per repeat to last `target` seconds (at
    least one call).  The number of repeats is what fits in `cell_seconds`,
    clamped to [min_repeats, max_repeats]: many short interleaved repeats where
    calls are fast (noise hits pairs alike, the median is stable), the minimum
    where the reference is slow.  A competitor whose min_repeats calls alone
    would take more than `budget` seconds is left out of the cell.
    """
    min_repeats: int
    max_repeats: int
    target: float
    cell_seconds: float = 0.0
    budget: float = math.inf

    def repeats(self, seconds_per_round):
        fit = int(self.cell_seconds / seconds_per_round) if seconds_per_round > 0 else 0
        return max(self.min_repeats, min(self.max_repeats, fit))


def interleaved(fns, schedule, optional=()):
    """Time the zero-argument callables fns (name -> fn) side by side."""
    first_results, left_out = warm_up(fns, optional)
    numbers, round_seconds = {}, 0.0
    for name in first_results:
        number, per_call = calibrate(fns[name], schedule.target)
        if per_call * schedule.min_repeats > schedule.budget:
            left_out[name] = (f"skipped: one call takes {per_call:.3g} s, over the budget of "
                              f"{schedule.budget:g} s for {schedule.min_repeats} repeats")
            continue
        numbers[name] = number
        round_seconds += number * per_call
    timings = {name: Timing(number) for name, number in numbers.items()}
    names = list(timings)
    gc.collect()  # once: the collector stays off while a repeat runs anyway
    for r in range(schedule.repeats(round_seconds)):
        for name in names[r % len(names):] + names[:r % len(names)]:
            timings[name].times.append(timed(fns[name], timings[name].number))
    return CellTiming(timings, first_results, left_out)


def speedups(timings, baseline):
    """Median over repeats of baseline time / competitor time (> 1: faster than baseline)."""
    base = timings[baseline].times
    return {name: statistics.median(b / t for b, t in zip(base, timing.times))
            for name, timing in timings.items()}


def slowdowns(timings, baseline):
    """Median over repeats of competitor time / baseline time (1: as fast as baseline)."""
    base = timings[baseline].times
    return {name: statistics.median(t / b for b, t in zip(base, timing.times))
            for name, timing in timings.items()}


def fastest(timings):
    """The competitor with the smallest median time."""
    return min(timings, key=lambda name: timings[name].median)


# -- formatting ----------------------------------------------------------------------

def _three_digits(value):
    value = float(f"{value:.3g}")  # round first: 99.96 is "100", not "100.0"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def fmt_time(seconds):
    """Seconds with three significant digits and a unit: '2.91 µs', '11.2 ms', '694 ns'."""
    seconds = float(f"{seconds:.3g}")  # round first: 999.6 µs is "1.00 ms"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{_three_digits(seconds / scale)} {unit}"
    return f"{_three_digits(seconds / 1e-9)} ns"


def fmt_ratio(ratio):
    """'2.92×'; '–' for None (no ratio)."""
    return "–" if ratio is None else f"{_three_digits(ratio)}×"


def fmt_bytes(count):
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if abs(count) >= scale:
            return f"{_three_digits(count / scale)} {unit}"
    return f"{count} B"


def table(header, rows, align):
    """A Markdown table whose columns line up in plain text too.

    header and each row: lists of strings; align: one 'l' or 'r' per column.
    """
    widths = [max(3, *map(len, column)) for column in zip(header, *rows)]

    def line(cells):
        return "| " + " | ".join(cell.ljust(width) if a == "l" else cell.rjust(width)
                                 for cell, width, a in zip(cells, widths, align)) + " |"

    rule = "|" + "|".join(":" + "-" * (width + 1) if a == "l" else "-" * (width + 1) + ":"
                          for width, a in zip(widths, align)) + "|"
    return "\n".join([line(header), rule] + [line(row) for row in rows])
