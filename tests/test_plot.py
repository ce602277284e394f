"""fastgrad.plot and the demo writer: what is drawn (artists, data, labels), not pixels.

Figures are the functions' own pyplot-free Figures, rendered with Agg.
"""
import importlib
import re
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.contour import ContourSet
from matplotlib.figure import Figure
from matplotlib.quiver import Quiver
from numpy.testing import assert_allclose, assert_array_equal

import fastgrad
import fastgrad.plot as plot
import fastgrad.reference
from fastgrad._demo import write_demo
from fastgrad.objectives import Himmelblau


def _render(ax):
    """Draw the figure with Agg (catches anything that only fails at draw time)."""
    FigureCanvasAgg(ax.figure).draw()
    return ax


def _bowl(x):
    """An anisotropic quadratic taking an array: gradient (2x + y, 6y + x)."""
    return x[0] ** 2 + 3.0 * x[1] ** 2 + x[0] * x[1]


def _quiver(ax):
    quivers = [c for c in ax.collections if isinstance(c, Quiver)]
    assert len(quivers) == 1
    return quivers[0]


def _by_gid(ax, gid):
    return [a for a in ax.lines if a.get_gid() == gid]


def _arrows(ax):
    return [t for t in ax.texts if t.get_gid() == "gradient"]


def _has_contours(ax):
    return any(isinstance(c, ContourSet) for c in ax.collections)


def _grid(xlim, ylim, num):
    X, Y = np.meshgrid(np.linspace(*xlim, num), np.linspace(*ylim, num))
    return X.ravel(), Y.ravel()


# --- gradient_field ------------------------------------------------------------------

def test_gradient_field_draws_the_gradients_at_the_grid_points():
    ax = _render(plot.gradient_field(_bowl, (-2, 1), (-1, 2), num=7))
    q = _quiver(ax)
    xs, ys = _grid((-2, 1), (-1, 2), 7)
    assert q.N == 49
    assert_array_equal(q.X, xs)
    assert_array_equal(q.Y, ys)
    expected = np.array([fastgrad.gradient(_bowl, [x, y]) for x, y in zip(xs, ys)])
    assert_array_equal(np.asarray(q.U), expected[:, 0])
    assert_array_equal(np.asarray(q.V), expected[:, 1])
    assert_allclose(np.asarray(q.U), 2 * xs + ys, atol=1e-6)  # the true gradient, too
    assert_allclose(np.asarray(q.V), 6 * ys + xs, atol=1e-6)
    assert _has_contours(ax)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
    assert "gradient" in ax.get_title()
    assert ax.get_xlim() == (-2.0, 1.0) and ax.get_ylim() == (-1.0, 2.0)


def test_gradient_field_negative_passes_gradient_kwargs_through():
    def f(x, y):
        return x**3 - 2 * x * y + y**2

    ax = _render(plot.gradient_field(f, (-1, 1), (0, 2), num=4, negative=True, unpack=True,
                                     h=1e-3, method="forward", contours=False))
    q = _quiver(ax)
    xs, ys = _grid((-1, 1), (0, 2), 4)
    expected = np.array([fastgrad.gradient(f, [x, y], h=1e-3, method="forward", unpack=True)
                         for x, y in zip(xs, ys)])
    assert q.N == 16
    assert_array_equal(np.asarray(q.U), -expected[:, 0])
    assert_array_equal(np.asarray(q.V), -expected[:, 1])
    assert not _has_contours(ax)
    assert "-" in ax.get_title()


def test_gradient_field_normalize_keeps_directions_and_compiled_objective():
    f = Himmelblau()
    ax = _render(plot.gradient_field(f, (-5, 5), (-5, 5), num=5, normalize=True))
    q = _quiver(ax)
    xs, ys = _grid((-5, 5), (-5, 5), 5)
    G = fastgrad.gradient_batch(f, np.column_stack([xs, ys]))
    U, V = np.asarray(q.U), np.asarray(q.V)
    assert_allclose(np.hypot(U, V), 1.0)
    assert_allclose(U * np.hypot(*G.T), G[:, 0], rtol=1e-12)
    assert_allclose(V * np.hypot(*G.T), G[:, 1], rtol=1e-12)


