"""``python -m benchmarks`` from the repository root: the same as ``python benchmarks/run.py``.

Note that ``-m`` puts the current directory first on sys.path, so from the
repository root it measures the fastgrad of the source tree (an editable or
in-place build); ``python benchmarks/run.py`` measures the installed one.
"""
import sys

from .run import main

sys.exit(main())
