"""Pictures of gradients and descent runs: gradient fields, descent paths, loss curves.

matplotlib is an optional extra (``pip install "fastgrad[plot]"``), imported only
when a function here is called.  Every function draws on the Axes ``ax`` it is
given, or on a new Figure, and returns the Axes.  The new Figure is made through
pyplot when the program has imported ``matplotlib.pyplot`` (so ``plt.show()``
shows it, as with pandas and seaborn), and is a pyplot-free
:class:`matplotlib.figure.Figure` otherwise (no backend, no display needed: save
it with ``ax.figure.savefig(...)``).  Nothing here calls ``plt.show()`` or draws
on pyplot's current Axes.

Runs: the i-th run has the same colour ``f"C{i}"``, line style and markers in
:func:`descent_path` and :func:`loss_curve`, so the two agree side by side and
runs whose paths overlap stay apart.
"""
import math
import sys

import numpy as np

import fastgrad
from fastgrad._contract import show as _show

__all__ = ["gradient_field", "descent_path", "loss_curve"]

_LINESTYLES = ["-", "--", "-.", ":"]
_MARKERS = ["s", "^", "D", "v", "P", "X"]  # not "o" and "*": the start and end markers
_MISSING = "fastgrad.plot needs matplotlib: pip install 'fastgrad[plot]'"


def _matplotlib():
    """matplotlib, imported on first use; a clear ImportError naming the extra if missing."""
    try:
        import matplotlib  # first: a cached submodule would not notice a missing parent
        import matplotlib.colors
        import matplotlib.figure
        import matplotlib.lines
        import matplotlib.patheffects
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    return matplotlib


def _axes(ax, figsize=(6.4, 4.8)):
    """ax, or the Axes of a new Figure: through pyplot if the program imported it."""
    mpl = _matplotlib()
    if ax is None:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            figure = pyplot.figure(figsize=figsize, layout="constrained")
        else:
            figure = mpl.figure.Figure(figsize=figsize, layout="constrained")
        ax = figure.add_subplot()
    return ax


def _run_style(i):
    """How run i is drawn, by descent_path and loss_curve alike: its colour, a line
    style, and markers spaced along the line, each run's shifted by a part of the
    spacing, so paths that lie on top of each other are told apart."""
    return dict(color=f"C{i}", ls=_LINESTYLES[i % len(_LINESTYLES)],
                lw=max(1.2, 2.4 - 0.5 * i), marker=_MARKERS[i % len(_MARKERS)], ms=5,
                mec="white", mew=0.6, markevery=(0.025 + 0.035 * (i % 3), 0.105))


def _check_aspect(aspect):
    if isinstance(aspect, str) and aspect in ("equal", "auto"):
        return aspect
    if not isinstance(aspect, bool) and isinstance(aspect, (int, float, np.floating)) and \
            math.isfinite(aspect) and aspect > 0:
        return float(aspect)
    raise ValueError(f"aspect must be 'equal', 'auto' or a positive number, got {_show(aspect)}")


def _limits(lim, name):
    """(low, high) as floats: finite, low < high, and high - low finite too (the
    grid and the arrows are computed from the span)."""
    try:
        lo, hi = lim
        if isinstance(lo, (str, bytes)) or isinstance(hi, (str, bytes)):
            raise TypeError
        lo, hi = float(lo), float(hi)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"{name} must be finite with low < high, got {_show(lim)}") from None
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a pair (low, high) of numbers, got {_show(lim)}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be finite with low < high, got {_show(lim)}")
    if not math.isfinite(hi - lo):
        raise ValueError(f"{name} spans more than the float range: high - low = "
                         f"{hi!r} - {lo!r} overflows, got {_show(lim)}")
    return lo, hi