def test_gradient_field_draws_on_the_given_axes():
    fig = Figure()
    ax = fig.add_subplot()
    assert plot.gradient_field(_bowl, (-1, 1), (-1, 1), num=3, ax=ax, colorbar=False) is ax
    assert fig.axes == [ax]
    _render(ax)


# --- descent_path ----------------------------------------------------------------------

def _runs(f=_bowl, starts=((-1.5, 1.0), (1.0, 1.2)), max_iter=25, unpack=False, impl=fastgrad):
    return [impl.gradient_descent(f, list(s), 0.1, max_iter=max_iter, unpack=unpack,
                                  record=True) for s in starts]


def test_descent_path_draws_each_path_its_markers_and_the_start_gradient():
    runs = _runs()
    ax = _render(plot.descent_path(_bowl, runs, labels=["first", "second"]))
    lines = _by_gid(ax, "path")
    assert [line.get_label() for line in lines] == ["first", "second"]
    assert len(_by_gid(ax, "start")) == len(_by_gid(ax, "end")) == 2  # zip cuts nothing short
    for line, start, end, result in zip(lines, _by_gid(ax, "start"), _by_gid(ax, "end"), runs):
        assert len(line.get_xdata()) == result.nit + 1
        assert_array_equal(line.get_xdata(), result.path[:, 0])
        assert_array_equal(line.get_ydata(), result.path[:, 1])
        assert_array_equal(np.ravel(start.get_data()), result.path[0])
        assert_array_equal(np.ravel(end.get_data()), result.path[-1])
        assert start.get_marker() != end.get_marker()
    arrows = _arrows(ax)
    assert len(arrows) == 2
    for arrow, result in zip(arrows, runs):
        tail, tip = np.array(arrow.xyann), np.array(arrow.xy)
        assert_array_equal(tail, result.path[0])
        g = fastgrad.gradient(_bowl, result.path[0])
        d = tip - tail
        assert np.dot(d, g) > 0 and abs(d[0] * g[1] - d[1] * g[0]) <= 1e-9 * np.hypot(*d) * np.hypot(*g)
        assert 0 < np.hypot(*d) < 0.5 * np.diff(ax.get_xlim())[0]  # scaled to the view
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["first", "second"]
    assert "start" in legend and "end" in legend
    assert _has_contours(ax)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")


def test_descent_path_auto_limits_span_all_paths_with_a_margin():
    runs = _runs(starts=((-3.0, 0.5), (2.0, -1.0)))
    ax = _render(plot.descent_path(_bowl, runs))
    allpts = np.vstack([r.path for r in runs])
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < allpts[:, 0].min() and allpts[:, 0].max() < x1
    assert y0 < allpts[:, 1].min() and allpts[:, 1].max() < y1
    assert x1 - x0 < 2 * np.ptp(allpts[:, 0])  # a margin, not a far view
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["run 1", "run 2"]


def test_descent_path_given_limits_unpack_reference_and_one_arrow_per_start():
    def f(x, y):
        return (x - 1) ** 2 + 2 * (y + 0.5) ** 2

    runs = _runs(f, starts=((2.0, 1.0), (2.0, 1.0)), unpack=True, impl=fastgrad.reference)
    fig = Figure()
    ax = fig.add_subplot()
    out = plot.descent_path(f, runs, unpack=True, xlim=(-1, 3), ylim=(-2, 2), ax=ax,
                            labels=["a", "b"], log_levels=False, levels=12)
    assert out is ax and fig.axes == [ax]
    _render(ax)
    assert ax.get_xlim() == (-1.0, 3.0) and ax.get_ylim() == (-2.0, 2.0)
    assert_array_equal(_by_gid(ax, "path")[1].get_xdata(), np.array(runs[1].path)[:, 0])
    assert len(_arrows(ax)) == 1  # both runs start at the same point
    levels = next(c for c in ax.collections if isinstance(c, ContourSet)).levels
    assert len(levels) == 12
    assert_allclose(np.diff(levels), np.diff(levels)[0])  # evenly spaced: log_levels=False


