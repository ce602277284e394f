"""Pictures of gradients and descent runs: gradient fields, descent paths, loss curves.

matplotlib is an optional extra (``pip install "fastgrad[plot]"``), imported only
when a function here is called.  Every function draws on the Axes ``ax`` it is
given, or on a new :class:`matplotlib.figure.Figure` (not managed by pyplot, so
it works headless with any backend), and returns the Axes.  Nothing here calls
``plt.show()`` or touches pyplot's current figure: save with
``ax.figure.savefig(...)``, or pass ``ax=plt.gca()`` (or an Axes from
``plt.subplots()``) to draw into a figure pyplot shows.

Colours: the i-th run is drawn in colour ``f"C{i}"`` by both
:func:`descent_path` and :func:`loss_curve`, so the two agree side by side.
"""
import math

import numpy as np

import fastgrad
from fastgrad._contract import show as _show

__all__ = ["gradient_field", "descent_path", "loss_curve"]

_LINESTYLES = ["-", "--", "-.", ":"]
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
    """ax, or the Axes of a new (pyplot-free) Figure."""
    mpl = _matplotlib()
    if ax is None:
        ax = mpl.figure.Figure(figsize=figsize, layout="constrained").add_subplot()
    return ax


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


def gradient_field(f, xlim, ylim, *, num=20, ax=None, negative=False, contours=True,
                   normalize=False, colorbar=True, **gradient_kwargs):
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
        Add a colour bar of the gradient norm next to ``ax``.
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
        and a finite span high - low; num not an int >= 2; the errors of
        :func:`fastgrad.gradient_batch` for f and ``gradient_kwargs``.

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
    if contours:
        fine = max(100, 5 * num)
        FX, FY = np.meshgrid(np.linspace(*xlim, fine), np.linspace(*ylim, fine))
        Z = _grid_values(f, FX, FY, unpack=gradient_kwargs.get("unpack", False),
                         args=gradient_kwargs.get("args", ()),
                         vectorized=gradient_kwargs.get("vectorized", False))
        _contour(ax, FX, FY, Z, 20, True)
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
        ax.figure.colorbar(quiver, ax=ax, label="$|\\nabla f|$", shrink=0.9)
    ax.set(xlim=xlim, ylim=ylim, xlabel="x", ylabel="y",
           title="descent directions $-\\nabla f$" if negative else "gradient field $\\nabla f$")
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


def descent_path(f, results, *, labels=None, xlim=None, ylim=None, ax=None, levels=30,
                 log_levels=True, unpack=False, resolution=200):
    """Draw descent paths over a heatmap of a 2-D function f.

    For each run: its iterates joined by a line, a circle at the start, a star
    at the end; at each distinct start point, the gradient of f there (a dark
    arrow pointing up-hill, of fixed length: an eighth of the smaller side of
    the view).

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
        resolution not an int >= 2.

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
    results = _as_results(results)
    paths = _paths(results)
    labels = _labels(labels, len(results))
    allx = np.concatenate([p[:, 0] for p in paths])
    ally = np.concatenate([p[:, 1] for p in paths])
    xlim = _limits(xlim, "xlim") if xlim is not None else _auto_limits(allx, "xlim")
    ylim = _limits(ylim, "ylim") if ylim is not None else _auto_limits(ally, "ylim")
    ax = _axes(ax)

    X, Y = np.meshgrid(np.linspace(*xlim, resolution), np.linspace(*ylim, resolution))
    _contour(ax, X, Y, _grid_values(f, X, Y, unpack=unpack), levels, log_levels)

    arrow_length = min(xlim[1] - xlim[0], ylim[1] - ylim[0]) / 8
    outline = [mpl.patheffects.withStroke(linewidth=4, foreground="white")]
    starts = []
    for i, (path, label) in enumerate(zip(paths, labels)):
        colour = f"C{i}"
        # Later runs thinner and dashed: paths that coincide stay visible.
        ax.plot(path[:, 0], path[:, 1], _LINESTYLES[i % len(_LINESTYLES)], color=colour,
                lw=max(1.2, 2.6 - 0.5 * i), label=label, gid="path", zorder=3)
        ax.plot(path[0, 0], path[0, 1], "o", color=colour, mec="k", ms=7, gid="start",
                zorder=6)  # over the arrow's tail
        ax.plot(path[-1, 0], path[-1, 1], "*", color=colour, mec="k", ms=13, gid="end",
                zorder=4)
        if any(np.array_equal(path[0], s) for s in starts):
            continue  # one arrow per start point
        starts.append(path[0])
        g = np.asarray(fastgrad.gradient(f, path[0], unpack=unpack), dtype=np.float64)
        size = math.hypot(g[0], g[1])
        if math.isfinite(size) and size > 0:
            tip = path[0] + arrow_length * g / size
            arrow = ax.annotate("", xy=tuple(tip), xytext=tuple(path[0]), zorder=5,
                                arrowprops=dict(arrowstyle="-|>", color="0.1", lw=2,
                                                mutation_scale=16, shrinkA=0, shrinkB=0,
                                                path_effects=outline))
            arrow.set_gid("gradient")

    Line2D = mpl.lines.Line2D
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], ls="", marker="o", color="0.6", mec="k", label="start"),
                Line2D([], [], ls="", marker="*", ms=11, color="0.6", mec="k", label="end"),
                Line2D([], [], ls="", marker="$\\rightarrow$", ms=14, color="0.1",
                       label="$\\nabla f$ at start")]
    ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.85)
    ax.set(xlim=xlim, ylim=ylim, xlabel="x", ylabel="y", title="descent paths")
    return ax


def loss_curve(results, *, labels=None, ax=None, log=True):
    """Draw f along the iterates of recorded runs against the iteration.

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
        The Axes drawn on; one line per run, x = 0, 1, ..., nit, y = path_fun.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    TypeError
        results is not a DescentResult or a sequence of them.
    ValueError
        A result in ``results`` has no path_fun (``record=False``); ``labels``
        of the wrong length.

    Examples
    --------
    >>> import fastgrad, fastgrad.plot
    >>> run = fastgrad.gradient_descent(lambda x, y: x**2 + y**2, [1.0, -1.0], 0.1,
    ...                                 unpack=True, record=True)
    >>> ax = fastgrad.plot.loss_curve(run, labels=["lr=0.1"])
    >>> ax.get_yscale()
    'log'
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
        curves.append(np.asarray(values, dtype=np.float64).ravel())
    ax = _axes(ax)
    for i, (values, label) in enumerate(zip(curves, labels)):
        ax.plot(np.arange(values.size), values, "-", color=f"C{i}", lw=1.6, label=label)
    finite = np.concatenate(curves)
    finite = finite[np.isfinite(finite)]
    if log and finite.size and (finite > 0).all():
        ax.set_yscale("log")
    ax.legend(loc="best", fontsize="small", framealpha=0.85)
    ax.set(xlabel="iteration", ylabel="f(x)", title="loss curve")
    ax.grid(True, which="major", alpha=0.3)
    return ax