def _check_count(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise ValueError(f"{name} must be an integer >= 2, got {value!r}")


def _grid_values(f, X, Y, *, unpack=False, args=(), vectorized=False):
    """f at the grid points (X[i, j], Y[i, j]), in fastgrad's calling conventions.

    Non-finite values are masked (contouring skips them).
    """
    if vectorized:
        if unpack:
            Z = f(X.ravel(), Y.ravel(), *args)
        else:
            Z = f(np.column_stack([X.ravel(), Y.ravel()]), *args)
        Z = np.asarray(Z, dtype=np.float64).reshape(X.shape)
    else:
        Z = np.empty(X.shape)
        for index, (x, y) in enumerate(zip(X.flat, Y.flat)):
            x, y = float(x), float(y)
            Z.flat[index] = f(x, y, *args) if unpack else f(np.array([x, y]), *args)
    return np.ma.masked_invalid(Z)


def _levels(Z, levels, log_levels):
    """Contour levels over the range of Z: geometric from just above its minimum if log_levels."""
    if Z.count() == 0:  # f not finite anywhere on the grid
        return None
    lo, hi = float(Z.min()), float(Z.max())
    if not hi > lo:
        return None
    if not log_levels:
        return np.linspace(lo, hi, levels)
    # Geometric in f - min(f), so the levels crowd where f is near its minimum
    # (the valley a descent run follows), whatever the sign of f.
    span = hi - lo
    return lo + np.concatenate([[0.0], np.geomspace(span * 1e-5, span, levels - 1)])


def _contour(ax, X, Y, Z, levels, log_levels):
    """A filled contour (the heatmap) with thin contour lines on top; the filled ContourSet.

    Greys from dark (low f) to white: coloured paths and arrows stand out on it.
    """
    mpl = _matplotlib()
    bounds = _levels(Z, levels, log_levels)
    if bounds is None:  # f constant on the grid: nothing to contour
        return None
    cmap = mpl.colors.LinearSegmentedColormap.from_list("fastgrad_greys", ["0.45", "1.0"])
    norm = mpl.colors.BoundaryNorm(bounds, cmap.N)  # one shade per band, evenly spread
    filled = ax.contourf(X, Y, Z, levels=bounds, cmap=cmap, norm=norm)
    ax.contour(X, Y, Z, levels=bounds, colors="k", linewidths=0.3, alpha=0.35)
    return filled


def _value_colorbar(ax, filled, **options):
    """A colour bar of f for the heatmap `filled`: one band per level, about six
    levels labelled (all of them would crowd)."""
    options = dict(dict(fraction=0.05, aspect=30, shrink=0.9), **options)
    bar = ax.figure.colorbar(filled, ax=ax, label="$f(x, y)$", **options)
    levels = filled.levels
    shown = levels[np.unique(np.linspace(0, len(levels) - 1, 7).round().astype(int))]
    bar.set_ticks(shown)
    bar.set_ticklabels([f"{level:.3g}" for level in shown])
    return bar


def gradient_field(f, xlim, ylim, *, num=20, ax=None, negative=False, contours=True,
                   normalize=False, colorbar=True, aspect="equal", **gradient_kwargs):
    """Draw the gradient vector field of a 2-D function f as a quiver plot.

    The gradients are computed with :func:`fastgrad.gradient_batch` at the
    points of a ``num`` x ``num`` grid spanning ``xlim`` x ``ylim``.

    Parameters
    ----------
    f : callable
        A function of 2 variables, in any form :func:`fastgrad.gradient` takes
        (``f(x)`` with x of length 2, ``f(x, y)`` with ``unpack=True``, a
        vectorized f, a compiled objective).
    xlim, ylim : (float, float)
        The rectangle to draw.
    num : int
        Arrows per axis (``num**2`` arrows).
    ax : matplotlib.axes.Axes, optional
        Where to draw; by default a new Figure.
    negative : bool
        Draw ``-grad f`` (the descent directions) instead of ``grad f``.
    contours : bool
        Draw filled contours of f under the arrows.
    normalize : bool
        Draw every arrow with the same length (the direction only); the colour
        shows the gradient norm either way.  Useful when the norm varies by
        orders of magnitude over the rectangle.
    colorbar : bool
        Add colour bars next to ``ax``: the gradient norm (the arrows' colour)
        and, with ``contours``, f (the heatmap).
    aspect : "equal", "auto" or float
        The Axes' aspect ratio: "equal" (default) draws x and y to the same
        scale, so that circles stay round and arrows meet the contour lines at
        right angles; "auto" fills the Axes (for coordinates in different units).
    **gradient_kwargs
        Passed to :func:`fastgrad.gradient_batch`: ``h``, ``method``, ``args``,
        ``unpack``, ``vectorized``, ``num_threads``.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on; the arrows are its :class:`matplotlib.quiver.Quiver`
        with ``U``, ``V`` the gradient components (negated if ``negative``,
        scaled to unit length if ``normalize``).

    Raises
    ------
    ImportError
        matplotlib is not installed.
    ValueError
        xlim or ylim not a pair (low, high) of finite numbers with low < high
        and a finite span high - low; num not an int >= 2; aspect not "equal",
        "auto" or a positive number; the errors of :func:`fastgrad.gradient_batch`
        for f and ``gradient_kwargs``.

    Examples
    --------
    >>> import fastgrad.plot
    >>> ax = fastgrad.plot.gradient_field(lambda x, y: x**2 + y**2, (-2, 2), (-2, 2),
    ...                                   unpack=True, num=15)
    >>> ax.figure.savefig("field.png")  # doctest: +SKIP
    """
    mpl = _matplotlib()
    xlim, ylim = _limits(xlim, "xlim"), _limits(ylim, "ylim")
    _check_count(num, "num")
    aspect = _check_aspect(aspect)
    ax = _axes(ax)
    X, Y = np.meshgrid(np.linspace(*xlim, num), np.linspace(*ylim, num))
    G = fastgrad.gradient_batch(f, np.column_stack([X.ravel(), Y.ravel()]), **gradient_kwargs)
    U, V = G[:, 0].reshape(X.shape), G[:, 1].reshape(X.shape)
    if negative:
        U, V = -U, -V
    norm = np.hypot(U, V)
    if normalize:
        with np.errstate(invalid="ignore", divide="ignore"):
            U, V = np.where(norm > 0, U / norm, 0.0), np.where(norm > 0, V / norm, 0.0)
    filled = None
    if contours:
        fine = max(100, 5 * num)
        FX, FY = np.meshgrid(np.linspace(*xlim, fine), np.linspace(*ylim, fine))
        Z = _grid_values(f, FX, FY, unpack=gradient_kwargs.get("unpack", False),
                         args=gradient_kwargs.get("args", ()),
                         vectorized=gradient_kwargs.get("vectorized", False))
        filled = _contour(ax, FX, FY, Z, 20, True)
    colour_norm = None  # log colours when the norm spans orders of magnitude
    top = float(norm.max())
    if math.isfinite(top) and top > 0:
        bottom = max(float(norm.min()), top * 1e-6)
        if top > 100 * bottom:
            colour_norm = mpl.colors.LogNorm(bottom, top)
    # angles="xy": each arrow points along (U, V) in data coordinates, so it is
    # perpendicular to the contour lines whatever the aspect ratio.
    quiver = ax.quiver(X, Y, U, V, norm, cmap="plasma", norm=colour_norm, angles="xy",
                       pivot="mid" if normalize else "tail")
    if colorbar:
        ax.figure.colorbar(quiver, ax=ax, label="$|\\nabla f|$", fraction=0.05, aspect=30,
                           shrink=0.9)
        if filled is not None:  # under the Axes: the arrows' colour bar is beside them
            _value_colorbar(ax, filled, location="bottom", aspect=40)
    ax.set(xlim=xlim, ylim=ylim, xlabel="x", ylabel="y",
           title="descent directions $-\\nabla f$" if negative else "gradient field $\\nabla f$")
    ax.set_aspect(aspect, adjustable="box")
    return ax


def _as_results(results):
    if isinstance(results, fastgrad.DescentResult):
        return [results]
    try:
        results = list(results)
    except TypeError:
        raise TypeError("results must be a DescentResult or a sequence of them, "
                        f"got {type(results).__name__}") from None
    if not results:
        raise ValueError("results must not be empty")
    return results


def _labels(labels, count):
    if labels is None:
        return [f"run {i + 1}" for i in range(count)]
    labels = [str(label) for label in labels]
    if len(labels) != count:
        raise ValueError(f"labels must have one entry per result ({count}), got {len(labels)}")
    return labels


def _paths(results):
    """The recorded iterates of each result, as (k, 2) float arrays."""
    paths = []
    for i, result in enumerate(results):
        path = getattr(result, "path", None)
        if path is None:
            raise ValueError(f"results[{i}] has no path: run gradient_descent with record=True")
        path = np.asarray(path, dtype=np.float64)
        if path.ndim != 2 or path.shape[1] != 2 or path.shape[0] == 0:
            raise ValueError(f"results[{i}].path must hold points of a 2-D f, "
                             f"got shape {path.shape}")
        paths.append(path)
    return paths


def _auto_limits(values, name, margin=0.15):
    """The span of values with a margin on each side (at least 1 wide), checked as
    a given limit would be (paths near the float range leave no room for a margin)."""
    lo, hi = float(np.min(values)), float(np.max(values))
    pad = margin * (hi - lo) if hi > lo else max(1.0, abs(lo))
    lo, hi = lo - pad, hi + pad  # Python floats: inf on overflow, no error
    if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(hi - lo)):
        raise ValueError(f"the paths span too much of the float range to draw with a margin: "
                         f"give {name}")
    return lo, hi


