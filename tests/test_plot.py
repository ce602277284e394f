"""fastgrad.plot and the demo writer: what is drawn (artists, data, labels), not pixels.

Figures are the functions' own pyplot-free Figures, rendered with Agg (pyplot is
imported only in child processes, so no test leaves a pyplot figure open).
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
    assert out is ax and fig.axes[0] is ax and len(fig.axes) == 2  # and f's colour bar
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


def _himmelblau_run(start=(0.0, -4.0)):
    return fastgrad.gradient_descent(Himmelblau(), list(start), 0.01, max_iter=50, record=True)


def _inside(point, ax):
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    return x0 < point[0] < x1 and y0 < point[1] < y1


def _along(d, g):
    """d points the way g does (same direction, not merely parallel)."""
    return np.dot(d, g) > 0 and abs(d[0] * g[1] - d[1] * g[0]) <= 1e-9 * np.hypot(*d) * np.hypot(*g)


def test_an_arrow_that_would_leave_the_view_is_shortened_not_dropped():
    # The demo's Himmelblau picture: from (0, -4) the gradient points down, and an
    # arrow of the usual length (10 / 8) would end below y = -5.
    run = _himmelblau_run()
    ax = _render(plot.descent_path(Himmelblau(), run, xlim=(-5, 5), ylim=(-5, 5)))
    (arrow,) = _arrows(ax)
    tail, tip = np.array(arrow.xyann), np.array(arrow.xy)
    g = fastgrad.gradient(Himmelblau(), [0.0, -4.0])
    assert g[1] < 0 and -4.0 + 1.25 * g[1] / np.hypot(*g) < -5.0  # full length: outside
    assert_array_equal(tail, [0.0, -4.0])
    assert _along(tip - tail, g)
    assert _inside(tip, ax) and 0.3 < np.hypot(*(tip - tail)) < 1.0
    assert arrow.get_annotation_clip() is False  # drawn even if rounding nudges the tip out
    assert "$\\nabla f$ at start" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_with_no_room_ahead_the_arrow_ends_at_the_start():
    # The start on the lower edge of the view, the gradient pointing out of it.
    run = _himmelblau_run()
    ax = _render(plot.descent_path(Himmelblau(), run, xlim=(-5, 5), ylim=(-4, 5)))
    (arrow,) = _arrows(ax)
    tail, tip = np.array(arrow.xyann), np.array(arrow.xy)
    assert_array_equal(tip, [0.0, -4.0])
    assert _along(tip - tail, fastgrad.gradient(Himmelblau(), [0.0, -4.0]))
    assert _inside(tail, ax) and np.hypot(*(tip - tail)) == pytest.approx(9 / 8)


def test_a_start_outside_the_view_gets_no_arrow_and_no_legend_entry():
    ax = _render(plot.descent_path(Himmelblau(), _himmelblau_run(), xlim=(-5, 5),
                                   ylim=(-3, 5)))
    assert _arrows(ax) == []
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["run 1", "start", "end"]


def test_paths_and_fields_draw_x_and_y_to_the_same_scale_by_default():
    run = _runs(starts=((1.0, 1.0),))[0]
    assert plot.descent_path(_bowl, run).get_aspect() == 1.0
    assert plot.descent_path(_bowl, run, aspect="auto").get_aspect() == "auto"
    assert plot.descent_path(_bowl, run, aspect=2).get_aspect() == 2.0
    ax = plot.gradient_field(_bowl, (-5, 5), (-1, 1), num=3)
    assert ax.get_aspect() == 1.0
    assert ax.get_xlim() == (-5.0, 5.0) and ax.get_ylim() == (-1.0, 1.0)  # the box adjusts
    for aspect in ("square", 0, -1.0, float("nan"), True, None):
        with pytest.raises(ValueError) as info:
            plot.descent_path(_bowl, run, aspect=aspect)
        assert str(info.value) == \
            f"aspect must be 'equal', 'auto' or a positive number, got {aspect!r}"


def _colorbar_axes(ax):
    return [other for other in ax.figure.axes if other is not ax]


def test_heatmaps_have_a_colour_bar_of_f():
    run = _runs(starts=((1.0, 1.0),))[0]
    ax = _render(plot.descent_path(_bowl, run, levels=12, log_levels=False))
    (bar,) = _colorbar_axes(ax)
    assert bar.get_ylabel() == "$f(x, y)$"
    levels = next(c for c in ax.collections if isinstance(c, ContourSet)).levels
    ticks = bar.get_yticks()
    assert ticks[0] == levels[0] and ticks[-1] == levels[-1] and 3 <= len(ticks) <= 8
    assert [t.get_text() for t in bar.get_yticklabels()] == [f"{v:.3g}" for v in ticks]
    assert _colorbar_axes(plot.descent_path(_bowl, run, colorbar=False)) == []
    # The gradient field: the arrows' colours beside, f's heatmap under the Axes.
    field = _render(plot.gradient_field(_bowl, (-1, 1), (-1, 1), num=4))
    labels = sorted(other.get_ylabel() or other.get_xlabel() for other in _colorbar_axes(field))
    assert labels == ["$f(x, y)$", "$|\\nabla f|$"]
    assert len(_colorbar_axes(plot.gradient_field(_bowl, (-1, 1), (-1, 1), num=4,
                                                  contours=False))) == 1


def test_overlapping_runs_differ_in_line_style_and_markers_in_both_plots():
    runs = _runs(starts=((1.0, 1.0),) * 3)  # three runs along the very same path
    paths = _by_gid(plot.descent_path(_bowl, runs), "path")
    losses = _by_gid(plot.loss_curve(runs), "loss")
    styles = [(line.get_linestyle(), line.get_marker(), line.get_markevery())
              for line in paths]
    assert len(set(styles)) == 3
    assert len({markevery[0] for _, _, markevery in styles}) == 3  # markers interleave
    assert [(line.get_color(), line.get_linestyle(), line.get_marker()) for line in losses] == \
        [(line.get_color(), line.get_linestyle(), line.get_marker()) for line in paths]
    assert [line.get_color() for line in paths] == ["C0", "C1", "C2"]


# --- loss_curve ------------------------------------------------------------------------

def test_loss_curve_draws_path_fun_against_the_iteration_on_a_log_scale():
    runs = _runs(max_iter=30)
    ax = _render(plot.loss_curve(runs, labels=["first", "second"]))
    assert len(_by_gid(ax, "loss")) == 2
    for line, result in zip(_by_gid(ax, "loss"), runs):
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
    assert_array_equal(_by_gid(ax, "loss")[0].get_ydata(), runs[0].path_fun)


def test_the_loss_axis_shows_each_start_value():
    # Rosenbrock from (-1.5, 2): f = 12.5 at the start, above the last decade
    # labelled once the runs descend (the demo's picture).
    from fastgrad.objectives import Rosenbrock

    runs = [fastgrad.gradient_descent(Rosenbrock(), [-1.5, 2.0], lr, max_iter=300, record=True)
            for lr in (1e-3, 2e-4)]
    runs.append(fastgrad.gradient_descent(Rosenbrock(), [0.0, 0.0], 1e-3, max_iter=300,
                                          record=True))
    ax = _render(plot.loss_curve(runs))
    starts = _by_gid(ax, "start")
    assert [tuple(np.ravel(m.get_data())) for m in starts] == [(0, 12.5), (0, 12.5), (0, 1.0)]
    assert [m.get_color() for m in starts] == ["C0", "C1", "C2"]
    texts = [t for t in ax.texts if t.get_gid() == "start value"]
    assert [t.get_text() for t in texts] == ["$f(x_0)$ = 1", "$f(x_0)$ = 12.5"]
    assert [t.xy for t in texts] == [(0, 1.0), (0, 12.5)]
    renderer = ax.figure.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    for text in texts:  # inside the axes, not cut off by the frame
        extent = text.get_window_extent(renderer)
        assert box.y0 < extent.y0 and extent.y1 < box.y1 and box.x0 < extent.x0
    low, high = ax.get_ylim()
    assert high > 12.5 * 10 ** 0.2 and low < min(min(r.path_fun) for r in runs)


def test_the_loss_axis_shows_the_start_on_a_linear_scale_too():
    def f(x, y):
        return x**2 + y**2 - 1.0

    run = _runs(f, unpack=True, starts=((2.0, 0.0),), max_iter=20)[0]
    ax = _render(plot.loss_curve(run))
    (text,) = [t for t in ax.texts if t.get_gid() == "start value"]
    assert text.get_text() == f"$f(x_0)$ = {run.path_fun[0]:.3g}"
    low, high = ax.get_ylim()
    assert high >= run.path_fun[0] + 0.1 * (high - low)


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


PYPLOT = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import fastgrad, fastgrad.plot as p
from fastgrad._demo import write_demo
f = lambda x, y: x**2 + 2*y**2
r = fastgrad.gradient_descent(f, [1.0, 1.0], 0.1, max_iter=10, unpack=True, record=True)
axes = [p.gradient_field(f, (-1, 1), (-1, 1), num=4, unpack=True),
        p.descent_path(f, r, unpack=True, resolution=20), p.loss_curve(r)]
print(plt.get_fignums() == [ax.figure.number for ax in axes])
print(all(plt.figure(ax.figure.number) is ax.figure for ax in axes))
plt.close("all")
write_demo("pictures")  # figures of its own, never pyplot's
print(plt.get_fignums())
"""


def test_with_pyplot_imported_new_figures_are_pyplots(tmp_path):
    # So plt.show() shows them (the pandas and seaborn convention).
    run = subprocess.run([sys.executable, "-c", PYPLOT], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines() == ["True", "True", "[]"]
    assert sorted(path.name for path in (tmp_path / "pictures").iterdir()) == \
        ["himmelblau.png", "himmelblau_field.png", "quadratic.png", "rosenbrock.png"]


# --- the demo ----------------------------------------------------------------------------

def test_write_demo_writes_the_four_pictures(tmp_path):
    out = tmp_path / "pictures"  # created if missing
    written = write_demo(out)
    names = ["quadratic.png", "rosenbrock.png", "himmelblau.png", "himmelblau_field.png"]
    assert [p.name for p in written] == names
    for name in names:
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
