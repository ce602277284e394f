"""fastgrad.show_config: how this installation was built and what it will use.

Standard library only at import time: the compiled core (and with it numpy) is
loaded when show_config is called.
"""
import sys

__all__ = ["show_config"]

MODES = ("stdout", "dicts")


def _compiled_core():
    """The compiled module that holds the build facts: OPENMP and max_threads()
    (gradient_batch's, the one module built with OpenMP)."""
    from . import _batch
    return _batch


def show_config(mode="stdout"):
    """Show how fastgrad was built and what it will use (numpy's convention).

    Parameters
    ----------
    mode : {"stdout", "dicts"}
        "stdout" prints the configuration, one ``key: value`` per line;
        "dicts" returns it as a dict instead.

    Returns
    -------
    None or dict
        With ``mode="dicts"``, a dict with the keys

        version : str
            fastgrad's version.
        python, numpy : str
            The versions running now.
        openmp : bool
            Whether the compiled core was built with OpenMP, so that
            ``gradient_batch`` runs the rows of a compiled objective in parallel
            (``False``: it runs them serially).
        max_threads : int
            The threads ``gradient_batch`` uses by default (1 without OpenMP;
            ``OMP_NUM_THREADS`` respected).
        extension : str
            The file of the compiled core.
        compiler : str or None
            The compiler that built it, as it names itself (the first line of
            its ``--version``, e.g. ``"gcc (Debian 12.2.0-14+deb12u1) 12.2.0"``),
            recorded by setup.py at build time; None for a core built without
            that record.
        compile_flags : list of str or None
            The options on the compiler's command line for the module of
            ``gradient_batch`` (Python's own CFLAGS, then fastgrad's: always
            ``-ffp-contract=off``, ``-g0`` in a release build, ``-fopenmp``
            with OpenMP), recorded by setup.py at build time, nothing guessed;
            None for a core built without that record.

    Raises
    ------
    ValueError
        ``mode`` is not "stdout" or "dicts".

    Examples
    --------
    >>> import fastgrad
    >>> config = fastgrad.show_config(mode="dicts")
    >>> config["version"] == fastgrad.__version__
    True
    >>> sorted(config)  # doctest: +NORMALIZE_WHITESPACE
    ['compile_flags', 'compiler', 'extension', 'max_threads', 'numpy', 'openmp',
     'python', 'version']
    >>> fastgrad.show_config()  # doctest: +SKIP
    version: 0.1.0
    python: 3.11.2
    numpy: 2.4.6
    openmp: True
    max_threads: 2
    extension: .../fastgrad/_batch.cpython-311-x86_64-linux-gnu.so
    compiler: gcc (Debian 12.2.0-14+deb12u1) 12.2.0
    compile_flags: -Wsign-compare -DNDEBUG -g -fwrapv -O3 -Wall -fPIC -ffp-contract=off -g0 -fopenmp
    """
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    import numpy
    from . import __version__
    core = _compiled_core()
    path = core.__file__
    compiler, flags = _build_record()
    config = {
        "version": __version__,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "openmp": bool(core.OPENMP),
        "max_threads": int(core.max_threads()),
        "extension": path,
        "compiler": compiler,
        "compile_flags": flags,
    }
    if mode == "dicts":
        return config
    for key, value in config.items():
        if isinstance(value, list):
            value = " ".join(value)
        print(f"{key}: {value}")
    return None


def _build_record():
    """(compiler, compile flags) as setup.py's build_ext recorded them in
    fastgrad/_build_info.py, or (None, None) for a core built without it."""
    try:
        from . import _build_info
    except ImportError:
        return None, None
    return _build_info.compiler, list(_build_info.compile_flags)