def _room(point, direction, xlim, ylim):
    """How far from point (inside the view) the view extends along direction."""
    room = math.inf
    for k, (low, high) in enumerate((xlim, ylim)):
        if direction[k] > 0:
            room = min(room, (high - point[k]) / direction[k])
        elif direction[k] < 0:
            room = min(room, (low - point[k]) / direction[k])
    return room


def _arrow(start, gradient, length, xlim, ylim):
    """(tail, tip) of the arrow drawn for the gradient at start, inside the view,
    or None (start outside the view, or no direction).

    From start along the gradient, `length` long or shortened to stay in the view;
    where the view leaves less than a third of that ahead (start at its edge), the
    arrow ends at start instead, still pointing along the gradient.
    """
    size = math.hypot(gradient[0], gradient[1])
    inside = xlim[0] <= start[0] <= xlim[1] and ylim[0] <= start[1] <= ylim[1]
    if not (inside and math.isfinite(size) and size > 0):
        return None
    direction = np.asarray(gradient, dtype=np.float64) / size
    ahead = 0.95 * _room(start, direction, xlim, ylim)
    if ahead >= length / 3:
        return start, start + min(length, ahead) * direction
    behind = 0.95 * _room(start, -direction, xlim, ylim)
    return start - min(length, behind) * direction, start


