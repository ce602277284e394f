"""What a descent tells as it runs: scipy's intermediate_result callback, and progress=True.

Both implementations, every tier; progress changes no result and costs no
evaluation; its reports come as often as the progress object asks.
"""
import math
import re
import sys

import numpy as np
import pytest

import fastgrad
import fastgrad.reference as reference
import fastgrad._api as api
from fastgrad import _progress
from fastgrad.objectives import Himmelblau, Rosenbrock

from _fgtools import assert_same_result, bits, quadratic, tiers


TIERS = tiers(Himmelblau())


def as_list(v):
    return v.tolist() if isinstance(v, np.ndarray) else v


# -- intermediate_result ---------------------------------------------------------

def keeping(seen, stop_at=None):
    def callback(intermediate_result):
        r = intermediate_result
        seen.append((as_list(r.x), r.fun, as_list(r.grad), r.nit, r.nfev))
        return r.nit == stop_at
    return callback


@pytest.mark.parametrize("tier", sorted(TIERS))
@pytest.mark.parametrize("optimizer", [None, "adam", "armijo"])
def test_intermediate_result_has_x_fun_grad_nit_nfev_of_each_iterate(impl, tier, optimizer):
    f, kwargs = TIERS[tier]
    seen = []
    result = impl.gradient_descent(f, [1.5, -0.5], 0.02, max_iter=30, optimizer=optimizer,
                                   callback=keeping(seen), **kwargs)
    recorded = impl.gradient_descent(f, [1.5, -0.5], 0.02, max_iter=30, optimizer=optimizer,
                                     record=True, **kwargs)
    assert [nit for _, _, _, nit, _ in seen] == list(range(1, result.nit + 1))
    # the iterates and f at them are those of a recorded run, which costs the same
    assert [bits(x) for x, _, _, _, _ in seen] == [bits(p) for p in as_list(recorded.path)[1:]]
    assert bits([fun for _, fun, _, _, _ in seen]) == bits(as_list(recorded.path_fun)[1:])
    assert result.nfev == recorded.nfev
    # the last report is the result
    x, fun, grad, nit, nfev = seen[-1]
    assert bits(x) == bits(as_list(result.x)) and bits([fun]) == bits([result.fun])
    assert bits(grad) == bits(as_list(result.grad))
    assert (nit, nfev) == (result.nit, result.nfev)


def test_intermediate_result_is_the_same_in_both_implementations():
    f, kwargs = TIERS["python"]
    fast, slow = [], []
    fastgrad.gradient_descent(f, [1.5, -0.5], 0.02, max_iter=20, callback=keeping(fast))
    reference.gradient_descent(f, [1.5, -0.5], 0.02, max_iter=20, callback=keeping(slow))
    assert len(fast) == 20
    assert [(bits(x), bits([fun]), bits(g), nit, nfev) for x, fun, g, nit, nfev in fast] == \
        [(bits(x), bits([fun]), bits(g), nit, nfev) for x, fun, g, nit, nfev in slow]


def test_intermediate_result_holds_copies(impl):
    kept = []

    def callback(intermediate_result):
        kept.append(intermediate_result)
        intermediate_result.x[0] = 99.0
        intermediate_result.grad[0] = 99.0

    result = impl.gradient_descent(quadratic, [1.5, -0.5], 0.02, max_iter=3, unpack=True,
                                   callback=callback)
    assert result.x[0] != 99.0 and result.grad[0] != 99.0
    assert len({id(r.x) for r in kept}) == 3
    assert repr(kept[0]).startswith("IntermediateResult(x=")


@pytest.mark.parametrize("tier", sorted(TIERS))
def test_a_callback_stops_the_run_by_returning_true_or_raising_stop_iteration(impl, tier):
    f, kwargs = TIERS[tier]

    def stop_iteration(intermediate_result):
        if intermediate_result.nit == 4:
            raise StopIteration

    def stop_iteration_x(x):
        stop_iteration.calls = getattr(stop_iteration, "calls", 0) + 1
        if stop_iteration.calls == 4:
            raise StopIteration

    for callback in (keeping([], stop_at=4), stop_iteration, stop_iteration_x):
        result = impl.gradient_descent(f, [1.5, -0.5], 0.02, callback=callback, **kwargs)
        assert result.nit == 4 and not result.converged
        assert result.message == "stopped by callback after 4 updates"


@pytest.mark.parametrize("tier", sorted(TIERS))
def test_a_callback_answer_without_a_truth_value_is_a_type_error_naming_callback(impl, tier):
    f, kwargs = TIERS[tier]
    message = ("callback must return None or a truth value (a true one stops the run), "
               "got ndarray of shape (2,)")
    with pytest.raises(TypeError, match=re.escape(message)) as caught:
        impl.gradient_descent(f, [1.5, -0.5], 0.02, callback=lambda x: np.asarray(x), **kwargs)
    assert isinstance(caught.value.__cause__, ValueError)  # numpy's ambiguous truth value


