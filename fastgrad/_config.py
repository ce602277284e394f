"""fastgrad.show_config: how this installation was built and what it will use.

Standard library only at import time: the compiled core (and with it numpy) is
loaded when show_config is called.
"""
import re
import struct
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
            The compiler that built it, as recorded in the file (the ELF
            ``.comment`` section, e.g. ``"GCC: (Debian 12.2.0-14) 12.2.0"``);
            None where the file records none (not ELF: macOS, Windows).
        compile_flags : list of str or None
            The flags it was compiled with, as the compiler recorded them in its
            debug information (GCC's DWARF producer string, which lists the
            flags, e.g. ``-O3``, ``-ffp-contract=off``, ``-fopenmp``); None where
            they are not recorded (a stripped file, clang without
            ``-grecord-command-line``, not ELF).  Nothing here is guessed from
            the defaults of this Python.

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
    compiler: GCC: (Debian 12.2.0-14+deb12u1) 12.2.0
    compile_flags: -mtune=generic -march=x86-64 -g -O3 -fwrapv -fPIC -ffp-contract=off -fopenmp
    """
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    import numpy
    from . import __version__
    core = _compiled_core()
    path = core.__file__
    compiler, producers = _build_record(path)
    config = {
        "version": __version__,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "openmp": bool(core.OPENMP),
        "max_threads": int(core.max_threads()),
        "extension": path,
        "compiler": compiler,
        "compile_flags": _flags(producers),
    }
    if mode == "dicts":
        return config
    for key, value in config.items():
        if isinstance(value, list):
            value = " ".join(value)
        print(f"{key}: {value}")
    return None


def _flags(producers):
    """The command-line flags in the first DWARF producer string that lists any."""
    for producer in producers:
        flags = [word for word in producer.split() if word.startswith("-")]
        if flags:
            return flags
    return None


# -- what an ELF file records about its build -----------------------------------

_PRODUCER = re.compile(rb"(?:GNU [A-Za-z0-9+]+ [0-9][^\x00]*|[^\x00]*clang version [^\x00]*)")


def _build_record(path):
    """(compiler, producers) recorded in the ELF file at path: the unique strings of
    its .comment section joined by "; " (or None), and the DWARF producer strings
    found in .debug_str / .debug_info (a list, maybe empty)."""
    try:
        with open(path, "rb") as file:
            data = file.read()
        sections = _elf_sections(data)
    except (OSError, ValueError, KeyError, struct.error):  # not (a complete) ELF
        return None, []
    comments = []
    for text in sections.get(".comment", b"").split(b"\x00"):
        text = text.decode("utf-8", "replace").strip()
        if text and text not in comments:
            comments.append(text)
    producers = []
    for name in (".debug_str", ".debug_info"):
        for match in _PRODUCER.finditer(sections.get(name, b"")):
            text = match.group().decode("utf-8", "replace").strip()
            if text not in producers:
                producers.append(text)
    return ("; ".join(comments) or None), producers


def _elf_sections(data):
    """{section name: bytes} of an ELF file; ValueError if data is not ELF."""
    if data[:4] != b"\x7fELF":
        raise ValueError("not an ELF file")
    wide = {1: False, 2: True}[data[4]]  # ELFCLASS32 / ELFCLASS64
    order = {1: "<", 2: ">"}[data[5]]  # little / big endian
    if wide:
        shoff, = struct.unpack_from(order + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x3A)
        header = order + "IIQQQQ"  # name, type, flags, addr, offset, size
    else:
        shoff, = struct.unpack_from(order + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x2E)
        header = order + "IIIIII"
    entries = [struct.unpack_from(header, data, shoff + i * shentsize) for i in range(shnum)]
    if not entries or shstrndx >= shnum:
        raise ValueError("no section names")
    names_at, names_size = entries[shstrndx][4], entries[shstrndx][5]
    names = data[names_at:names_at + names_size]
    sections = {}
    for name_at, kind, _, _, offset, size in entries:
        if kind == 8:  # SHT_NOBITS: no data in the file
            continue
        name = names[name_at:names.find(b"\x00", name_at)].decode("ascii", "replace")
        sections[name] = data[offset:offset + size]
    return sections