def descent_path(f, results, *, labels=None, xlim=None, ylim=None, ax=None, levels=30,
                 log_levels=True, unpack=False, resolution=200, colorbar=True, aspect="equal"):
    """Draw descent paths over a heatmap of a 2-D function f.

    For each run: its iterates joined by a line (the run's colour, line style
    and markers), a circle at the start, a star at the end; at each distinct
    start point, the gradient of f there (a dark arrow pointing up-hill, an
    eighth of the smaller side of the view long, shortened where the view ends
    sooner; with no room ahead of the start it ends at the start instead).

    Parameters
    ----------
    f : callable
        The function the runs minimised, ``f(x)`` with x a float64 array of
        length 2, or ``f(x, y)`` with ``unpack=True``.
    results : DescentResult or sequence of DescentResult
        Runs of :func:`fastgrad.gradient_descent` (or the reference's) made with
        ``record=True``.
    labels : sequence of str, optional
        One legend label per run; default "run 1", "run 2", ...
    xlim, ylim : (float, float), optional
        The view; by default the span of all paths with a margin of 15 %.
    ax : matplotlib.axes.Axes, optional
        Where to draw; by default a new Figure.
    levels : int
        Number of contour levels.
    log_levels : bool
        Space the levels geometrically above the minimum of f on the grid (they
        crowd in the valleys the runs follow); else evenly.
    unpack : bool
        Call f as ``f(x, y)``.
    resolution : int
        f is evaluated on a ``resolution`` x ``resolution`` grid for the heatmap.
    colorbar : bool
        Add a colour bar of f (the heatmap) next to ``ax``.
    aspect : "equal", "auto" or float
        The Axes' aspect ratio: "equal" (default) draws x and y to the same
        scale, so that circles stay round and the arrow meets the contour lines
        at a right angle; "auto" fills the Axes (for coordinates in different
        units).

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.  Artists carry a gid: the path lines ``"path"``, the
        start and end markers ``"start"`` and ``"end"``, the arrows (annotations)
        ``"gradient"``.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    TypeError
        results is not a DescentResult or a sequence of them.
    ValueError
        A result in ``results`` has no path (``record=False``) or a path that is
        not 2-D; ``labels`` of the wrong length; xlim or ylim not a pair
        (low, high) of finite numbers with low < high and a finite span (or,
        not given, paths too close to the float range for a margin); levels or
        resolution not an int >= 2; aspect not "equal", "auto" or a positive
        number.

    Examples
    --------
    >>> import fastgrad, fastgrad.plot
    >>> from fastgrad.objectives import Rosenbrock
    >>> runs = [fastgrad.gradient_descent(Rosenbrock(), [-1.5, 2.0], lr, max_iter=500,
    ...                                   record=True) for lr in (1e-4, 1e-3)]
    >>> ax = fastgrad.plot.descent_path(Rosenbrock(), runs, labels=["lr=1e-4", "lr=1e-3"])
    >>> ax.figure.savefig("paths.png")  # doctest: +SKIP
    """
    mpl = _matplotlib()
    for value, name in ((levels, "levels"), (resolution, "resolution")):
        _check_count(value, name)
    aspect = _check_aspect(aspect)
    results = _as_results(results)
    paths = _paths(results)
    labels = _labels(labels, len(results))
    allx = np.concatenate([p[:, 0] for p in paths])
    ally = np.concatenate([p[:, 1] for p in paths])
    xlim = _limits(xlim, "xlim") if xlim is not None else _auto_limits(allx, "xlim")
    ylim = _limits(ylim, "ylim") if ylim is not None else _auto_limits(ally, "ylim")
    ax = _axes(ax)

    X, Y = np.meshgrid(np.linspace(*xlim, resolution), np.linspace(*ylim, resolution))
    filled = _contour(ax, X, Y, _grid_values(f, X, Y, unpack=unpack), levels, log_levels)
    if colorbar and filled is not None:
        _value_colorbar(ax, filled)

    arrow_length = min(xlim[1] - xlim[0], ylim[1] - ylim[0]) / 8
    outline = [mpl.patheffects.withStroke(linewidth=4, foreground="white")]
    starts = []
    arrows = 0
    for i, (path, label) in enumerate(zip(paths, labels)):
        colour = f"C{i}"
        # Later runs thinner, on top, in another line style, with other markers
        # at other places along the line: paths that coincide stay visible.
        ax.plot(path[:, 0], path[:, 1], label=label, gid="path", zorder=3 + 0.01 * i,
                **_run_style(i))
        ax.plot(path[0, 0], path[0, 1], "o", color=colour, mec="k", ms=7, gid="start",
                zorder=6)  # over the arrow's tail
        ax.plot(path[-1, 0], path[-1, 1], "*", color=colour, mec="k", ms=13, gid="end",
                zorder=4)
        if any(np.array_equal(path[0], s) for s in starts):
            continue  # one arrow per start point
        starts.append(path[0])
        g = np.asarray(fastgrad.gradient(f, path[0], unpack=unpack), dtype=np.float64)
        ends = _arrow(path[0], g, arrow_length, xlim, ylim)
        if ends is None:
            continue
        tail, tip = ends
        # annotation_clip=False: drawn even when rounding puts the tip a hair
        # outside the view (an annotation whose tip is outside is dropped).
        arrow = ax.annotate("", xy=tuple(tip), xytext=tuple(tail), zorder=5,
                            annotation_clip=False,
                            arrowprops=dict(arrowstyle="-|>", color="0.1", lw=2,
                                            mutation_scale=16, shrinkA=0, shrinkB=0,
                                            path_effects=outline))
        arrow.set_gid("gradient")
        arrows += 1

    Line2D = mpl.lines.Line2D
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], ls="", marker="o", color="0.6", mec="k", label="start"),
                Line2D([], [], ls="", marker="*", ms=11, color="0.6", mec="k", label="end")]
    if arrows:
        handles.append(Line2D([], [], ls="", marker="$\\rightarrow$", ms=14, color="0.1",
                              label="$\\nabla f$ at start"))
    ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.85)
    ax.set(xlim=xlim, ylim=ylim, xlabel="x", ylabel="y", title="descent paths")
    ax.set_aspect(aspect, adjustable="box")
    return ax