def test_callback_x_still_gets_the_iterate_only(impl):
    seen = []
    result = impl.gradient_descent(quadratic, [1.5, -0.5], 0.02, max_iter=3, unpack=True,
                                   callback=lambda x: seen.append(x))
    kind = np.ndarray if impl is fastgrad else list
    assert [type(x) for x in seen] == [kind] * 3
    assert bits(as_list(seen[-1])) == bits(as_list(result.x))
    # without intermediate_result, f is not evaluated along the way
    plain = impl.gradient_descent(quadratic, [1.5, -0.5], 0.02, max_iter=3, unpack=True)
    assert result.nfev == plain.nfev == 3 * 4 + 4 + 1


@pytest.mark.parametrize("callback", [
    lambda intermediate_result=None, other=None: None,  # two parameters: gets x
    lambda res: None,
], ids=["two-parameters", "other-name"])
def test_only_a_callback_whose_one_parameter_is_intermediate_result_gets_one(impl, callback):
    seen = []

    def spy(value):
        seen.append(type(value).__name__)
        return callback(value)

    spy.__signature__ = __import__("inspect").signature(callback)
    impl.gradient_descent(quadratic, [1.5, -0.5], 0.02, max_iter=1, unpack=True, callback=spy)
    assert seen == ["ndarray" if impl is fastgrad else "list"]


def test_a_callback_on_the_compiled_tier_is_called_each_update_without_gil_trouble():
    seen = []
    result = fastgrad.gradient_descent(Rosenbrock(), [-1.2, 1.0], 1e-3, max_iter=500,
                                       callback=keeping(seen))
    assert len(seen) == result.nit == 500


# -- progress ---------------------------------------------------------------------

class Spy:
    """A progress object: keeps what the loops report, asks for a report every `every`."""

    def __init__(self, every):
        self.every, self.steps, self.closed = every, [], None
        self.done_last = 0

    def step(self, nit, nfev, norm, fun):
        self.steps.append((nit, nfev, norm, fun))
        return self.every

    def update(self, done, shown=None):
        self.steps.append(done)
        self.done_last = done
        return self.every

    def finish(self, result):
        self.closed = ("finish", result.nit)

    def close(self, done, shown=None, outcome=None):
        self.closed = ("close", done)


@pytest.fixture
def spy(monkeypatch):
    """Progress objects of both implementations replaced by a Spy asking every 7."""
    made = []

    def make(progress, total):
        if not progress:
            return None
        made.append(Spy(7))
        return made[-1]

    for module in (api, reference):
        monkeypatch.setattr(module, "descent_progress", make)
        monkeypatch.setattr(module, "batch_progress", make)
    return made


@pytest.mark.parametrize("tier", sorted(TIERS))
def test_descent_progress_comes_as_often_as_the_progress_object_asks(impl, tier, spy):
    f, kwargs = TIERS[tier]
    result = impl.gradient_descent(f, [1.5, -0.5], 0.01, max_iter=40, progress=True,
                                   **kwargs)
    (shown,) = spy
    assert [nit for nit, _, _, _ in shown.steps] == [1, 8, 15, 22, 29, 36]
    assert shown.closed == ("finish", 40)
    nit, nfev, norm, fun = shown.steps[-1]
    assert math.isnan(fun)  # not known without ftol, record or a line search
    assert nfev == 37 * 4  # the gradients at x0, ..., x36


def test_descent_progress_and_a_callback_share_the_hook(impl, spy):
    seen = []
    impl.gradient_descent(quadratic, [1.5, -0.5], 0.01, max_iter=5, unpack=True, ftol=0.0,
                          progress=True, callback=lambda x: seen.append(1))
    assert len(seen) == 5
    # with a callback the hook runs every update, and so does the progress
    assert [step[0] for step in spy[0].steps] == [1, 2, 3, 4, 5]
    assert all(not math.isnan(step[3]) for step in spy[0].steps)  # ftol: f is known


@pytest.mark.parametrize("tier", ["python", "vectorized", "compiled"])
def test_batch_progress_comes_in_chunks_of_the_rows_asked_for(impl, tier, spy):
    f, kwargs = TIERS[tier]
    kwargs = {k: v for k, v in kwargs.items() if k != "unpack"}
    X = [[0.1 * r, -0.05 * r] for r in range(20)]
    G = impl.gradient_batch(f, X, progress=True, num_threads=1, **kwargs)
    plain = impl.gradient_batch(f, X, num_threads=1, **kwargs)
    assert [bits(r) for r in as_list(G)] == [bits(r) for r in as_list(plain)]
    (shown,) = spy
    if tier == "vectorized" and impl is fastgrad:
        assert shown.steps == []  # the rows go to f in groups, a chunk whole groups: one here
    else:
        assert shown.steps == [1, 8, 15]
    assert shown.closed == ("close", 20)


def test_batch_progress_on_threads_changes_nothing():
    X = np.random.default_rng(1).normal(size=(300, 3))
    shown = fastgrad.gradient_batch(Himmelblau(), X[:, :2], progress=True, num_threads=2)
    plain = fastgrad.gradient_batch(Himmelblau(), X[:, :2], num_threads=2)
    assert shown.tobytes() == plain.tobytes()


