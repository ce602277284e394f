"""workers=: speed-up against the number of workers, and each engine's overhead per task.

    python benchmarks/workers.py            # full run: about 5 minutes
    python benchmarks/workers.py --quick    # about 30 s (CI)

Writes workers.md and workers.json to benchmarks/results/ (--quick:
benchmarks/results/quick/; --out DIR: elsewhere).  Measured side by side in one
run:

* speed-up of one ``fastgrad.gradient`` (central, 2n evaluations) of an f
  costing 10 ms or 100 ms -- sleep-bound (``time.sleep``: scales past the
  cores) or CPU-bound (a busy loop: at most the cores) -- for n = 8 ... 64, on
  threads (a ThreadPoolExecutor's map), processes (a warm ProcessPoolExecutor,
  and ``workers=k``, which starts and closes its own pool in the call) and a
  warm Dask LocalCluster (one worker process a worker, one thread each);
* each engine's overhead per task: tasks of one evaluation of an f that does
  nothing;
* the issue's targets: f of 0.1 s, n = 4 (8 evaluations) on 8 threads, 4
  processes (workers=4) and a warm 4-worker LocalCluster;
* the model of the README ("Beyond one machine") checked at small scale: the
  predicted time of a gradient on a LocalCluster against the measured one.

Serial times are 2n times f's measured cost (the best of 3 calls; busy_f does
a fixed amount of work, calibrated at the start).  Nothing here asserts anything about speed.
"""
import argparse
import concurrent.futures
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import fastgrad
from fastgrad import _workers

HERE = Path(__file__).resolve().parent


def sleep_f(x, cost):
    time.sleep(cost)
    return float(np.dot(x, x))


def spin(count):
    total = 0
    for i in range(count):
        total += i
    return total


def busy_f(x, cost, spins_per_second):
    """CPU-bound: a fixed amount of work, `cost` seconds of it on an idle core
    (so that workers sharing a core take longer, as real work does)."""
    spin(int(cost * spins_per_second))
    return float(np.dot(x, x))


def calibrate():
    """Loop iterations per second of one core (the best of a few tries)."""
    count = 10**6
    return count / best(lambda: spin(count), 5)


def noop(x):
    return 0.0


