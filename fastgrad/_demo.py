"""The demo pictures: plain descent, momentum and Adam on three classic 2-D problems.

``write_demo(out_dir)`` (run by ``python -m fastgrad demo --out DIR``) writes
quadratic.png, rosenbrock.png, himmelblau.png (descent paths and loss curves side
by side) and himmelblau_field.png (the gradient field).  Figures are rendered
with Agg through Figure objects: no pyplot, no display needed.
"""
import errno
import os
from pathlib import Path

import fastgrad
from fastgrad import plot
from fastgrad.objectives import Himmelblau, Rosenbrock

DPI = 110
SIZE = (10, 4.5)


def _quadratic(x, y):
    return x**2 + y**2


# name, title, f, unpack, start, (xlim, ylim), runs: (label, optimizer, learning_rate, max_iter)
PROBLEMS = [
    ("quadratic", "$f(x, y) = x^2 + y^2$", _quadratic, True, (-4.0, 3.0),
     ((-5.0, 5.0), (-4.0, 4.0)),
     [("plain, lr=0.05", None, 0.05, 300),
      ("momentum 0.9, lr=0.02", fastgrad.Momentum(0.9), 0.02, 300),
      ("Adam, lr=0.3", fastgrad.Adam(), 0.3, 300)]),
    ("rosenbrock", "Rosenbrock $100(y - x^2)^2 + (1 - x)^2$", Rosenbrock(), False, (-1.5, 2.0),
     ((-2.0, 2.0), (-1.0, 3.0)),
     [("plain, lr=1e-3", None, 1e-3, 3000),
      ("momentum 0.9, lr=2e-4", fastgrad.Momentum(0.9), 2e-4, 3000),
      ("Adam, lr=0.05", fastgrad.Adam(), 0.05, 3000)]),
    ("himmelblau", "Himmelblau $(x^2 + y - 11)^2 + (x + y^2 - 7)^2$", Himmelblau(), False,
     (0.0, -4.0), ((-5.0, 5.0), (-5.0, 5.0)),
     [("plain, lr=0.01", None, 0.01, 600),
      ("momentum 0.9, lr=2e-3", fastgrad.Momentum(0.9), 2e-3, 600),
      ("Adam, lr=0.2", fastgrad.Adam(), 0.2, 600)]),
]


def _runs(f, unpack, start, runs):
    results = [fastgrad.gradient_descent(f, start, learning_rate, optimizer=optimizer,
                                         max_iter=max_iter, unpack=unpack, record=True)
               for _, optimizer, learning_rate, max_iter in runs]
    return results, [label for label, *_ in runs]


def _save(fig, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI)
    return path


def _output_dir(out_dir):
    """out_dir as a Path, created if missing; an OSError if no picture can go there.

    Checked before anything is drawn, so a bad path fails at once.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(out))
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(out))
    return out


def write_demo(out_dir):
    """Write the demo pictures into out_dir (created if missing).

    Parameters
    ----------
    out_dir : str or path-like
        The directory to write to.

    Returns
    -------
    list of pathlib.Path
        The files written: quadratic.png, rosenbrock.png, himmelblau.png and
        himmelblau_field.png.

    Raises
    ------
    OSError
        out_dir is a file, or cannot be created or written to (checked first).
    ImportError
        matplotlib is not installed.

    Examples
    --------
    >>> from fastgrad._demo import write_demo
    >>> write_demo("docs")  # doctest: +SKIP
    [PosixPath('docs/quadratic.png'), ...]
    """
    out = _output_dir(out_dir)
    mpl = plot._matplotlib()
    written = []
    for name, title, f, unpack, start, (xlim, ylim), runs in PROBLEMS:
        results, labels = _runs(f, unpack, start, runs)
        fig = mpl.figure.Figure(figsize=SIZE, layout="constrained")
        fig.get_layout_engine().set(wspace=0.06)  # the colour bar apart from the loss axis
        left, right = fig.subplots(1, 2, width_ratios=[1.15, 1])
        plot.descent_path(f, results, labels=labels, xlim=xlim, ylim=ylim, ax=left,
                          unpack=unpack)
        plot.loss_curve(results, labels=labels, ax=right)
        # One legend for both panels, under them: nothing of the pictures hidden.
        handles = left.get_legend().legend_handles
        left.get_legend().remove()
        right.get_legend().remove()
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles),
                   fontsize="small", frameon=False)
        fig.suptitle(title)
        written.append(_save(fig, out / f"{name}.png"))

    fig = mpl.figure.Figure(figsize=(7, 7.2), layout="constrained")
    ax = plot.gradient_field(Himmelblau(), (-5, 5), (-5, 5), num=25, normalize=True,
                             ax=fig.add_subplot())
    ax.set_title("Himmelblau: gradient field (arrow direction; colour: $|\\nabla f|$)")
    written.append(_save(fig, out / "himmelblau_field.png"))
    return written