@pytest.mark.parametrize("optimizer", [None, "momentum", "adam", "armijo"])
@pytest.mark.parametrize("tier", sorted(TIERS))
def test_progress_changes_no_result(impl, tier, optimizer, capsys):
    f, kwargs = TIERS[tier]
    plain = impl.gradient_descent(f, [1.5, -0.5], 0.01, max_iter=60, optimizer=optimizer,
                                  **kwargs)
    shown = impl.gradient_descent(f, [1.5, -0.5], 0.01, max_iter=60, optimizer=optimizer,
                                  progress=True, **kwargs)
    assert_same_result(shown, plain)
    assert capsys.readouterr().out == ""  # progress goes to stderr only


LINE = re.compile(r"gradient_descent: 60/60 it, f \S+, \|g\| \S+, \d+\.\d s, "
                  r"max_iter reached: 60 updates made, gradient norm \S+ > tol 1e-06\n")


def test_without_tqdm_progress_is_a_line_on_stderr(impl, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm fails
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    result = impl.gradient_descent(quadratic, [1.5, -0.5], 0.01, max_iter=60, unpack=True,
                                   progress=True)
    err = capsys.readouterr().err
    assert LINE.fullmatch(err), err  # a short run: the final line only
    assert f"|g| {math.sqrt(sum(g * g for g in result.grad)):.6g}," in err
    # lines as often as LINE_EVERY allows
    monkeypatch.setattr(_progress, "LINE_EVERY", 0.0)
    impl.gradient_descent(quadratic, [1.5, -0.5], 0.01, max_iter=60, unpack=True,
                          progress=True, ftol=0.0)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2
    assert re.fullmatch(r"gradient_descent: 60/60 it, f \S+, \|g\| \S+, \d+\.\d s, max_iter "
                        r"reached: 60 updates made, gradient norm \S+ > tol 1e-06", lines[-1])
    for line in lines[:-1]:
        assert re.fullmatch(r"gradient_descent: \d+/60 it, f \S+, \|g\| \S+, \d+\.\d s", line)
    batch = impl.gradient_batch(quadratic, [[1.0, 2.0]] * 3, unpack=True, progress=True)
    assert len(batch) == 3
    assert re.fullmatch(r"(gradient_batch: \d/3 rows, \d+\.\d s\n)*"
                        r"gradient_batch: 3/3 rows, \d+\.\d s\n", capsys.readouterr().err)


def test_with_tqdm_progress_is_a_bar(impl, capsys):
    import tqdm  # noqa: F401  (in the test extra: the bar is tested, never skipped)
    impl.gradient_descent(quadratic, [1.5, -0.5], 0.01, max_iter=60, unpack=True,
                          progress=True)
    err = capsys.readouterr().err
    assert "gradient_descent: 100%" in err and "60/60" in err
    assert err.rstrip().endswith("max_iter reached: 60 updates made, gradient norm "
                                 f"{err.rstrip().split()[-4]} > tol 1e-06")


def test_progress_reports_a_step_count_sized_for_the_refresh_interval(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain path
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    shown = _progress.Progress("x", 100, "it")
    shown.last -= 1.0  # one second ago: 10 units in it, REFRESH = 0.1 s -> 1 unit
    assert shown.update(10) == 1
    shown.last -= 0.01  # 1000 units in 0.01 s: 10000 per REFRESH, but at most twice the last
    assert shown.update(1010) == 2000


def test_progress_must_be_a_bool(impl):
    for call in (lambda: impl.gradient_descent(quadratic, [1.0, 2.0], unpack=True, progress=1),
                 lambda: impl.gradient_batch(quadratic, [[1.0, 2.0]], unpack=True,
                                             progress="yes")):
        with pytest.raises(TypeError) as info:
            call()
        assert str(info.value).startswith("progress must be True or False, got ")


def test_a_failing_run_closes_its_progress(impl, spy):
    def fails(x, y):
        if x < 1.4:
            raise RuntimeError("f failed")
        return quadratic(x, y)

    with pytest.raises(RuntimeError, match="f failed"):
        impl.gradient_descent(fails, [1.5, -0.5], 0.01, unpack=True, progress=True)
    assert spy[0].closed[0] == "close"


@pytest.mark.parametrize("options", [{"full_output": True}, {"h": "adaptive"}], ids=repr)
def test_batch_progress_row_by_row(impl, spy, options):
    X = [[0.1 * r, -0.05 * r] for r in range(20)]
    shown = impl.gradient_batch(quadratic, X, unpack=True, progress=True, **options)
    plain = impl.gradient_batch(quadratic, X, unpack=True, **options)
    if "full_output" in options:
        shown, plain = shown.grad, plain.grad
    assert [bits(r) for r in as_list(shown)] == [bits(r) for r in as_list(plain)]
    assert spy[0].steps == [1, 8, 15] and spy[0].closed == ("close", 20)
