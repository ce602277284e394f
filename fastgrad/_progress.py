"""progress=True: a tqdm bar when tqdm is installed, else a plain line on stderr.

Standard library only (tqdm is imported when a run asks for progress), so
both implementations use it.  The loops report by calling ``update``, which
returns how many more iterations (or rows) to make before the next report:
about REFRESH seconds' worth at the rate so far.  So the compiled descent
counts down to its next report and takes the GIL only then -- in the place
where a callback takes it, which costs nothing when neither is given -- and
gradient_batch runs its rows in chunks of that size.  Lines on stderr come at
most every LINE_EVERY seconds, and once at the end.
"""
import math
import sys
import time

#: Seconds between reports the loops aim at.
REFRESH = 0.1
#: Seconds between two lines on stderr, at least.
LINE_EVERY = 0.5


def _number(value):
    return f"{value:.6g}"


class Progress:
    """The progress of one run of ``what`` over ``total`` units (None: unknown)."""

    def __init__(self, what, total, unit):
        self.what, self.total, self.unit = what, total, unit
        self.start = self.last = self.line_at = time.perf_counter()
        self.done_last = 0
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, desc=what, unit=unit, file=sys.stderr)

    def update(self, done, shown=None):
        """Show ``done`` units (and the ``shown`` fields); returns the units to
        make before the next call."""
        now = time.perf_counter()
        if self.bar is not None:
            if shown:
                self.bar.set_postfix(shown, refresh=False)
            self.bar.update(done - self.bar.n)
        elif now - self.line_at >= LINE_EVERY:
            self.line_at = now
            self._line(done, shown, now)
        made, elapsed = done - self.done_last, now - self.last
        self.done_last, self.last = done, now
        if made <= 0 or elapsed <= 0.0:
            return 1
        # REFRESH seconds at the rate of the last stretch, growing at most 2x a time.
        return max(1, min(int(made * REFRESH / elapsed), 2 * made))

    def close(self, done, shown=None, outcome=None):
        """The final report: ``done`` units, and how the run ended."""
        if self.bar is not None:
            if shown:
                self.bar.set_postfix(shown, refresh=False)
            self.bar.update(done - self.bar.n)
            self.bar.close()
            if outcome:
                self.bar.write(f"{self.what}: {outcome}", file=sys.stderr)
        else:
            self._line(done, shown, time.perf_counter(), outcome)

    def _line(self, done, shown, now, outcome=None):
        count = f"{done}/{self.total}" if self.total is not None else f"{done}"
        fields = [f"{count} {self.unit}"]
        fields += [f"{name} {value}" for name, value in (shown or {}).items()]
        fields.append(f"{now - self.start:.1f} s")
        if outcome:
            fields.append(outcome)
        print(f"{self.what}: " + ", ".join(fields), file=sys.stderr, flush=True)


class DescentProgress(Progress):
    """gradient_descent's progress: updates made, f (when the run knows it) and
    the gradient norm."""

    def __init__(self, max_iter):
        super().__init__("gradient_descent", max_iter if max_iter < sys.maxsize else None,
                         "it")

    @staticmethod
    def _shown(norm, fun):
        shown = {} if fun is None or math.isnan(fun) else {"f": _number(fun)}
        if norm is not None and not math.isnan(norm):
            shown["|g|"] = _number(norm)
        return shown

    def step(self, nit, nfev, norm, fun):
        """After update nit (nfev evaluations so far): the updates to the next call."""
        return self.update(nit, self._shown(norm, fun))

    def finish(self, result):
        """The run ended with this DescentResult."""
        norm = None
        if result.grad is not None:
            norm = math.sqrt(sum(float(gi) * float(gi) for gi in result.grad))
        self.close(result.nit, self._shown(norm, result.fun), result.message)


def descent_progress(progress, max_iter):
    """A DescentProgress for progress=True, else None."""
    return DescentProgress(max_iter) if progress else None


def batch_progress(progress, m):
    """gradient_batch's progress over its m rows for progress=True, else None."""
    return Progress("gradient_batch", m, "rows") if progress else None


def rows_in_turn(gradient_of_row, m, shown):
    """[gradient_of_row(r) for r in range(m)], reported to shown (batch_progress's
    object, or None) as the rows are done."""
    results, report_in = [], 1
    try:
        for r in range(m):
            results.append(gradient_of_row(r))
            report_in -= 1
            if shown is not None and report_in == 0 and len(results) < m:
                report_in = shown.update(len(results))
    finally:
        if shown is not None:
            shown.close(len(results))
    return results
