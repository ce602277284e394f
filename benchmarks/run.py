"""Run the fastgrad benchmarks: ``python benchmarks/run.py [--quick] [--out DIR]``.

Prints the Markdown summary and writes results.md, results.json and
speedup.png to DIR (default: benchmarks/results/; benchmarks/results/quick/,
which git ignores, with --quick).  --quick (a few seconds,
for CI) runs fewer sizes with shorter repeats; its numbers are for checking
that the suite works, not for quoting.  Competitors whose package is missing
(scipy, numdifftools, numba, matplotlib for the plot) are skipped with the
reason printed.  Nothing here asserts anything about speed.
"""
import argparse
import gc
import importlib.util
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _load_as_package():
    """Make ``benchmarks`` importable when this file is run as a script.

    Without putting the repository root on sys.path: it holds fastgrad's source
    tree, which would shadow the installed fastgrad (the one with the compiled
    extension, and the one we mean to measure).
    """
    spec = importlib.util.spec_from_file_location(
        "benchmarks", HERE / "__init__.py", submodule_search_locations=[str(HERE)])
    package = importlib.util.module_from_spec(spec)
    sys.modules["benchmarks"] = package
    spec.loader.exec_module(package)


if not __package__:
    _load_as_package()

from fastgrad import _timing  # noqa: E402  (the harness python -m fastgrad uses too)

from benchmarks import aims, competitors, lbfgs, memory, report, workloads  # noqa: E402


@dataclass(frozen=True)
class Config:
    mode: str
    sizes: tuple           # n for the gradient benchmark
    descent_sizes: tuple   # n for the descent benchmark (steps x 2n evaluations each)
    steps: int             # descent updates per run (max_iter, tol=0)
    schedule: _timing.Schedule
    memory_sizes: tuple


QUICK = Config("quick", sizes=(2, 100), descent_sizes=(2,), steps=10,
               schedule=_timing.Schedule(min_repeats=5, max_repeats=5, target=0.002,
                                         cell_seconds=0.0, budget=1.0),
               memory_sizes=(10**3, 10**4))
FULL = Config("full", sizes=(2, 10, 100, 1000), descent_sizes=(2, 10, 100), steps=100,
              schedule=_timing.Schedule(min_repeats=7, max_repeats=21, target=0.01,
                                        cell_seconds=1.5, budget=30.0),
              memory_sizes=(10**3, 10**4, 10**5))


def progress(message):
    """Progress goes to stderr, so stdout is the Markdown table alone."""
    print(message, file=sys.stderr, flush=True)


# -- one cell: one task, one workload, one n ----------------------------------------

def final_point(result):
    """The vector to compare: a gradient, or the final x of a descent."""
    return getattr(result, "x", result)


def deviation(result, reference):
    """max |r - r_ref| / max(1, max |r_ref|); None for the limits (they return nothing)."""
    if result is None:
        return None
    got, want = np.asarray(final_point(result), float), np.asarray(final_point(reference), float)
    return float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))


def callables(task, workload, n, steps, entries):
    """name -> zero-argument callable for every competitor that applies."""
    fns = {}
    for c in entries:
        fn = c.gradient(workload, n) if task == "gradient" else c.descent(workload, n, steps)
        if fn is not None:
            fns[c.name] = fn
    return fns


def run_cell(task, workload, n, config, entries):
    steps = config.steps if task == "descent" else None
    fns = callables(task, workload, n, steps, entries)
    optional = {c.name for c in entries if c.kind in ("library", "limit")}
    timed = _timing.interleaved(fns, config.schedule, optional)
    timings, first = timed.timings, timed.first_results
    fastest = _timing.fastest(timings)
    speedup = _timing.speedups(timings, "reference") if "reference" in timings else {}
    behind = _timing.slowdowns(timings, fastest)
    results = {name: {
        "number": t.number, "repeats": len(t.times), "times_s": t.times,
        "median_s": t.median, "min_s": t.min, "max_s": t.max,
        "speedup_vs_reference": speedup.get(name), "slowdown_vs_fastest": behind[name],
        "deviation": deviation(first[name], first["reference"]),
    } for name, t in timings.items()}
    return {"task": task, "workload": workload.key, "title": workload.title,
            "style": workload.style, "n": n, "steps": steps, "fastest": fastest,
            "results": results, "left_out": timed.left_out,
            "warnings": check(steps, first, results)}


def check(steps, first, results):
    """Warnings about work that differs from what the cell claims (printed, never fatal)."""
    warnings = []
    for name, result in first.items():
        nit = getattr(result, "nit", None)
        if steps is not None and nit is not None and nit != steps:
            warnings.append(f"{name} made {nit} updates, not {steps}: {result.message}")
    for name, result in results.items():
        if result["deviation"] is not None and result["deviation"] > 1e-3:
            warnings.append(f"{name} differs from the reference by {result['deviation']:.2g}")
    return warnings


def plan(config, only):
    """(task, workload, n) for every cell of the run."""
    cells = []
    for task, sizes in (("gradient", config.sizes), ("descent", config.descent_sizes)):
        for w in workloads.all_workloads():
            if only and not any(word in w.key for word in only):
                continue
            cells += [(task, w, n) for n in sizes if w.applies(n)]
    return cells


