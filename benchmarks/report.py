"""What a run leaves behind: a Markdown table, JSON of every cell, a PNG plot.

The JSON holds every repeat of every competitor in every cell, plus the
machine and the versions that produced it, so a reader can recompute any
number in the tables.
"""
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path

import fastgrad
from fastgrad._timing import fmt_bytes, fmt_ratio, fmt_time, table

LIBRARIES = ("numpy", "scipy", "Cython", "numdifftools", "numba", "matplotlib")


# -- the machine ---------------------------------------------------------------------

def cpu_model():
    """The CPU model from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version_of(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def fastgrad_source():
    """Where the measured fastgrad lives, and its git commit if it is a checkout."""
    root = Path(fastgrad.__file__).resolve().parent.parent
    source = {"path": str(Path(fastgrad.__file__).resolve().parent), "commit": None, "dirty": None}
    try:
        git = ["git", "-C", str(root)]
        source["commit"] = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True,
                                          text=True, check=True, timeout=10).stdout.strip()
        status = subprocess.run(git + ["status", "--porcelain", "--", "fastgrad"],
                                capture_output=True, text=True, check=True, timeout=10).stdout
        source["dirty"] = bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return source


def load_average():
    """The 1, 5 and 15 minute load averages (None where the OS does not say)."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def machine_info():
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(affinity(0)) if affinity else None,
        # Other work on a shared machine shows here; interleaving evens it out, it cannot remove it.
        "load_average_at_start": load_average(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        # gradient_batch runs on OpenMP threads, and OpenBLAS's threads may spin: recorded.
        "environment": {name: os.environ.get(name) for name in
                        ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")},
        "versions": {name: version_of(name) for name in LIBRARIES},
        "fastgrad": fastgrad.__version__,
        "fastgrad_source": fastgrad_source(),
    }


# -- formatting ------------------------------------------------------------------------

def _task_title(task, cells):
    if task == "gradient":
        return "Gradient: one gradient at x0"
    steps = sorted({cell["steps"] for cell in cells})
    return f"Gradient descent: {', '.join(map(str, steps))} steps from x0 (tol=0)"


def _columns(cells, order):
    present = {name for cell in cells for name in cell["results"]}
    return [name for name in order if name in present]


def _summary_cell(cell, name):
    if name in cell["results"]:
        result = cell["results"][name]
        text = f"{fmt_time(result['median_s'])} ({fmt_ratio(result['speedup_vs_reference'])})"
        return f"**{text}**" if name == cell["fastest"] else text
    return cell["left_out"][name].split(":")[0] if name in cell["left_out"] else "–"


def summary_tables(cells, order):
    """One wide table per task: rows (workload, n), columns competitors."""
    parts = []
    for task in dict.fromkeys(cell["task"] for cell in cells):
        these = [cell for cell in cells if cell["task"] == task]
        columns = _columns(these, order)
        rows = [[cell["title"], str(cell["n"])] + [_summary_cell(cell, name) for name in columns]
                for cell in these]
        parts.append(f"### {_task_title(task, these)}\n\n"
                     + table(["workload", "n"] + columns, rows, "lr" + "r" * len(columns)))
    return "\n\n".join(parts)


def detail_table(cells):
    """Every competitor of every cell: median, spread, runs, ratios, check."""
    rows = []
    for cell in cells:
        for name, r in cell["results"].items():
            deviation = "–" if r["deviation"] is None else f"{r['deviation']:.1e}"
            rows.append([cell["task"], cell["workload"], str(cell["n"]), name,
                         fmt_time(r["median_s"]), fmt_time(r["min_s"]), fmt_time(r["max_s"]),
                         f"{r['number']} × {r['repeats']}", fmt_ratio(r["speedup_vs_reference"]),
                         fmt_ratio(r["slowdown_vs_fastest"]), deviation])
    return table(["task", "workload", "n", "competitor", "median", "min", "max",
                   "calls × repeats", "speed-up vs reference", "time / fastest",
                   "deviation"], rows, "lllrrrrrrrr")


def memory_table(records):
    rows = [[r["tier"], f"{r['n']:,}", fmt_bytes(r["peak_bytes"]), f"{r['bytes_per_n']:.0f}",
             fmt_bytes(r["stencil_chunk_bytes"]), f"{r['beyond_chunk_per_n']:.0f}",
             fmt_time(r["seconds"])] for r in records]
    return table(["tier", "n", "peak extra memory", "bytes / n", "of which stencil chunk",
                   "beyond the chunk, bytes / n", "time"], rows, "lrrrrrr")


def legend(competitors, config):
    schedule = config["schedule"]
    repeats = (f"{schedule['min_repeats']}" if schedule["min_repeats"] == schedule["max_repeats"]
               else f"{schedule['min_repeats']} to {schedule['max_repeats']}")
    lines = [f"Time: median of {repeats} interleaved repeats. In brackets: the "
             "speed-up over `fastgrad.reference` (reference time / competitor time within the "
             "same repeat, median over the repeats; higher is better). **Bold**: fastest "
             "median in the row. –: does not apply. skipped: over the time budget; failed: "
             "raised an error (see Skipped).", ""]
    lines += [f"- **{c.name}**: {c.note}" for c in competitors if c.note]
    return "\n".join(lines)


def _present(competitors, cells):
    """The competitors timed somewhere in this run (the legend explains only those)."""
    names = {name for cell in cells for name in cell["results"]}
    return [c for c in competitors if c.name in names]


def machine_line(machine):
    v = machine["versions"]
    source = machine["fastgrad_source"]
    commit = (source["commit"] or "unknown")[:10] + (" (modified)" if source["dirty"] else "")
    return (f"{machine['cpu']}, {machine['usable_cores']} usable cores, {machine['platform']}; "
            f"{machine['python']}, numpy {v['numpy']}, scipy {v['scipy']}, Cython {v['Cython']}, "
            f"fastgrad {machine['fastgrad']} at commit {commit}; {machine['date_utc']}")


def markdown(doc, competitors, full=True):
    """The results as Markdown: summary tables (printed), plus details (written)."""
    parts = [f"## fastgrad benchmarks ({doc['config']['mode']} mode)",
             machine_line(doc["machine"]),
             summary_tables(doc["cells"], [c.name for c in competitors]),
             legend(_present(competitors, doc["cells"]), doc["config"])]
    if doc.get("aims"):
        from benchmarks import aims
        parts += ["### Compiled-tier checkpoints",
                  "Medians of interleaved repeats; a ratio is slower / faster, repeat by repeat.",
                  aims.markdown(doc["aims"])]
    if doc.get("lbfgs"):
        from benchmarks import lbfgs
        parts += ["### L-BFGS against scipy's L-BFGS-B, to convergence on Rosenbrock",
                  "Forward differences with steps sqrt(eps) max(1, |x_i|) in both, scipy's "
                  "stopping rule (ftol 2.2e-9, gradient 1e-5); nfev counts every evaluation "
                  "of f. Medians of interleaved repeats; the last column is scipy's time over "
                  "fastgrad's, repeat by repeat.", lbfgs.markdown(doc["lbfgs"])]
    if doc["memory"]["records"]:
        parts += ["### Peak extra memory of one gradient",
                  "Measured with tracemalloc, with an f that reads two entries of x, so the "
                  "memory is fastgrad's own.", memory_table(doc["memory"]["records"])]
    skipped = doc["skipped"] + [f"{c['task']}, {c['workload']}, n={c['n']}, {name}: {why}"
                                for c in doc["cells"] for name, why in c["left_out"].items()]
    if skipped:
        parts += ["### Skipped", "\n".join(f"- {s}" for s in skipped)]
    if full:
        parts += ["### Every cell", "deviation: max |g - g_reference| / max(1, max |g_reference|) "
                  "(descent: the same for the final x); a sanity check that every competitor "
                  "computes the same thing.", detail_table(doc["cells"])]
    return "\n\n".join(parts) + "\n"


# -- files ---------------------------------------------------------------------------------

def write_text(path, text):
    """Write via a temporary file, so a crash never leaves half a result behind."""
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path, doc):
    write_text(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


def plot(path, cells, competitors):
    """Speed-up over the reference against n, log-log: one panel per (task, workload).

    Returns None, or why no plot was drawn (matplotlib missing, no cells).
    """
    if not cells:
        return "no gradient or descent cells in this run"
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        return f"matplotlib is not installed ({error})"
    panels = list(dict.fromkeys((cell["task"], cell["workload"]) for cell in cells))
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    colors = {c.name: plt.get_cmap("tab10")(i % 10) for i, c in enumerate(competitors)}
    for ax, (task, workload) in zip(axes.flat, panels):
        _draw_panel(ax, [c for c in cells if (c["task"], c["workload"]) == (task, workload)],
                    competitors, colors)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    handles = {line.get_label(): line for ax in axes.flat for line in ax.get_lines()
               if not line.get_label().startswith("_")}
    fig.legend(list(handles.values()), list(handles), loc="lower center",
               ncol=-(-len(handles) // 2), frameon=False)
    height = fig.get_figheight()
    fig.suptitle("Speed-up over fastgrad.reference against n (higher is better; "
                 "dashed: the reference; dotted: limits)", y=1 - 0.15 / height)
    # Fixed margins: tight_layout takes seconds on log axes.
    fig.subplots_adjust(left=0.05, right=0.98, top=1 - 0.85 / height, bottom=1.0 / height,
                        hspace=0.6, wspace=0.25)
    tmp = Path(str(path) + ".tmp")
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    os.replace(tmp, path)
    return None


def _draw_panel(ax, cells, competitors, colors):
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

    first = cells[0]
    task = "gradient" if first["task"] == "gradient" else f"descent, {first['steps']} steps"
    ax.set_title(f"{first['title']}\n({task})", fontsize=9)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="_reference")
    for c in competitors:
        points = [(cell["n"], cell["results"][c.name]["speedup_vs_reference"])
                  for cell in cells if c.name in cell["results"]]
        if not points or c.kind == "reference":
            continue
        ns, ys = zip(*points)
        ax.plot(ns, ys, marker="o", color=colors[c.name], label=c.name,
                linestyle=":" if c.kind == "limit" else "-")
    ax.set_xscale("log")
    ax.set_yscale("log")
    sizes = sorted({cell["n"] for cell in cells})
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # labels within a decade too
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("n")
    ax.grid(True, which="major", alpha=0.3)