def loss_curve(results, *, labels=None, ax=None, log=True):
    """Draw f along the iterates of recorded runs against the iteration.

    Each run is a line in its colour, line style and markers (as in
    :func:`descent_path`), with a circle at its start value; the y axis spans
    the start values, each labelled ``f(x0) = ...`` (once per distinct value).

    Parameters
    ----------
    results : DescentResult or sequence of DescentResult
        Runs made with ``record=True`` (their ``path_fun`` is drawn).
    labels : sequence of str, optional
        One legend label per run; default "run 1", "run 2", ...
    ax : matplotlib.axes.Axes, optional
        Where to draw; by default a new Figure.
    log : bool
        Log-scale the y axis -- when every value is positive; else it stays linear.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on; one line per run (gid ``"loss"``), x = 0, 1, ...,
        nit, y = path_fun; the start markers have gid ``"start"``, the start
        value labels ``"start value"``.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    TypeError
        results is not a DescentResult or a sequence of them.
    ValueError
        A result in ``results`` has no path_fun (``record=False``) or an empty
        one; ``labels`` of the wrong length.

    Examples
    --------
    >>> import fastgrad, fastgrad.plot
    >>> run = fastgrad.gradient_descent(lambda x, y: x**2 + y**2, [1.0, -1.0], 0.1,
    ...                                 unpack=True, record=True)
    >>> ax = fastgrad.plot.loss_curve(run, labels=["lr=0.1"])
    >>> ax.get_yscale()
    'log'
    >>> [text.get_text() for text in ax.texts]
    ['$f(x_0)$ = 2']
    """
    _matplotlib()
    results = _as_results(results)
    labels = _labels(labels, len(results))
    curves = []
    for i, result in enumerate(results):
        values = getattr(result, "path_fun", None)
        if values is None:
            raise ValueError(f"results[{i}] has no path_fun: run gradient_descent with "
                             "record=True")
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size == 0:
            raise ValueError(f"results[{i}].path_fun is empty")
        curves.append(values)
    ax = _axes(ax)
    for i, (values, label) in enumerate(zip(curves, labels)):
        ax.plot(np.arange(values.size), values, label=label, gid="loss", zorder=2 + 0.01 * i,
                **_run_style(i))
        ax.plot(0, values[0], "o", color=f"C{i}", mec="k", ms=6, gid="start", zorder=4)
    finite = np.concatenate(curves)
    finite = finite[np.isfinite(finite)]
    logscale = log and finite.size and (finite > 0).all()
    if logscale:
        ax.set_yscale("log")
    starts = sorted({float(values[0]) for values in curves if math.isfinite(values[0])})
    for value in starts:
        ax.annotate(f"$f(x_0)$ = {value:.3g}", (0, value), xytext=(7, 3),
                    textcoords="offset points", fontsize="small", va="bottom",
                    gid="start value")
    if starts:  # room above the highest start for its label
        low, high = ax.get_ylim()
        if logscale:  # a tenth of the decades shown, and a little more
            top = starts[-1] * 10 ** (0.1 * math.log10(high / low) + 0.2)
        else:
            top = starts[-1] + 0.12 * (high - low)
        if top > high:
            ax.set_ylim(low, top)
    ax.legend(loc="best", fontsize="small", framealpha=0.85)
    ax.set(xlabel="iteration", ylabel="f(x)", title="loss curve")
    ax.grid(True, which="major", alpha=0.3)
    return ax