# -- the whole run -------------------------------------------------------------------------

def available(entries, skipped):
    """The competitors whose packages import; the others go to `skipped` with the reason."""
    usable = []
    for c in entries:
        reason = c.missing()
        if reason:
            skipped.append(f"{c.name}: {reason}")
            progress(f"skipping {c.name}: {reason}")
        else:
            usable.append(c)
    return usable


def run(config, out, only=()):
    start = time.perf_counter()
    skipped = []
    machine = report.machine_info()  # before the run: the load average of a quiet machine
    entries = competitors.registry()
    usable = available(entries, skipped)
    gc.freeze()  # the imported libraries' objects: collections between cells stay cheap
    cells = [timed_cell(task, w, n, config, usable) for task, w, n in plan(config, only)]
    mem = run_memory(config, skipped)
    checkpoints = run_aims(config, skipped)
    minimize = run_lbfgs(config, skipped, only)
    machine["load_average_at_end"] = report.load_average()
    doc = {"config": asdict(config), "machine": machine,
           "competitors": [{"name": c.name, "kind": c.kind, "note": c.note} for c in entries],
           "cells": cells, "memory": mem, "aims": checkpoints, "lbfgs": minimize,
           "skipped": skipped}
    return finish(doc, entries, out, start)


def timed_cell(task, workload, n, config, entries):
    t0 = time.perf_counter()
    cell = run_cell(task, workload, n, config, entries)
    progress(f"{task:8} {workload.key:9} n={n:<5} {time.perf_counter() - t0:6.1f} s  "
             f"fastest: {cell['fastest']}")
    for text in [f"{name}: {why}" for name, why in cell["left_out"].items()] + cell["warnings"]:
        progress(f"    {text}")
    return cell


def run_memory(config, skipped):
    """Peak memory per tier, if tracemalloc can see numpy's buffers here."""
    t0 = time.perf_counter()
    if not memory.numpy_is_traced():
        skipped.append("memory: tracemalloc does not see numpy's buffers on this numpy")
        return {"numpy_traced_by_tracemalloc": False, "records": []}
    records, not_measured = memory.measure(competitors.TIERS, config.memory_sizes)
    skipped += [f"memory, {s['tier']}: {s['reason']}" for s in not_measured]
    progress(f"memory: {time.perf_counter() - t0:.1f} s")
    return {"numpy_traced_by_tracemalloc": True, "records": records}


def run_aims(config, skipped):
    """The compiled tier's checkpoints (batch threads, long descent, n = 1000)."""
    t0 = time.perf_counter()
    try:
        import fastgrad.objectives  # noqa: F401
    except ImportError as error:
        skipped.append(f"compiled-tier checkpoints: {error}")
        return []
    rows = aims.measure_aims(config.mode == "quick")
    progress(f"checkpoints: {time.perf_counter() - t0:.1f} s")
    return rows


def run_lbfgs(config, skipped, only=()):
    """L-BFGS against scipy's L-BFGS-B on Rosenbrock (with --only: if a word is in 'lbfgs')."""
    if only and not any(word in "lbfgs" for word in only):
        return []
    t0 = time.perf_counter()
    try:
        rows = lbfgs.measure(config.mode == "quick")
    except ImportError as error:
        skipped.append(f"L-BFGS against scipy: {error}")
        return []
    progress(f"lbfgs: {time.perf_counter() - t0:.1f} s")
    return rows


def finish(doc, entries, out, start):
    out.mkdir(parents=True, exist_ok=True)
    why_no_plot = report.plot(out / "speedup.png", doc["cells"], entries)
    if why_no_plot:
        doc["skipped"].append(f"plot: {why_no_plot}")
        progress(f"no plot: {why_no_plot}")
    doc["wall_seconds"] = time.perf_counter() - start
    report.write_json(out / "results.json", doc)
    report.write_text(out / "results.md", report.markdown(doc, entries, full=True))
    print(report.markdown(doc, entries, full=False))
    progress(f"wrote {out}/results.md, results.json"
             + ("" if why_no_plot else ", speedup.png")
             + f" in {doc['wall_seconds']:.1f} s")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds: n in {2, 100}, short repeats (for CI)")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory for results.md, results.json, speedup.png (default: "
                             "benchmarks/results/, or benchmarks/results/quick/ with --quick, "
                             "so that a quick run never overwrites the full results)")
    parser.add_argument("--only", nargs="*", default=(),
                        help="only workloads whose key contains one of these words")
    args = parser.parse_args(argv)
    out = args.out or (HERE / "results" / "quick" if args.quick else HERE / "results")
    # One BLAS thread for every competitor alike: on a shared 2-core box OpenBLAS's
    # spinning threads made small numpy products 10-40x slower, whoever called them.
    with lbfgs.blas_threads():
        return run(QUICK if args.quick else FULL, out, tuple(args.only))


if __name__ == "__main__":
    sys.exit(main())