def best(call, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def per_task(workers, tasks=200):
    """Seconds of overhead per task: `tasks` tasks of one no-op evaluation each."""
    task = (noop, (), False, False, True, np.zeros((1, 2)), [(0, -1, 0.0)])
    with _workers.Engine(workers) as engine:
        engine.count = None  # one point a task, whatever the engine's size
        start = time.perf_counter()
        engine.run([task] * tasks, lambda i, result: None)
        return (time.perf_counter() - start) / tasks


def model(n_points, workers, cost, overhead):
    """The time the README's model predicts for one gradient: the points in
    chunks (fastgrad._workers' policy), rounds of chunks over the workers, plus
    the engine's overhead for every task (measured as above: the time per task
    of many no-op tasks, which is what the engine adds in series)."""
    chunk = max(1, math.ceil(n_points / (_workers.TASKS_PER_WORKER * workers)))
    tasks = math.ceil(n_points / chunk)
    rounds = math.ceil(tasks / workers)
    return rounds * chunk * cost + tasks * overhead


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path)
    options = parser.parse_args(argv)
    out = options.out or (HERE / "results" / ("quick" if options.quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    quick = options.quick
    costs = (0.01,) if quick else (0.01, 0.1)
    sizes = (8,) if quick else (8, 16, 32, 64)
    counts = (2, 4, 8) if quick else (2, 4, 8, 16)
    cluster_counts = (2,) if quick else (2, 4)
    repeats = 1 if quick else 2
    rows, overheads, targets, checks = [], {}, {}, []

    from distributed import Client, LocalCluster

    def log(*args):
        print(*args, file=sys.stderr, flush=True)

    spins_per_second = calibrate()
    log(f"busy_f: {spins_per_second:.3g} loop iterations a second")

    def measure(engines):
        """The speed-up rows of these engines."""
        for cost in costs:
            for kind, f, args in (("sleep", sleep_f, (cost,)),
                                  ("cpu", busy_f, (cost, spins_per_second))):
                one = best(lambda: f(np.zeros(2), *args), 3)  # serial: 2n of these
                for n in sizes:
                    x = np.linspace(-1.0, 1.0, n)
                    serial = 2 * n * one
                    for name, (k, workers) in engines.items():
                        if kind == "cpu" and name.startswith("threads"):
                            continue  # the GIL: a busy Python loop never scales on threads
                        t = best(lambda: fastgrad.gradient(f, x, args=args,
                                                           workers=workers),
                                 repeats if cost < 0.05 else 1)
                        rows.append(dict(f=kind, cost=cost, n=n, engine=name, workers=k,
                                         seconds=t, serial=serial, speedup=serial / t))
                        log(f"  {kind} {cost * 1e3:.0f} ms n={n} {name}: {t:.3f} s, "
                            f"x{serial / t:.2f}")

    # First, with no other pool or cluster in this process (forking a process
    # that runs a Dask scheduler and pools is slower): the pools workers=k makes
    # and closes in each call, and the issue's targets for them and threads.
    x4 = np.linspace(-1.0, 1.0, 4)
    with concurrent.futures.ThreadPoolExecutor(8) as pool8:
        targets["8 threads (target <= 0.3 s)"] = best(
            lambda: fastgrad.gradient(sleep_f, x4, args=(0.1,), workers=pool8.map), 3)
    targets["workers=4: 4 processes, the pool made and closed in the call "
            "(target <= 0.6 s)"] = best(
        lambda: fastgrad.gradient(sleep_f, x4, args=(0.1,), workers=4), 3)
    start = time.perf_counter()
    fastgrad.gradient(noop, np.zeros(2), workers=2)
    overheads["workers=2 (pool start and close, one call)"] = time.perf_counter() - start
    measure({f"workers={k}": (k, k) for k in (counts[:2] if quick else counts)})

    threads = {k: concurrent.futures.ThreadPoolExecutor(k) for k in counts}
    processes = {k: concurrent.futures.ProcessPoolExecutor(k) for k in counts}
    for pool in processes.values():  # warm: every process started
        list(pool.map(noop, [0.0] * 64))
    clusters = {}
    try:
        for k in cluster_counts:
            cluster = LocalCluster(n_workers=k, threads_per_worker=1, processes=True,
                                   dashboard_address=":0")
            clusters[k] = (cluster, Client(cluster, set_as_default=False))
            clusters[k][1].wait_for_workers(k)

        engines = {}
        for k in counts:
            engines[f"threads {k}"] = (k, threads[k].map)
            engines[f"processes {k}"] = (k, processes[k])
        for k in cluster_counts:
            engines[f"LocalCluster {k}"] = (k, clusters[k][1])

        log("overhead per task")
        for name, (k, workers) in engines.items():
            per_task(workers, 20)  # warm
            overheads[name] = per_task(workers)
            log(f"  {name}: {overheads[name] * 1e6:.0f} us")
        k4 = max(cluster_counts)
        targets[f"warm {k4}-worker LocalCluster (target <= 0.5 s)"] = best(
            lambda: fastgrad.gradient(sleep_f, x4, args=(0.1,), workers=clusters[k4][1]), 3)
        measure(engines)

        # The model against the LocalCluster at small scale.
        for k in cluster_counts:
            for n in sizes[:2]:
                cost = costs[-1]
                o = overheads[f"LocalCluster {k}"]
                measured = [r["seconds"] for r in rows if r["f"] == "sleep"
                            and r["cost"] == cost and r["n"] == n
                            and r["engine"] == f"LocalCluster {k}"][0]
                checks.append(dict(workers=k, n=n, cost=cost, overhead=o,
                                   predicted=model(2 * n, k, cost, o), measured=measured))
    finally:
        for pool in list(threads.values()) + list(processes.values()):
            pool.shutdown()
        for cluster, client in clusters.values():
            client.close()
            cluster.close()

    lines = [f"# workers= ({'quick' if quick else 'full'} run, {os.cpu_count()} cores, "
             f"{platform.python_version()}, load average "
             f"{', '.join(f'{v:.1f}' for v in os.getloadavg())})", "",
             "## Overhead per task (one no-op evaluation a task)", "",
             "| engine | overhead |", "|---|---|"]
    for name, o in overheads.items():
        lines.append(f"| {name} | {o * 1e6:.0f} us |")
    lines += ["", "## The issue's targets: f of 0.1 s (sleep), n = 4, 8 evaluations", "",
              "| engine | time |", "|---|---|"]
    for name, t in targets.items():
        lines.append(f"| {name} | {t:.3f} s |")
    lines += ["", "## Speed-up over serial (2n x f's cost)", "",
              "| f | cost | n | engine | time | speed-up | per worker |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['f']} | {r['cost'] * 1e3:.0f} ms | {r['n']} | {r['engine']} | "
                     f"{r['seconds']:.3f} s | {r['speedup']:.2f} | "
                     f"{r['speedup'] / r['workers']:.2f} |")
    lines += ["", "## The README's model against the LocalCluster", "",
              "time = rounds x chunk x cost + tasks x overhead per task", "",
              "| workers | n | f | predicted | measured |", "|---|---|---|---|---|"]
    for c in checks:
        lines.append(f"| {c['workers']} | {c['n']} | {c['cost'] * 1e3:.0f} ms | "
                     f"{c['predicted']:.3f} s | {c['measured']:.3f} s |")
    text = "\n".join(lines) + "\n"
    print(text)
    (out / "workers.md").write_text(text, encoding="utf-8")
    (out / "workers.json").write_text(json.dumps(
        dict(cores=os.cpu_count(), python=platform.python_version(),
             spins_per_second=spins_per_second,
             load=os.getloadavg(), overheads=overheads, targets=targets, rows=rows,
             model_checks=checks), indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
