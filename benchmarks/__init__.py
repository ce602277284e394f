"""The fastgrad benchmark suite: fastgrad against its pure-Python reference, scipy,
numdifftools and the per-call limit.

Run ``python benchmarks/run.py`` (or ``python -m benchmarks`` from the repository
root); see benchmarks/README.md.  One module per idea (the timing
harness and the number formats are ``fastgrad._timing``, shared with
``python -m fastgrad``):

- ``workloads``   the objective functions and their start points;
- ``competitors`` who computes the gradient (a registry; fastgrad tiers are one entry each);
- ``aims``        the compiled tier's checkpoints, side by side;
- ``lbfgs``       L-BFGS against scipy's L-BFGS-B: evaluations and time to convergence;
- ``memory``      peak extra memory of one gradient at large n (tracemalloc);
- ``report``      Markdown tables, JSON with machine info, PNG plot;
- ``run``         the command line.
"""
