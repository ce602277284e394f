"""workers=: f's evaluations spread over threads, processes, an executor or Dask.

Standard library only: ``fastgrad.reference`` uses it too (a Dask client is
recognised by its class, never by importing dask).

Design
------
* ``evaluate_chunk`` is what runs on a worker: f at a chunk of consecutive
  stencil points, returning what f returned, in order.  It is a module-level
  function, so processes and Dask workers can import it; the values are read
  (converted, checked, float32 noted) by the caller, exactly as serial runs
  read them, so the results are the same bits.
* ``Engine`` is workers= resolved: how tasks are submitted, how many workers
  there are (for the chunk size), whether f must be pickled, and the pool it
  made itself (workers=k), which it closes.  ``Engine.run`` hands each task's
  result to the caller in task order, and on any error -- f raised, a value f
  returned was refused, Ctrl-C -- cancels the tasks not yet done.
* ``spread`` opens an Engine around one call of a public function and closes
  it on the way out, whatever happens.
"""
import concurrent.futures
import math
import os
import pickle

from . import _contract as contract

#: A derivative's points are cut into about this many tasks per worker: few
#: enough that each task's overhead is paid rarely, enough that a slow worker
#: (or a worker count that does not divide the points) costs little.
TASKS_PER_WORKER = 4


def evaluate_chunk(task):
    """Worker side: f at a chunk of points -> the list of what f returned.

    task = (f, args, unpack, vectorized, as_array, bases, points): point j is
    base row ``bases[r]`` with coordinate c replaced by v, for (r, c, v) in
    points (c < 0: the row itself).  as_array: f gets a fresh float64 array
    (fastgrad), else a list (fastgrad.reference), as in serial runs; with
    vectorized, the chunk goes to f as one (k, n) block and the list holds f's
    one result.
    """
    f, args, unpack, vectorized, as_array, bases, points = task
    block = []
    for r, c, v in points:
        x = bases[r].copy() if as_array else list(bases[r])
        if c >= 0:
            x[c] = v
        block.append(x)
    if vectorized:
        if as_array:
            import numpy
            block = numpy.array(block, dtype=numpy.float64).reshape(len(points), -1)
            return [f(*block.T, *args) if unpack else f(block, *args)]
        if unpack:
            return [f(*[list(column) for column in zip(*block)], *args)]
        return [f(block, *args)]
    if unpack:
        return [f(*(x.tolist() if as_array else x), *args) for x in block]
    return [f(x, *args) for x in block]


class _Raised:
    """f raised StopIteration in a task of a map-like workers= or on Dask:
    carried back as a result, since map (and Dask's generators) would take it
    for the end of the results."""

    def __init__(self, error):
        self.error = error


def _evaluate_in_map(task):
    """evaluate_chunk for a map-like workers= or Dask, f's StopIteration carried back."""
    try:
        return evaluate_chunk(task)
    except StopIteration as error:
        return _Raised(error)


def _take(consume, i, result):
    """consume(i, result), or raise the StopIteration f raised for it."""
    if type(result) is _Raised:
        raise result.error
    consume(i, result)


def _results_of(task):
    """The length of the list evaluate_chunk returns for task."""
    return 1 if task[3] else len(task[6])


def _is_dask_client(workers):
    """A dask.distributed.Client (or subclass), recognised without importing dask."""
    return any(c.__name__ == "Client" and c.__module__.split(".")[0] == "distributed"
               for c in type(workers).__mro__)


def _cores():
    if hasattr(os, "process_cpu_count"):  # Python >= 3.13
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _pool_of(method):
    """The multiprocessing pool a bound method (pool.map) belongs to, or None."""
    owner = getattr(method, "__self__", None)
    if owner is None or type(owner).__module__ != "multiprocessing.pool":
        return None
    import multiprocessing.pool
    return owner if isinstance(owner, multiprocessing.pool.Pool) else None


def _died(error):
    """Whether error says a worker process died (not that f raised)."""
    if isinstance(error, concurrent.futures.BrokenExecutor):
        return True
    return type(error).__name__ == "KilledWorker"  # dask, after its retries


