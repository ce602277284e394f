"""fastgrad on a Dask cluster: gradients of a dask array's rows, multi-start descent.

Needs the optional extra: ``pip install "fastgrad[dask]"`` (dask and distributed).
For one derivative's points spread over a cluster, pass the client itself:
``fastgrad.gradient(f, x, workers=client)``.

Examples
--------
>>> import numpy as np, dask.array as da
>>> from distributed import Client, LocalCluster
>>> from fastgrad.objectives import Sphere
>>> import fastgrad.dask
>>> with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
...                   dashboard_address=":0") as cluster, Client(cluster) as client:
...     X = da.from_array(np.arange(8.0).reshape(4, 2), chunks=(2, 2))
...     G = fastgrad.dask.gradient_batch(Sphere(), X, h=0.5).compute()
...     runs = fastgrad.dask.multistart_descent(Sphere(), [[1.0, 2.0], [-3.0, 0.5]],
...                                             learning_rate=0.5, client=client)
>>> G.tolist()
[[0.0, 2.0], [4.0, 6.0], [8.0, 10.0], [12.0, 14.0]]
>>> [(r.x.round(9).tolist(), r.nit, r.converged) for r in runs]
[([-0.0, 0.0], 1, True), ([0.0, 0.0], 1, True)]
"""
try:
    import dask.array as _da
    import distributed as _distributed
except ImportError as _error:  # the extra is not installed
    raise ImportError(
        "fastgrad.dask needs dask and distributed, which are not installed: "
        f"pip install \"fastgrad[dask]\" ({_error})") from _error

import numpy as np

from . import _api
from . import _arguments
from . import _contract

__all__ = ["gradient_batch", "multistart_descent"]


def _block_gradients(block, f, options):
    """Worker side: one block of rows through fastgrad.gradient_batch (OpenMP inside)."""
    return _api.gradient_batch(f, block, **options)


def gradient_batch(f, X, h=1e-5, **options):
    """Gradients of f at the rows of a dask array X, as a dask array.

    Each block of rows runs :func:`fastgrad.gradient_batch` on the worker that
    holds it -- a compiled objective on all of that worker's cores (OpenMP).
    X is rechunked to whole rows if its columns are split.

    Parameters
    ----------
    f, h, options
        As for :func:`fastgrad.gradient_batch` (``method``, ``order``,
        ``bounds``, ``args``, ``unpack``, ``vectorized``, ``num_threads``).
        f and args travel to the workers: they must pickle (compiled objectives do).
    X : dask.array.Array (or array-like) of shape (m, n)
        The points, chunked by rows.

    Returns
    -------
    dask.array.Array of shape (m, n), float64
        Lazy: ``.compute()`` (on the default client, if one is set) runs it.
        Row r is ``fastgrad.gradient_batch(f, X[r:r+1], h, ...)``, bit for bit.

    Raises
    ------
    ValueError
        X not 2-D; errors of f or its arguments when the array is computed.
    """
    X = _da.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array of points, one per row, got shape {X.shape}")
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    options = dict(options, h=h)
    return X.map_blocks(_block_gradients, f, options, dtype=np.float64,
                        meta=np.empty((0, 0), dtype=np.float64))


def _descend(x0, f, options):
    """Worker side: one descent."""
    return _api.gradient_descent(f, x0, **options)


def _start_points(X0):
    """X0's rows as gradient_descent reads x0, checked here before any is sent
    (a complex row is refused, not cast to its real part), or the error naming X0."""
    if isinstance(X0, _da.Array):
        X0 = X0.compute()
    try:
        shape = np.shape(X0)
    except ValueError:  # rows of different lengths
        shape = None
    if shape is None or len(shape) != 2 or shape[0] == 0:
        raise ValueError("X0 must be a 2-D array of start points, one per row, got "
                         + ("rows of different lengths" if shape is None else f"shape {shape}"))
    rows = []
    for r, row in enumerate(X0):
        try:
            rows.append(_arguments.point(row))
        except (TypeError, ValueError) as error:
            raise type(error)(f"X0[{r}]: {error}") from None
    return rows


def multistart_descent(f, X0, *, client=None, **descent_options):
    """One :func:`fastgrad.gradient_descent` per row of X0, on a Dask cluster.

    Parameters
    ----------
    f : callable
        As for :func:`fastgrad.gradient_descent`; it travels to the workers
        (compiled objectives pickle; Dask sends lambdas and closures too).
    X0 : 2-D array-like of shape (m, n)
        The start points, one per row.
    client : dask.distributed.Client, optional
        Default: the current default client.
    descent_options
        Passed to :func:`fastgrad.gradient_descent` (learning_rate, max_iter,
        optimizer, ...).

    Returns
    -------
    list of DescentResult
        In the order of X0's rows; each equal to a local run from that row.

    Raises
    ------
    TypeError, ValueError
        X0 not a 2-D array of real start points (X0[r] names a bad row; a
        complex X0 is refused, never cast); client not a Client; no client
        given and no default client.
    Exceptions of f propagate (the other descents are cancelled).
    """
    if client is None:
        client = _distributed.default_client()
    elif not isinstance(client, _distributed.Client):
        raise TypeError(f"client must be a dask.distributed.Client or None, got "
                        f"{_contract.describe(client)}")
    futures = client.map(_descend, _start_points(X0), f=f, options=descent_options, pure=False)
    try:
        return client.gather(futures)
    except BaseException:
        client.cancel(futures)
        raise