def test_descent_path_log_levels_crowd_near_the_minimum():
    ax = plot.descent_path(_bowl, _runs(), levels=10)
    levels = next(c for c in ax.collections if isinstance(c, ContourSet)).levels
    steps = np.diff(levels)
    assert len(levels) == 10 and steps[-1] > 100 * steps[1]


def test_descent_path_accepts_a_single_result():
    run = _runs(starts=((1.0, 1.0),))[0]
    ax = _render(plot.descent_path(_bowl, run))
    assert len(_by_gid(ax, "path")) == 1


def test_plots_reject_results_without_a_path():
    runs = _runs()
    runs.append(fastgrad.gradient_descent(_bowl, [1.0, 1.0], 0.1, max_iter=5))
    with pytest.raises(ValueError, match=r"results\[2\].*record=True"):
        plot.descent_path(_bowl, runs)
    with pytest.raises(ValueError, match=r"results\[2\].*record=True"):
        plot.loss_curve(runs)
    with pytest.raises(ValueError, match="labels"):
        plot.descent_path(_bowl, runs[:2], labels=["only one"])


# --- loss_curve ------------------------------------------------------------------------

def test_loss_curve_draws_path_fun_against_the_iteration_on_a_log_scale():
    runs = _runs(max_iter=30)
    ax = _render(plot.loss_curve(runs, labels=["first", "second"]))
    assert len(ax.lines) == 2
    for line, result in zip(ax.lines, runs):
        assert_array_equal(line.get_xdata(), np.arange(result.nit + 1))
        assert_array_equal(line.get_ydata(), result.path_fun)
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["first", "second"]
    assert ax.get_xlabel() == "iteration"
    assert plot.loss_curve(runs, log=False).get_yscale() == "linear"


def test_loss_curve_stays_linear_when_a_value_is_not_positive():
    def f(x, y):
        return x**2 + y**2 - 1.0

    runs = _runs(f, unpack=True, starts=((2.0, 0.0),), max_iter=20)
    assert min(runs[0].path_fun) < 0
    ax = _render(plot.loss_curve(runs))
    assert ax.get_yscale() == "linear"
    assert_array_equal(ax.lines[0].get_ydata(), runs[0].path_fun)


# --- matplotlib missing, no pyplot -------------------------------------------------------

def test_missing_matplotlib_names_the_extra(monkeypatch):
    run = _runs(starts=((1.0, 1.0),))[0]
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    importlib.reload(plot)  # importing fastgrad.plot itself needs no matplotlib
    message = "fastgrad.plot needs matplotlib: pip install 'fastgrad[plot]'"
    for call in (lambda: plot.gradient_field(_bowl, (-1, 1), (-1, 1)),
                 lambda: plot.descent_path(_bowl, run),
                 lambda: plot.loss_curve(run)):
        with pytest.raises(ImportError, match=re.escape(message)) as info:
            call()
        assert isinstance(info.value.__cause__, ImportError)


def test_plots_never_import_pyplot(tmp_path):
    code = (
        "import sys, fastgrad, fastgrad.plot as p\n"
        "f = lambda x, y: x**2 + 2*y**2\n"
        "r = fastgrad.gradient_descent(f, [1.0, 1.0], 0.1, max_iter=10, unpack=True, record=True)\n"
        "p.gradient_field(f, (-1, 1), (-1, 1), num=4, unpack=True).figure.savefig('/dev/null', format='png')\n"
        "p.descent_path(f, r, unpack=True, resolution=20).figure.savefig('/dev/null', format='png')\n"
        "p.loss_curve(r).figure.savefig('/dev/null', format='png')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   cwd=tmp_path)  # away from the source tree: the installed fastgrad


# --- the demo ----------------------------------------------------------------------------

def test_write_demo_writes_the_four_pictures(tmp_path):
    out = tmp_path / "pictures"  # created if missing
    written = write_demo(out)
    names = ["quadratic.png", "rosenbrock.png", "himmelblau.png", "himmelblau_field.png"]
    assert [p.name for p in written] == names
    for name in names:
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