class Engine:
    """workers= resolved (see the module docstring); a context manager."""

    def __init__(self, workers):
        self.workers = workers
        self.own = None          # the pool made here (workers=k), closed by close()
        self.failed = False      # a run ended early: close() stops the pool's processes
        if isinstance(workers, bool) or not (isinstance(workers, int) or callable(workers)
                                             or isinstance(workers, concurrent.futures.Executor)
                                             or _is_dask_client(workers)):
            raise TypeError(contract.workers_type(workers))
        if isinstance(workers, int):
            if workers == -1:
                workers = _cores()
            elif workers < 1:
                raise ValueError(contract.workers_count(workers))
            self.kind, self.count, self.pickles = "own", workers, True
        elif _is_dask_client(workers):
            self.kind, self.pickles = "dask", True
            self.count = sum(workers.nthreads().values()) or None
        elif isinstance(workers, concurrent.futures.Executor):
            self.kind = "executor"
            self.pickles = isinstance(workers, concurrent.futures.ProcessPoolExecutor)
            self.count = getattr(workers, "_max_workers", None)
        else:  # a map-like callable: pool.map, executor.map, the builtin map...
            self.kind = "map"
            pool = _pool_of(workers)
            owner = getattr(workers, "__self__", None)
            self.pickles = pool is not None and type(pool).__name__ != "ThreadPool" \
                or isinstance(owner, concurrent.futures.ProcessPoolExecutor)
            self.count = getattr(pool, "_processes", None) or getattr(owner, "_max_workers",
                                                                      None)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def check_sendable(self, f, args):
        """f and args must pickle for a process or a Dask worker: TypeError
        naming workers, before anything runs."""
        if not self.pickles:
            return
        dumps = pickle.dumps
        if self.kind == "dask":
            try:  # what Dask sends functions with (lambdas and closures too)
                from cloudpickle import dumps
            except ImportError:
                pass
        for name, value in (("f", f), ("args", args)):
            try:
                dumps(value)
            except Exception as error:
                raise TypeError(contract.workers_unsendable(name, value, error)) from error

    def chunk_size(self, k, most=None):
        """Points per task for k points (at most `most`)."""
        size = 1 if not self.count else math.ceil(k / (TASKS_PER_WORKER * self.count))
        return max(1, min(size, most or size))

    def run(self, tasks, consume):
        """consume(i, result) for the result of each task, in task order."""
        futures = None
        try:
            if self.kind == "map":  # someone else's map: one list per task, in order
                results = self.workers(_evaluate_in_map, tasks)
                try:
                    results = iter(results)
                except TypeError:
                    raise TypeError(contract.workers_map_results("iterable", results)) from None
                done = 0
                for result in results:
                    if type(result) is _Raised:
                        raise result.error
                    if done == len(tasks):
                        raise TypeError(contract.workers_map_results("more"))
                    if type(result) is not list or len(result) != _results_of(tasks[done]):
                        raise TypeError(contract.workers_map_results("result", result))
                    consume(done, result)
                    done += 1
                if done != len(tasks):
                    raise TypeError(contract.workers_map_results("fewer"))
                return
            futures = self.submit(tasks)
            if self.kind == "dask":
                try:  # the common case in one round trip to the scheduler
                    results = self.workers.gather(futures)
                except Exception:  # below, in order: the first failure raises
                    pass
                else:
                    for i, result in enumerate(results):
                        _take(consume, i, result)
                    return
            for i, future in enumerate(futures):
                _take(consume, i, future.result())
        except BaseException as error:
            self.failed = True
            if futures is not None:
                self.cancel(futures)
            if _died(error):
                raise RuntimeError(contract.worker_died(error)) from error
            raise

    def submit(self, tasks):
        if self.kind == "dask":  # (a StopIteration would end dask's generators early)
            return self.workers.map(_evaluate_in_map, tasks, pure=False)
        if self.kind == "own" and self.own is None:
            self.own = concurrent.futures.ProcessPoolExecutor(self.count)
        executor = self.own if self.kind == "own" else self.workers
        return [executor.submit(evaluate_chunk, task) for task in tasks]

    def cancel(self, futures):
        if self.kind == "dask":
            self.workers.cancel(futures)
        else:
            for future in futures:
                future.cancel()

    def close(self):
        """Shut the pool made here down: wait for it after a complete run; after
        an error or Ctrl-C, stop its processes (they may be in a long f)."""
        own, self.own = self.own, None
        if own is None:
            return
        if not self.failed:
            own.shutdown(wait=True)
            return
        processes = list((getattr(own, "_processes", None) or {}).values())
        manager = getattr(own, "_executor_manager_thread", None)
        own.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join()
        if manager is not None:  # it sees the processes gone, and ends
            manager.join(timeout=10.0)


def spread(function, arguments):
    """function(**arguments) with arguments["workers"] opened as an Engine,
    closed on the way out."""
    with Engine(arguments["workers"]) as engine:
        return function(**dict(arguments, workers=engine))
