"""Pure-Python reference implementation of fastgrad (standard library only).

It offers the same functions, parameters and semantics as ``fastgrad`` and is
written to be checked against the formulas by eye.  The tests hold the Cython
core to it bit for bit, and the benchmarks measure the core against it.

The stencils are rows of ``_stencils.STENCILS`` (read by the compiled core
too).  For coordinate i, with the realised points xp = x[i] + h[i] and
xm = x[i] - h[i], the default rows are:

    central:  g[i] = (f(x with x[i]=xp) - f(x with x[i]=xm)) / (xp - xm)
    forward:  g[i] = (f(x with x[i]=xp) - f(x)) / (xp - x[i])
    backward: g[i] = (f(x) - f(x with x[i]=xm)) / (x[i] - xm)

Dividing by the realised step (xp - xm), not the nominal 2h, removes the
rounding of x[i] +- h from the result, as scipy.optimize.approx_fprime does.
"""
import math

from . import _complex as complex_step
from . import _contract as contract
from . import _workers
from ._accuracy import (GradientResult, HessianResult, JacobianResult, adaptive_steps,
                        batch_result, estimate, estimate_hessian, hessian_richardson,
                        jacobian_estimate, jacobian_richardson, no_estimate,
                        no_hessian_estimate, richardson)
from ._contract import PrecisionWarning
from ._optimizers import LBFGS, SGD, Adam, Armijo, Momentum, as_optimizer
from ._prepared import (GRADIENT_DEFAULTS, HESSIAN_DEFAULTS, Prepared, checked_gradient_options,
                        sequence_length)
from ._progress import batch_progress, descent_progress, rows_in_turn
from ._result import (ByKeyword, DescentResult, DescentState, IntermediateResult, Stop,
                      call_back, descent_result, diverged, wants_intermediate_result)
from ._stencils import (EPS32, EPS64, auto_step, plan, realised_step, relative_steps,
                        second_auto_step, second_blocks, second_mixed, second_points,
                        second_row_points, second_stencil, stencil as stencil_row)
from ._stencils import (bad_coordinate as _bad_coordinate, check_rows as _check_rows,
                        check_stencil as _check_stencil, realised as _realised,
                        realised_span as _span)

__all__ = ["gradient", "gradient_batch", "Gradient", "gradient_descent_step", "gradient_descent",
           "hessian", "hessian_vector", "Hessian", "HessianResult",
           "DescentResult", "DescentState", "IntermediateResult", "GradientResult",
           "SGD", "Momentum", "Adam", "Armijo", "LBFGS", "PrecisionWarning"]


# -- evaluating f -------------------------------------------------------------

def _evaluator(f, args, unpack, vectorized, workers=None):
    """A function values(x, points) -> [f at each point], in order.

    A point is (i, v): x with coordinate i replaced by v, or (None, None) for x;
    or (i, v, j, w): coordinates i and j replaced (hessian's mixed points).
    workers: an opened ``_workers.Engine`` to spread the points over.
    """
    if workers is not None:
        return _spread_evaluator(f, args, unpack, vectorized, workers)

    def point(x, i, v, j=None, w=None):
        p = list(x)
        if i is not None:
            p[i] = v
        if j is not None:  # a second moved coordinate (hessian's mixed points)
            p[j] = w
        return p

    # Whether f returned a float of less than double precision (float32...):
    # read as values.seen["low_precision"] (a dict, so that no cycle holds f).
    seen = {"low_precision": False}

    if not vectorized:
        def values(x, points):
            out = []
            for moves in points:
                p = point(x, *moves)
                if unpack:
                    value = f(*p, *args)
                else:
                    try:
                        value = f(p, *args)
                    except TypeError as error:  # unpack=True forgotten? Say so.
                        hint = contract.unpack_hint(error, f, len(p), args, False)
                        if hint is None:
                            raise
                        raise hint from error
                if contract.is_low_precision(value):  # float32: a fixed h is too small
                    seen["low_precision"] = True
                out.append(contract.as_real(value))
            return out
        values.seen = seen
        return values

    def values(x, points):
        # Whole rows in one call of f, in chunks so that memory stays bounded.
        rows = contract.vectorized_rows_per_call(len(x))
        out = []
        for start in range(0, len(points), rows):
            block = [point(x, *moves) for moves in points[start:start + rows]]
            if unpack:
                result = f(*[list(column) for column in zip(*block)], *args)
            else:
                try:
                    result = f(block, *args)
                except TypeError as error:  # unpack=True forgotten? Say so.
                    hint = contract.unpack_hint(error, f, len(x), args, True)
                    if hint is None:
                        raise
                    raise hint from error
            if contract.is_low_precision(result):
                seen["low_precision"] = True
            out.extend(contract.vectorized_values(result, len(block)))
        return out
    values.seen = seen
    return values


def _spread_evaluator(f, args, unpack, vectorized, engine, vector=False):
    """values(x, points) for workers=: chunks of the points, one task each
    (``_workers.evaluate_chunk`` runs f on a worker); what f returned is read
    here, in order, as the serial evaluator reads it (vector: as
    _vector_evaluator reads an f of m values)."""
    args = tuple(args)
    engine.check_sendable(f, args)
    seen = {"low_precision": False}
    state = {"m": None}

    def values(x, points):
        most = contract.vectorized_rows_per_task(len(x)) if vectorized else None
        size = engine.chunk_size(len(points), most)
        chunks = [points[start:start + size] for start in range(0, len(points), size)]
        tasks = [(f, args, unpack, vectorized, False) + _chunk_rows(x, chunk)
                 for chunk in chunks]
        out = []

        def consume(k, result):
            if vector:
                if vectorized:
                    rows, low = contract.vectorized_vector_values(result[0], len(chunks[k]),
                                                                  state["m"])
                else:
                    rows, low = [], False
                    for value in result:
                        row, row_low = contract.vector_values(value, state["m"])
                        state["m"], low = len(row), low or row_low
                        rows.append(row)
                seen["low_precision"] = seen["low_precision"] or low
                state["m"] = len(rows[0])
                out.extend(rows)
                return
            if vectorized:
                result = result[0]
                if contract.is_low_precision(result):
                    seen["low_precision"] = True
                out.extend(contract.vectorized_values(result, len(chunks[k])))
                return
            for value in result:
                if contract.is_low_precision(value):  # float32: a fixed h is too small
                    seen["low_precision"] = True
                out.append(contract.as_real(value))

        engine.run(tasks, consume)
        return out
    values.seen = seen
    values.spread = True
    return values


def _chunk_rows(x, chunk):
    """(bases, points) of a chunk for ``_workers.evaluate_chunk``: a point (i, v)
    is x with x_i = v; hessian's mixed point (i, v, j, w) is the base row x with
    x_i = v (one per run of consecutive points sharing it) with x_j = w."""
    bases, points, last = [], [], None
    for moves in chunk:
        i, v = moves[0], moves[1]
        key = None if len(moves) == 2 else (i, v, math.copysign(1.0, v))  # -0.0 is not 0.0
        if not bases or key != last:
            base = list(x)
            if key is not None:
                base[i] = v
            bases.append(base)
            last = key
        j, w = (moves[2], moves[3]) if key is not None else (i, v)
        points.append((len(bases) - 1, -1 if j is None else j, w))
    return bases, points


def _complex_evaluator(f, args, unpack, vectorized, vector=False):
    """method="complex": values(x, points) -> f's complex values at the points
    (i, z): x as a list with coordinate i replaced by the complex z (vector: a
    list of m per point)."""
    seen = {"low_precision": False}
    read = complex_step.Reader(vector)

    def point(x, i, z):
        p = list(x)
        p[i] = z
        return p

    if not vectorized:
        def values(x, points):
            out = []
            for i, z in points:
                value = complex_step.call(f, point(x, i, z), unpack, args)
                if complex_step.is_low_precision(value):
                    seen["low_precision"] = True
                out.append(read.one(value))
            return out
    else:
        def values(x, points):
            rows = contract.vectorized_rows_per_call(2 * len(x))  # complex: 2 doubles
            out = []
            for start in range(0, len(points), rows):
                block = [point(x, i, z) for i, z in points[start:start + rows]]
                argument = [list(column) for column in zip(*block)] if unpack else block
                result = complex_step.call(f, argument, unpack, args)
                if complex_step.is_low_precision(result):
                    seen["low_precision"] = True
                out.extend(read.rows(result, len(block)))
            return out
    values.seen = seen
    return values


def _complex_gradient(values, x, h, full_output):
    """method="complex" (fastgrad._complex): the gradient, or its GradientResult."""
    h = complex_step.steps(h, x)

    def at(points):
        return values(x, points)

    if not full_output:
        return complex_step.gradient(at, x, h)[0]
    g, errors, nfev, success, message = complex_step.full_output(
        at, x, h, lambda: values.seen["low_precision"])
    return GradientResult(grad=g, error=errors, nfev=nfev, success=success, message=message,
                          step=list(h))


# -- the steps ----------------------------------------------------------------

class _Steps:
    """h as the loops read it: fixed steps, or relative to x (h="auto")."""

    def __init__(self, h, row):
        self.fixed = None if h == "auto" else h  # a list, or "adaptive" (gradient() runs it)
        # h="auto": h_i = c * max(1, |x_i|), c sized for the precision f computes in
        if row is not None:
            self.c, self.c_single = auto_step(row, EPS64), auto_step(row, EPS32)

    def doubled_at(self, x):
        """The steps 2h at x (h="auto": with the constant the probe chose)."""
        return [2.0 * v for v in self.at(x)]

    def at(self, x):
        if self.fixed is not None:
            return self.fixed
        return relative_steps(x, self.c)

    def probe(self, values, x):
        """h="auto": f at x once, to learn its precision (float32 values take
        single precision's c).  Returns the evaluations made."""
        if self.fixed is not None:
            return 0
        values(x, [(None, None)])
        if values.seen["low_precision"]:
            self.c = self.c_single
        return 1

    def warn_if_imprecise(self, values):
        """A fixed h with an f that returned float32 (or lower) values: say so
        (from the caller's line)."""
        if self.fixed is not None and values.seen["low_precision"]:
            contract.warn_low_precision()


# -- the stencil (a row of _stencils.STENCILS) ----------------------------------

def _stencil(x, plan, center):
    """The points where the gradient evaluates f, in evaluation order."""
    points = [(None, None)] if center else []
    for i, (row, hi) in enumerate(plan):
        for offset in row.point_offsets:
            points.append((i, _realised(x[i], hi, offset)))
    return points


def _gradient_at(values, x, plan, center):
    """The gradient at x (whose stencil is checked), the number of evaluations,
    and f(x) if the stencil evaluated it, else None.

    center: f(x) is evaluated first (the row needs it, or bounds may)."""
    points = _stencil(x, plan, center)
    fv = values(x, points)
    return _combine(fv, x, plan, center), len(points), fv[0] if center else None


def _combine(fv, x, plan, center):
    """The gradient from f's values fv at the stencil's points (in evaluation order)."""
    first = 1 if center else 0
    per_coordinate = len(plan[0][0].point_offsets)  # the same for every side of a row
    g = []
    for i, (row, hi) in enumerate(plan):
        at = iter(fv[first + i * per_coordinate:first + (i + 1) * per_coordinate])
        total = None
        for offset, weight in zip(row.offsets, row.float_weights):
            term = weight * (fv[0] if offset == 0 else next(at))
            total = term if total is None else total + term  # 0.0 + -0.0 would lose a sign
        g.append(total / _span(x[i], hi, row))
    return g


def _checked_arguments(f, x, h, method, order, args, unpack, vectorized, stencil):
    """f, x, h, the stencil row (stencil: stencil_row or second_stencil), unpack and
    vectorized, checked in fastgrad's order."""
    f = contract.as_objective(f, args)
    x = contract.point_values(x)
    h = contract.step_values(h, len(x))
    row = stencil(contract.check_method(method), order)
    unpack = contract.check_flag(unpack, "unpack")
    vectorized = contract.check_flag(vectorized, "vectorized")
    return f, x, h, row, unpack, vectorized


def _prepare(f, x, h, method, order, args, unpack, vectorized, workers=None):
    f, x, h, row, unpack, vectorized = _checked_arguments(f, x, h, method, order, args, unpack,
                                                          vectorized, stencil_row)
    if row.imaginary:  # method="complex": h stays as given ("auto" or a list)
        complex_step.check(f, h)
        if workers is not None:
            raise contract.workers_complex()
        return _complex_evaluator(f, args, unpack, vectorized), x, h, row
    values = _evaluator(f, args, unpack, vectorized, workers)
    return values, x, _Steps(h, row), row


def _checked_gradient(values, x, steps, row, bounds=None, warn=True):
    """The gradient at x, every check first (and h="auto"'s probe of f)."""
    chosen = _check_stencil(x, steps.at(x), row, None, bounds)
    if steps.probe(values, x):
        chosen = _check_stencil(x, steps.at(x), row, None, bounds)
    g = _gradient_at(values, x, chosen, row.needs_center or bounds is not None)[0]
    if warn:
        steps.warn_if_imprecise(values)
    return g


def _adaptive(values, x, row, box, full_output):
    """h="adaptive": gradients over a geometric sequence of steps, Richardson per
    coordinate (fastgrad._accuracy.richardson)."""
    rows, levels = adaptive_steps(x, row, box)
    gradients = [_checked_gradient(values, x, _Steps(h, None), row, box, warn=False)
                 for h in levels]
    fx = values(x, [(None, None)])[0]
    grad, errors, used, success, message = richardson(gradients, levels, fx, x, rows,
                                                      values.seen["low_precision"])
    if not full_output:
        return grad
    points = row.points(len(x), box is not None)
    return GradientResult(grad=grad, error=errors, nfev=len(gradients) * points + 1,
                          success=success, message=message, step=used)


# -- the public functions -----------------------------------------------------

def gradient(f, x, h=1e-5, *, method="central", order=None, bounds=None, args=(),
             unpack=False, vectorized=False, full_output=False, workers=None):
    """Finite-difference gradient of a scalar function f at x (see fastgrad.gradient)."""
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(gradient, locals())  # back here with the engine opened
    values, x, steps, row = _prepare(f, x, h, method, order, args, unpack, vectorized,
                                     workers)
    full_output = contract.check_flag(full_output, "full_output")
    return _gradient(values, x, steps, row, bounds, full_output)


def _gradient(values, x, steps, row, bounds, full_output):
    """gradient() once its arguments are checked (also Gradient's, _prepared)."""
    box = contract.check_bounds(bounds, x)
    if row.imaginary:  # the complex step evaluates f at x + i h e_i: inside any box
        return _complex_gradient(values, x, steps, full_output)
    if steps.fixed == "adaptive":
        return _adaptive(values, x, row, box, full_output)
    if not full_output:
        return _checked_gradient(values, x, steps, row, box)
    # The gradient with steps h and 2h, then f(x): fastgrad._accuracy's estimate.
    g = _checked_gradient(values, x, steps, row, box, warn=False)
    points = row.points(len(x), box is not None)
    probe = 1 if steps.fixed is None else 0
    try:  # steps 2h as fixed steps: f's precision is known, no second probe
        g_double = _checked_gradient(values, x, _Steps(steps.doubled_at(x), None), row, box,
                                     warn=False)
    except ValueError as error:  # 2h leaves the usable range: no estimate
        g_double, bad = None, str(error)
    fx = values(x, [(None, None)])[0]
    used = plan(x, steps.at(x), row, box)
    if g_double is None:
        nfev, errors, success = points + probe + 1, [math.inf] * len(x), False
        coordinate = bad.split("x[", 1)[1].split("]", 1)[0]
        message = f"no error estimate: the doubled step has no usable stencil at x[{coordinate}]"
    else:
        nfev = 2 * points + probe + 1
        errors, success, message = estimate(g, g_double, fx, x, used,
                                            plan(x, steps.doubled_at(x), row, box),
                                            values.seen["low_precision"])
    steps.warn_if_imprecise(values)
    return GradientResult(grad=g, error=errors, nfev=nfev, success=success, message=message,
                          step=[h for _, h in used])


class Gradient(Prepared):
    """gradient() prepared for f: ``G(x)`` is ``gradient(f, x, **options)``, with f,
    h, method, order, args and the flags checked once (see fastgrad.Gradient)."""

    __slots__ = ("_h", "_n", "_row", "_bounds", "_full_output", "_args", "_unpack",
                 "_vectorized")

    _function = staticmethod(gradient)
    _defaults = GRADIENT_DEFAULTS

    def _plan(self, f, options):
        checked = checked_gradient_options(f, options, _prepared_steps, _checked_row)
        if checked is None:
            self._deferred = True
            return
        self._f, (self._h, self._n), self._row, self._unpack, self._vectorized, \
            self._full_output = checked
        # The complex step, or workers: gradient() itself.
        if self._row.imaginary or options["workers"] is not None:
            self._deferred = True
            return
        self._args = options["args"]
        self._bounds = options["bounds"]

    def __call__(self, x):
        """The gradient at x: ``gradient(f, x, **options)``."""
        if self._deferred:
            return self._public(x)
        x = contract.point_values(x)
        if self._n >= 0 and self._n != len(x):  # a sequence h of another length: its error
            return self._public(x)
        h = [self._h] * len(x) if type(self._h) is float else self._h
        values = _evaluator(self._f, self._args, self._unpack, self._vectorized)
        return _gradient(values, x, _Steps(h, self._row), self._row, self._bounds,
                         self._full_output)


def _prepared_steps(h):
    """h checked without x: a float, "auto"/"adaptive" or a list, and the n it needs."""
    n = sequence_length(h)
    values = contract.step_values(h, max(n, 1))
    return (values if n >= 0 or type(values) is str else values[0]), n


def _checked_row(method, order):
    return stencil_row(contract.check_method(method), order)


def _rows_one_by_one(f, rows, h, method, order, bounds, args, unpack, vectorized, full_output,
                     progress, workers):
    """gradient_batch as gradient(f, X[r], ...) for each row (the stencils checked)."""
    results = rows_in_turn(
        lambda r: gradient(f, rows[r], h, method=method, order=order, bounds=bounds,
                           args=args, unpack=unpack, vectorized=vectorized,
                           full_output=full_output, workers=workers),
        len(rows), batch_progress(progress, len(rows)))
    return batch_result(results, list) if full_output else results


def gradient_batch(f, X, h=1e-5, *, method="central", order=None, bounds=None, args=(),
                   unpack=False, vectorized=False, num_threads=None, full_output=False,
                   progress=False, workers=None):
    """Gradients at the rows of X, one after another (see fastgrad.gradient_batch)."""
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(gradient_batch, locals())
    f = contract.as_objective(f, args)
    rows = contract.batch_values(X)
    h = contract.step_values(h, len(rows[0]))
    row = stencil_row(contract.check_method(method), order)
    requested = contract.check_threads(num_threads, 1)  # the reference is serial
    unpack = contract.check_flag(unpack, "unpack")
    vectorized = contract.check_flag(vectorized, "vectorized")
    if num_threads is not None and requested > 1 and (
            workers is not None or not contract.compiled_tier(f, args, unpack, vectorized)):
        raise contract.threads_need_workers(requested)  # as fastgrad: never silently serial
    full_output = contract.check_flag(full_output, "full_output")
    progress = contract.check_flag(progress, "progress")
    if row.imaginary:
        complex_step.check(f, h)
    if full_output or h == "adaptive" or row.imaginary:  # row r is gradient(f, X[r], ...)
        boxes = [contract.check_bounds(bounds, x, r) for r, x in enumerate(rows)]
        _check_rows(rows, h, row, boxes)
        return _rows_one_by_one(f, rows, h, method, order, bounds, args, unpack, vectorized,
                                full_output, progress, workers)
    values = _evaluator(f, args, unpack, vectorized, workers)
    boxes = [contract.check_bounds(bounds, x, r) for r, x in enumerate(rows)]
    steps = _Steps(h, row)
    for r, x in enumerate(rows):  # every stencil is checked before f is evaluated
        _check_stencil(x, steps.at(x), row, r, boxes[r])
    if steps.probe(values, rows[0]):
        for r, x in enumerate(rows):
            _check_stencil(x, steps.at(x), row, r, boxes[r])
    center = row.needs_center or bounds is not None
    def gradient_of_row(r):
        x = rows[r]
        return _gradient_at(values, x, plan(x, steps.at(x), row, boxes[r]), center)[0]

    G = rows_in_turn(gradient_of_row, len(rows), batch_progress(progress, len(rows)))
    steps.warn_if_imprecise(values)
    return G


def gradient_descent_step(f, x, learning_rate=0.1, h=1e-5, *, method="central", order=None,
                          bounds=None, args=(), unpack=False, vectorized=False, workers=None):
    """One step x - learning_rate * gradient(f, x) (see fastgrad.gradient_descent_step)."""
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(gradient_descent_step, locals())
    values, x, steps, row = _prepare(f, x, h, method, order, args, unpack, vectorized,
                                     workers)
    if not row.imaginary and steps.fixed == "adaptive":
        raise contract.gradient_only("gradient_descent_step")
    learning_rate = contract.positive(learning_rate, "learning_rate")
    box = contract.check_bounds(bounds, x)
    if row.imaginary:
        g = _complex_gradient(values, x, steps, False)
    else:
        g = _checked_gradient(values, x, steps, row, box)
    x_new = [xi - learning_rate * gi for xi, gi in zip(x, g)]
    return x_new if box is None else contract.project(x_new, *box)


def gradient_descent(f, x0, learning_rate=0.1, *, max_iter=1000, tol=1e-6, ftol=None, h=1e-5,
                     method="central", order=None, bounds=None, optimizer=None, args=(),
                     unpack=False, vectorized=False, callback=None, record=False, state=None,
                     progress=False, workers=None):
    """Gradient descent with finite-difference gradients (see fastgrad.gradient_descent)."""
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(gradient_descent, locals())  # one pool for the whole run
    values, x, steps, row = _prepare(f, x0, h, method, order, args, unpack, vectorized,
                                     workers)
    if row.imaginary:
        raise contract.complex_descent()
    if steps.fixed == "adaptive":
        raise contract.gradient_only("gradient_descent")
    learning_rate, max_iter, tol, ftol, record = contract.check_descent(
        learning_rate, max_iter, tol, ftol, callback, record)
    progress = contract.check_flag(progress, "progress")
    optimizer = as_optimizer(optimizer)
    kind = next(c for c in type(optimizer).__mro__ if c in _RULES)  # subclasses too
    state = contract.check_state(state, kind.__name__, len(x))
    rule = _RULES[kind](optimizer, learning_rate)
    report = callback is not None and wants_intermediate_result(callback)
    if report:  # called by keyword, as scipy calls it
        callback = ByKeyword(callback)
    box = rule.box = contract.check_bounds(bounds, x)  # iterates projected onto it
    if box is not None and not rule.projects:
        raise contract.unbounded_optimizer(optimizer)
    _check_stencil(x, steps.at(x), row, None, box)
    probes = steps.probe(values, x)
    if probes:
        _check_stencil(x, steps.at(x), row, None, box)
    rule.start(len(x))
    if state is not None:
        rule.load(state.buffers)
    # f along the iterates is needed to record them, for ftol, for line searches,
    # and for an intermediate_result.
    tracking = record or ftol is not None or rule.searches or report
    shown = descent_progress(progress, max_iter)
    try:
        result = _descend(values, x, steps, row, box, rule, optimizer, max_iter, tol, ftol,
                          callback, report, shown, record, tracking, probes)
    except BaseException:
        if shown is not None:
            shown.close(shown.done_last)
        raise
    result.state = DescentState(kind.__name__, len(x),
                                result.nit if state is None else state.nit + result.nit,
                                rule.save())
    if shown is not None:
        shown.finish(result)
    return result


def _descend(values, x, steps, row, box, rule, optimizer, max_iter, tol, ftol, callback,
             report, shown, record, tracking, probes):
    """The loop of gradient_descent from x, whose stencil is checked: the DescentResult."""
    center = row.needs_center or box is not None

    def f_at(point):
        return values(point, [(None, None)])[0]

    def gradient_at(point):
        """For rules that search: (g, evaluations, f(point) or None), g None if
        point's stencil has no usable step."""
        chosen = plan(point, steps.at(point), row, box)
        if _bad_coordinate(point, chosen) is not None:
            return None, 0, None
        return _gradient_at(values, point, chosen, center)
    nit, nfev = 0, probes
    fx = None
    if tracking:
        fx, nfev = f_at(x), nfev + 1
    path, path_fun = ([list(x)], [fx]) if record else (None, None)
    stop_requested = small_change = False
    coordinate = None
    top0 = max(abs(v) for v in x)
    rising = 0  # updates in a row after which the gradient norm was larger
    rule.connect(gradient_at, center)
    g_next = None  # the gradient at x, if the rule computed it
    # updates to the next call of the callback or progress (the compiled loop's count)
    next_call = 1 if callback is not None or shown is not None else math.inf
    while True:
        if g_next is None:
            g, used, _ = _gradient_at(values, x, plan(x, steps.at(x), row, box), center)
            nfev += used
        else:
            g, g_next = g_next, None
        if not all(math.isfinite(gi) for gi in g):
            if nit == 0:
                reason, norm = Stop.START_NOT_FINITE, math.nan
                break
            # Back to the last iterate with a finite gradient, the previous one.
            x, g, fx, norm, nit = x_old, g_old, fx_old, norm_old, nit - 1
            if record:
                path.pop()
                path_fun.pop()
            reason = Stop.GRADIENT_NOT_FINITE
            break
        total = 0.0
        for gi in g:
            total += gi * gi
        norm = math.sqrt(total)
        if box is not None:  # the projected gradient: what can still move x
            norm = contract.projected_norm(x, g, *box)
        if nit > 0:
            rising = rising + 1 if norm > norm_old else 0
            next_call -= 1
            if next_call == 0:
                if callback is not None:
                    stop_requested = call_back(
                        callback, IntermediateResult(list(x), fx, list(g), nit, nfev)
                        if report else list(x))
                    next_call = 1
                if shown is not None:
                    every = shown.step(nit, nfev, norm, math.nan if fx is None else fx)
                    next_call = 1 if callback is not None else every
        if norm <= tol:
            reason = Stop.CONVERGED
            break
        if stop_requested:
            reason = Stop.CALLBACK
            break
        if small_change:
            reason = Stop.FTOL
            break
        if nit == max_iter:
            reason = Stop.MAX_ITER
            break
        x_new, f_new, evaluations = rule.propose(x, g, total, fx, f_at)
        nfev += evaluations
        if x_new is None:
            reason = rule.failure
            break
        if box is not None:  # the iterate projected onto the box
            x_new = contract.project(x_new, *box)
        if not all(math.isfinite(v) for v in x_new):
            reason = Stop.STEP_NOT_FINITE
            break
        if x_new == x:
            reason = Stop.STEP_LOST
            break
        coordinate = _bad_coordinate(x_new, plan(x_new, steps.at(x_new), row, box))
        if coordinate is not None:
            reason = Stop.STENCIL_LOST
            break
        if tracking:
            if not rule.searches:
                f_new, nfev = f_at(x_new), nfev + 1
            # f itself decides (ftol, a line search): an inf or nan f would pass
            # their tests.  Recording alone only looks on.
            if not math.isfinite(f_new) and (ftol is not None or rule.searches):
                reason = Stop.F_NOT_FINITE
                break
        x_old, g_old, fx_old, norm_old = x, g, fx, norm
        x, nit, g_next = x_new, nit + 1, rule.g_new
        if tracking:
            if ftol is not None:
                small_change = abs(fx - f_new) <= ftol * max(abs(fx), abs(f_new), 1.0)
            fx = f_new
            if record:
                path.append(list(x))  # a row of its own: result.x is not a path row
                path_fun.append(fx)

    if diverged(reason, nit, rising, max(abs(v) for v in x), top0):
        reason = Stop.DIVERGED
    if not tracking:
        fx, nfev = f_at(x), nfev + 1
    steps.warn_if_imprecise(values)
    return descent_result(reason, x, fx, g, nit, nfev, norm,
                          -1 if coordinate is None else coordinate, tol, ftol, optimizer,
                          path, path_fun)


# -- descent rules (formulas in fastgrad/_optimizers.py; _descent.pyx mirrors them) --

class _Rule:
    """How an update is made: propose(x, g, |g|^2, f(x), f_at) -> (x_new or None,
    f(x_new) if the rule evaluated it, evaluations made).  searches: the rule
    evaluates f itself (a line search); failure: the stop reason when it finds no step;
    g_new: the gradient at x_new, if the rule computed it (the loop then uses it).

    Resuming: start(n) makes a fresh state for a run in n dimensions; save()
    gives the state (DescentState.buffers: lists and floats, {} for a rule that
    starts every update afresh) and load(buffers) takes it up after start(n)."""
    searches = False
    g_new = None
    box = None  # bounds (lb, ub): gradient_descent projects the iterates onto it
    projects = True  # whether the rule works with projected iterates (bounds=)

    def __init__(self, params, lr):
        self.params, self.lr = params, lr

    def start(self, n):
        self.n = n

    def connect(self, gradient_at, center):
        """Before the first update; gradient_at(point) -> (g or None, evaluations,
        f(point) or None), for rules that need gradients at trial points (center:
        the stencil evaluates f(point), so gradient_at gives it)."""

    def save(self):
        return {}

    def load(self, buffers):
        pass

    def propose(self, x, g, g_squared, fx, f_at):
        return [xi - self.lr * gi for xi, gi in zip(x, g)], None, 0


class _SGDRule(_Rule):
    pass


class _MomentumRule(_Rule):
    def start(self, n):
        super().start(n)
        self.b = None

    def save(self):
        return {} if self.b is None else {"velocity": list(self.b)}

    def load(self, buffers):
        if "velocity" in buffers:
            self.b = [float(v) for v in buffers["velocity"]]

    def propose(self, x, g, g_squared, fx, f_at):
        p = self.params
        if self.b is None:
            b = list(g)  # torch.optim.SGD: the buffer starts as the first gradient
        else:
            b = [p.momentum * bi + (1.0 - p.dampening) * gi for bi, gi in zip(self.b, g)]
        self.b = b
        d = [gi + p.momentum * bi for gi, bi in zip(g, b)] if p.nesterov else b
        return [xi - self.lr * di for xi, di in zip(x, d)], None, 0


class _AdamRule(_Rule):
    def start(self, n):
        super().start(n)
        self.m, self.v = [0.0] * n, [0.0] * n
        self.beta1_t = self.beta2_t = 1.0

    def save(self):
        return {"m": list(self.m), "v": list(self.v), "beta1_t": self.beta1_t,
                "beta2_t": self.beta2_t}

    def load(self, buffers):
        self.m = [float(v) for v in buffers["m"]]
        self.v = [float(v) for v in buffers["v"]]
        self.beta1_t, self.beta2_t = float(buffers["beta1_t"]), float(buffers["beta2_t"])

    def propose(self, x, g, g_squared, fx, f_at):
        b1, b2 = self.params.beta1, self.params.beta2
        self.beta1_t *= b1
        self.beta2_t *= b2
        self.m = [b1 * mi + (1.0 - b1) * gi for mi, gi in zip(self.m, g)]
        self.v = [b2 * vi + (1.0 - b2) * gi * gi for vi, gi in zip(self.v, g)]
        x_new = []
        for xi, mi, vi in zip(x, self.m, self.v):
            m_hat = mi / (1.0 - self.beta1_t)
            v_hat = vi / (1.0 - self.beta2_t)
            x_new.append(xi - self.lr * m_hat / (math.sqrt(v_hat) + self.params.eps))
        return x_new, None, 0


class _ArmijoRule(_Rule):
    searches = True
    failure = Stop.LINE_SEARCH_FAILED

    def propose(self, x, g, g_squared, fx, f_at):
        """Backtracking: s = lr, shrink * s, ... until f(x - s g) <= f(x) - c s |g|^2.
        With bounds, the trial is projected, P(x - s g), and the test is
        Bertsekas': f(P(x - s g)) <= f(x) + c g.(P(x - s g) - x)."""
        s, trials = self.lr, 0
        for _ in range(self.params.max_backtracks + 1):
            trial = [xi - s * gi for xi, gi in zip(x, g)]
            if self.box is not None:
                trial = contract.project(trial, *self.box)
            if all(math.isfinite(v) for v in trial):
                f_trial = f_at(trial)
                trials += 1
                if self.box is None:
                    accept = f_trial <= fx - self.params.c * s * g_squared
                else:
                    slope = 0.0
                    for gi, ti, xi in zip(g, trial, x):
                        slope += gi * (ti - xi)
                    accept = f_trial <= fx + self.params.c * slope
                if accept:
                    return trial, f_trial, trials
            s *= self.params.shrink
        return None, None, trials


def _dot(a, b):
    """sum a_i b_i in index order."""
    total = 0.0
    for ai, bi in zip(a, b):
        total += ai * bi
    return total


def _fraction(lo, f_lo, slope_lo, hi, f_hi, slope_hi):
    """Where to try next in [lo, hi], as a fraction t of the way from lo to hi: the
    minimum of the cubic through f and the slope at both ends (Nocedal and Wright,
    eq. 3.59), or, without the slope at hi (or a minimum), of the quadratic through
    f at both and the slope at lo; kept within [0.1, 0.9]."""
    width = hi - lo
    t = None
    if slope_hi is not None:
        d1 = slope_lo + slope_hi - 3.0 * (f_lo - f_hi) / (lo - hi)
        disc = d1 * d1 - slope_lo * slope_hi
        if disc >= 0.0:
            d2 = math.copysign(math.sqrt(disc), width)
            a = hi - width * (slope_hi + d2 - d1) / (slope_hi - slope_lo + 2.0 * d2)
            t = (a - lo) / width
    if t is None:
        t = -slope_lo * width / (2.0 * (f_hi - f_lo - slope_lo * width))
    if not t >= 0.1:  # nan too
        return 0.1
    return 0.9 if t > 0.9 else t


class _LBFGSRule(_Rule):
    """L-BFGS with a strong-Wolfe line search (formulas in fastgrad/_optimizers.py)."""
    searches = True
    projects = False
    failure = Stop.WOLFE_FAILED

    def start(self, n):
        self.n = n
        self.pairs = []  # (s, y, rho), oldest first
        self.gamma = 1.0  # s.y / y.y of the newest pair

    def connect(self, gradient_at, center):
        self.gradient_at, self.center = gradient_at, center

    def save(self):
        if not self.pairs:
            return {}
        return {"s": [list(s) for s, _, _ in self.pairs],
                "y": [list(y) for _, y, _ in self.pairs],
                "rho": [rho for _, _, rho in self.pairs], "gamma": self.gamma}

    def load(self, buffers):
        if "rho" in buffers:  # the newest pairs this run's memory holds
            keep = min(len(buffers["rho"]), self.params.memory)
            rows = zip(buffers["s"], buffers["y"], buffers["rho"])
            self.pairs = [([float(v) for v in s], [float(v) for v in y], float(rho))
                          for s, y, rho in list(rows)[len(buffers["rho"]) - keep:]]
            self.gamma = float(buffers["gamma"])

    def propose(self, x, g, g_squared, fx, f_at):
        self.g_new = None
        evaluations = 0
        while True:
            if self.pairs:
                d, step = self.direction(g), 1.0
                slope = _dot(g, d)
                if not slope < 0.0:  # not a descent direction (nan included): start again
                    self.pairs = []
                    continue
            else:
                d, step, slope = [-gi for gi in g], self.lr / math.sqrt(g_squared), -g_squared
            found, used = self.search(x, fx, d, slope, step, f_at)
            evaluations += used
            if found is not None or not self.pairs:
                break
            self.pairs = []  # no step along the L-BFGS direction: try -g
        if found is None:
            return None, None, evaluations
        x_new, f_new, g_new = found
        s = [xn - xi for xn, xi in zip(x_new, x)]
        y = [gn - gi for gn, gi in zip(g_new, g)]
        sy, yy = _dot(s, y), _dot(y, y)
        if sy > 2.220446049250313e-16 * yy:  # curvature that keeps H positive definite
            if len(self.pairs) == self.params.memory:
                self.pairs.pop(0)
            self.pairs.append((s, y, 1.0 / sy))
            self.gamma = sy / yy
        self.g_new = g_new
        return x_new, f_new, evaluations

    def direction(self, g):
        """-H g by the two-loop recursion."""
        q = list(g)
        alphas = []
        for s, y, rho in reversed(self.pairs):
            alpha = rho * _dot(s, q)
            q = [qi - alpha * yi for qi, yi in zip(q, y)]
            alphas.append(alpha)
        r = [self.gamma * qi for qi in q]
        for (s, y, rho), alpha in zip(self.pairs, reversed(alphas)):
            beta = rho * _dot(y, r)
            r = [ri + (alpha - beta) * si for ri, si in zip(r, s)]
        return [-ri for ri in r]

    def search(self, x, fx, d, slope, step, f_at):
        """A step along d satisfying the strong Wolfe conditions: ((x_new, f, g) or
        None, evaluations).  Nocedal and Wright's algorithms 3.5 and 3.6 in one loop:
        [lo, hi] brackets a step once hi is known (lo: the best step with
        sufficient decrease so far); until then the step doubles."""
        c1, c2 = self.params.c1, self.params.c2
        lo, f_lo, slope_lo = 0.0, fx, slope
        hi = f_hi = slope_hi = None
        evaluations = 0
        for _ in range(self.params.max_linesearch):
            trial = [xi + step * di for xi, di in zip(x, d)]
            f_trial = g_trial = None
            if all(math.isfinite(v) for v in trial):
                if self.center:
                    g_trial, used, f_trial = self.gradient_at(trial)
                    evaluations += used
                else:
                    f_trial, evaluations = f_at(trial), evaluations + 1
            if f_trial is None or not math.isfinite(f_trial):
                f_trial = math.inf
            if f_trial > fx + c1 * step * slope or f_trial >= f_lo:
                hi, f_hi, slope_hi = step, f_trial, None
                if (g_trial is not None and math.isfinite(f_trial)
                        and all(math.isfinite(v) for v in g_trial)):
                    slope_hi = _dot(g_trial, d)  # known for free (method="forward")
            else:
                if g_trial is None:
                    g_trial, used, _ = self.gradient_at(trial)
                    evaluations += used
                if g_trial is None or not all(math.isfinite(v) for v in g_trial):
                    hi, f_hi, slope_hi = step, math.inf, None
                else:
                    slope_trial = _dot(g_trial, d)
                    if abs(slope_trial) <= -c2 * slope:
                        return (trial, f_trial, g_trial), evaluations
                    if hi is None:
                        if slope_trial >= 0.0:
                            hi, f_hi, slope_hi = lo, f_lo, slope_lo
                    elif slope_trial * (hi - lo) >= 0.0:
                        hi, f_hi, slope_hi = lo, f_lo, slope_lo
                    lo, f_lo, slope_lo = step, f_trial, slope_trial
            if hi is None:
                step = 2.0 * step
            else:
                width = hi - lo
                step = lo + _fraction(lo, f_lo, slope_lo, hi, f_hi, slope_hi) * width
                if step == lo or step == hi:
                    break
        return None, evaluations


#: The rule for each optimizer class (fastgrad._api has the same table of compiled rules).
_RULES = {SGD: _SGDRule, Momentum: _MomentumRule, Adam: _AdamRule, Armijo: _ArmijoRule,
          LBFGS: _LBFGSRule}


# -- second derivatives: hessian and hessian_vector (rows of _stencils.SECOND) --------

def _second_prepare(f, x, h, method, order, args, unpack, vectorized, name):
    """The checked arguments of hessian / hessian_vector, in fastgrad's order, and
    make(workers): their evaluator (workers: f and args checked to travel)."""
    f, x, h, row, unpack, vectorized = _checked_arguments(f, x, h, method, order, args, unpack,
                                                          vectorized, second_stencil)
    if h == "adaptive" and name != "hessian":
        raise contract.second_rule_only(name)
    return (lambda workers: _evaluator(f, args, unpack, vectorized, workers)), x, h, row


def _second_steps(x, h, row, c, box=None):
    """h_i (a list, or h_i = c * max(1, |x_i|) with h None: h="auto"); the
    choices (row, step) per coordinate -- row itself, or within the bounds box
    the side that fits (_stencils.plan on the second rows' sides); the
    realised steps r_i (_stencils.realised_step); and the first coordinate with
    no room, whose realised step is 0 or not finite, or one of whose points is
    not finite, else None."""
    steps = [c * max(1.0, abs(xi)) for xi in x] if h is None else h
    choices = plan(x, steps, row, box)
    r = []
    for i, (xi, choice) in enumerate(zip(x, choices)):
        if choice is None:
            return steps, choices, r, i
        side, hi = choice
        ri = realised_step(xi, hi, side)
        if ri == 0.0 or not math.isfinite(ri) or \
                not all(math.isfinite(xi + o * hi) for o in side.offsets):
            return steps, choices, r, i
        r.append(ri)
    return steps, choices, r, None


def _sum(terms, total=None):
    """w_0 v_0 + w_1 v_1 + ..., left to right (the first term starts the sum,
    or total does)."""
    for w, v in terms:
        total = w * v if total is None else total + w * v
    return total


def _hessian_at(values, x, h, auto, row, vectorized, box=None):
    """(H, f(x), the steps h_i, the choices) with steps h (a list) or, h None,
    h="auto"'s constants auto = (c, c_single); within bounds box each
    coordinate's side of row.  Or (None, None, steps,
    choices, bad coordinate) if the steps are unusable (nothing evaluated then).

    Row i's points: for each offset a of its row, x with x_i moved by a h_i,
    then (a one of its first p offsets) that point with x_j moved by b h_j for
    j > i and the first p offsets b of j's row.  A one-sided row's mixed terms
    with x_i unmoved (the last of its first-derivative row) are j's diagonal
    points: added to H_ij once row j is evaluated.
    """
    n = len(x)
    steps, choices, r, bad = _second_steps(x, h, row, None if auto is None else auto[0],
                                           box)
    if bad is not None:
        return None, None, steps, choices, bad
    fx = values(x, [(None, None)])[0]
    if auto is not None and values.seen["low_precision"]:  # float32 values: its constant
        steps, choices, r, bad = _second_steps(x, None, row, auto[1], box)
        if bad is not None:
            return None, None, steps, choices, bad
    rows = [side for side, _ in choices]
    used = [hi for _, hi in choices]
    p = row.order  # every side's first-derivative row has p moved points
    per_call = contract.vectorized_rows_per_call(n) if vectorized else 0
    if getattr(values, "spread", False):  # workers: as fastgrad's MapEvaluator, one block
        per_call = 1 << 30
    counts = [second_row_points(rows, i) for i in range(n)]
    H = [[0.0] * n for _ in range(n)]
    for i0, i1 in second_blocks(counts, per_call):
        points = []
        for i in range(i0, i1):
            for t, a in enumerate(rows[i].offsets):
                xa = x[i] + a * used[i]
                points.append((i, xa))
                if t < p:
                    for j in range(i + 1, n):
                        for b in rows[j].offsets[:p]:
                            points.append((i, xa, j, x[j] + b * used[j]))
        fv = values(x, points)
        start = 0
        for i in range(i0, i1):
            stride = 1 + p * (n - 1 - i)  # the points of one of the first p offsets
            at = fv[start:start + counts[i]]
            start += counts[i]
            slot = {o: t for t, o in enumerate(rows[i].offsets)}
            H[i][i] = _sum((w, fx if o == 0 else at[slot[o] * stride])
                           for o, w in rows[i].diagonal) / (r[i] * r[i])
            for k in range(i):  # rows k < i whose terms with x_k unmoved wait for these
                if rows[k].method != "central":
                    w0 = rows[k].first_terms[-1][1]
                    total = _sum(((float(w0 * w), fx if b == 0 else at[slot[b] * stride])
                                  for b, w in rows[i].first_terms), H[k][i])
                    H[k][i] = H[i][k] = total / (r[k] * r[i])
            for j in range(i + 1, n):
                first = 1 + (j - i - 1) * p
                terms = []
                for a, b, w in second_mixed(rows[i], rows[j]):
                    if a == 0:
                        break  # the last terms: added once row j is evaluated
                    ta = slot[a] * stride
                    terms.append((w, at[ta] if b == 0 else at[ta + first + rows[j].offsets.index(b)]))
                total = _sum(terms)
                if rows[i].method == "central":
                    H[i][j] = H[j][i] = total / (r[i] * r[j])
                else:
                    H[i][j] = total
    return H, fx, used, choices, None


def hessian(f, x, h=1e-4, *, method="central", order=None, bounds=None, args=(),
            unpack=False, vectorized=False, full_output=False, workers=None):
    """The (n, n) Hessian of f at x, exactly symmetric (see fastgrad.hessian).

    Evaluation order: f(x); then for i = 0..n-1, for each offset a of the row
    (+1, -1, +2, -2, ...): x with x_i moved by a h_i, then for j = i+1..n-1
    and each offset b: x with x_i moved by a h_i and x_j by b h_j.  A
    vectorized f gets the rows of _stencils.second_blocks in one call each.
    Within bounds a coordinate's row may be one-sided (_stencils.plan over
    SECOND_SIDES; _hessian_at).  full_output: the Hessian again with steps 2h
    (fastgrad._accuracy's estimate).  h="adaptive": _adaptive_hessian.
    """
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(hessian, locals())  # back here with the engine opened
    make, x, h, row = _second_prepare(f, x, h, method, order, args, unpack, vectorized,
                                      "hessian")
    full_output = contract.check_flag(full_output, "full_output")
    box = contract.check_bounds(bounds, x)
    values = make(workers)
    if h == "adaptive":
        return _adaptive_hessian(values, x, row, vectorized, box, full_output)
    auto = (second_auto_step(row, EPS64), second_auto_step(row, EPS32)) if h == "auto" \
        else None
    fixed = None if auto is not None else h
    H, fx, steps, choices, bad = _hessian_at(values, x, fixed, auto, row, vectorized, box)
    if bad is not None:
        raise contract.second_stencil_error(x, steps, choices, bad, box)
    if auto is None and values.seen["low_precision"]:
        contract.warn_low_precision()
    if not full_output:
        return H
    n = len(x)
    nfev = second_points([side for side, _ in choices])
    doubled = None if fixed is None else [2.0 * v for v in fixed]
    twice = None if auto is None else (2.0 * auto[0], 2.0 * auto[1])
    H_double, _, _, choices_double, bad = _hessian_at(values, x, doubled, twice, row,
                                                      vectorized, box)
    if bad is not None:  # 2h leaves the usable range: no estimate
        errors = [[math.inf] * n for _ in range(n)]
        return HessianResult(hess=H, error=errors, nfev=nfev, success=False,
                             message=no_hessian_estimate(bad), step=steps)
    nfev += second_points([side for side, _ in choices_double])
    errors, success, message = estimate_hessian(H, H_double, fx, x, choices, choices_double,
                                                values.seen["low_precision"])
    return HessianResult(hess=H, error=errors, nfev=nfev, success=success,
                         message=message, step=steps)


def _adaptive_hessian(values, x, row, vectorized, box, full_output):
    """h="adaptive": Hessians over a geometric sequence of steps, Richardson per
    entry (fastgrad._accuracy.hessian_richardson); each level's steps checked
    just before its points are evaluated.  Within bounds each coordinate keeps
    one side over the whole sequence (_accuracy.adaptive_steps starts each
    where plan() picks that side at every level)."""
    rows, levels = adaptive_steps(x, row, box)
    hessians, fx = [], None
    for steps in levels:
        H, value, steps, choices, bad = _hessian_at(values, x, steps, None, row, vectorized,
                                                    box)
        if bad is not None:
            raise contract.second_stencil_error(x, steps, choices, bad, box)
        fx = value if fx is None else fx
        hessians.append(H)
    H, errors, used, success, message = hessian_richardson(hessians, levels, fx, x, rows,
                                                           values.seen["low_precision"])
    if not full_output:
        return H
    return HessianResult(hess=H, error=errors, nfev=len(levels) * second_points(rows),
                         success=success, message=message, step=used)


def hessian_vector(f, x, v, h=1e-5, *, method="central", order=None, args=(), unpack=False,
                   vectorized=False, workers=None):
    """H(x) @ v without forming H (see fastgrad.hessian_vector).

    The gradient's central row of order p along v: with s = min over v_j != 0
    of h_j / |v_j| (no coordinate moves farther than its step) and the
    first-derivative weights w_a of the row's offsets a,

        H v = (sum_a w_a * gradient(f, x + (a s) v, h)) / s

    evaluated gradient by gradient in the row's order (p**2 n evaluations;
    h="auto" one more, f(x) first).  v = 0 gives zeros without evaluating f.
    """
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(hessian_vector, locals())  # back here with the engine opened
    make, x, h, row = _second_prepare(f, x, h, method, order, args, unpack, vectorized,
                                      "hessian_vector")
    v = contract.direction_values(v, len(x))
    values = make(workers)
    first = stencil_row("central", row.order)
    c = second_auto_step(row, EPS64)
    steps = [c * max(1.0, abs(xi)) for xi in x] if h == "auto" else h
    if all(vi == 0.0 for vi in v):
        return [0.0] * len(x)
    bases = _direction_points(x, v, steps, row, first)
    if h == "auto":
        values(x, [(None, None)])
        if values.seen["low_precision"]:
            c = second_auto_step(row, EPS32)
            steps = [c * max(1.0, abs(xi)) for xi in x]
            bases = _direction_points(x, v, steps, row, first)
    s = bases[0][0]
    gradients = [_gradient_at(values, base, plan(base, steps, first), False)[0]
                 for _, base in bases]
    Hv = []
    for i in range(len(x)):
        Hv.append(_sum((w, g[i]) for w, g in zip(row.float_first, gradients)) / s)
    if h != "auto" and values.seen["low_precision"]:
        contract.warn_low_precision()
    return Hv


def _direction_points(x, v, steps, row, first):
    """[(s, x + (a s) v) for a in the row's offsets], every point's gradient
    stencil checked (the ValueError naming the first bad coordinate)."""
    s = min(hi / abs(vi) for hi, vi in zip(steps, v) if vi != 0.0)
    bases = []
    for a in row.offsets:
        t = a * s
        base = [xi + t * vi for xi, vi in zip(x, v)]
        for i, (xi, vi, bi) in enumerate(zip(x, v, base)):
            if not math.isfinite(bi):
                raise ValueError(contract.direction_step_too_small(i, xi, s, vi))
        _check_stencil(base, steps, first)
        bases.append((s, base))
    return bases


class Hessian(Prepared):
    """A prepared Hessian: Hessian(f, **options)(x) == hessian(f, x, **options)
    (see fastgrad.Hessian); the options are checked here, in fastgrad's order."""

    _function = staticmethod(hessian)
    _defaults = HESSIAN_DEFAULTS

    def _plan(self, f, options):
        workers, h = options["workers"], options["h"]
        if workers is not None:
            _workers.Engine(workers)  # its checks (a pool is made only when tasks run)
        self._f = contract.as_objective(f, options["args"])
        if contract.is_real(h) or isinstance(h, str):
            contract.step_values(h, 1)  # a sequence is checked against each x's length
        second_stencil(contract.check_method(options["method"]), options["order"])
        contract.check_flag(options["unpack"], "unpack")
        contract.check_flag(options["vectorized"], "vectorized")

    def __call__(self, x):
        return self._public(x)

# -- more derivatives: jacobian, derivative, check_grad --------------------------

def _vector_evaluator(f, args, unpack, vectorized, workers=None):
    """As _evaluator, for an f returning m values: values(x, points) -> [[m floats]
    per point]; values.m is the m of f's first value (None before)."""
    if workers is not None:
        return _spread_evaluator(f, args, unpack, vectorized, workers, vector=True)
    seen = {"low_precision": False}
    state = {"m": None}

    def point(x, i, v):
        p = list(x)
        if i is not None:
            p[i] = v
        return p

    def note(low):
        if low:
            seen["low_precision"] = True

    if not vectorized:
        def values(x, points):
            out = []
            for i, v in points:
                p = point(x, i, v)
                result = f(*p, *args) if unpack else f(p, *args)
                row, low = contract.vector_values(result, state["m"])
                note(low)
                state["m"] = len(row)
                out.append(row)
            return out
    else:
        def values(x, points):
            rows = contract.vectorized_rows_per_call(len(x))
            out = []
            for start in range(0, len(points), rows):
                block = [point(x, i, v) for i, v in points[start:start + rows]]
                if unpack:
                    result = f(*[list(column) for column in zip(*block)], *args)
                else:
                    result = f(block, *args)
                got, low = contract.vectorized_vector_values(result, len(block), state["m"])
                note(low)
                state["m"] = len(got[0])
                out.extend(got)
            return out
    values.seen = seen
    return values


def _jacobian_at(f, x, h, method, order, bounds, args, unpack, vectorized, full_output,
                 vector=True, workers=None):
    """(f(x) as a list of m, J as m lists of n): jacobian's checks in fastgrad's order,
    f(x) first, then the stencil's points without f(x); workers an opened Engine."""
    f, row, unpack, vectorized, full_output = contract.jacobian_options(
        f, h, method, order, args, unpack, vectorized, full_output, workers, _checked_row)
    x = contract.point_values(x)
    if row.method == "complex":  # f at x + i h e_i (fastgrad._complex): no f(x)
        h = contract.step_values(h, len(x))
        contract.check_bounds(bounds, x)
        values = _complex_evaluator(f, args, unpack, vectorized, vector=True)
        return None, complex_step.jacobian(lambda points: values(x, points), x,
                                           complex_step.steps(h, x))
    steps = _Steps(contract.step_values(h, len(x)), row)
    box = contract.check_bounds(bounds, x)
    center = row.needs_center or box is not None
    if vector:
        values = _vector_evaluator(f, args, unpack, vectorized, workers)
    else:
        scalar = _evaluator(f, args, unpack, vectorized, workers)

        def values(x, points):
            return [[v] for v in scalar(x, points)]
        values.seen = scalar.seen
    if steps.fixed == "adaptive":
        return _adaptive_jacobian(values, x, row, box, center, full_output)
    chosen = _check_stencil(x, steps.at(x), row, None, box)
    f0 = values(x, [(None, None)])[0]
    if steps.fixed is None and values.seen["low_precision"]:
        steps.c = steps.c_single
        chosen = _check_stencil(x, steps.at(x), row, None, box)
    J = _jacobian_combined(values, x, chosen, center, f0)
    if full_output:
        J = _jacobian_result(values, x, steps, row, box, center, f0, J)
    steps.warn_if_imprecise(values)
    return f0, J


def _jacobian_combined(values, x, chosen, center, f0):
    """J from f(x) = f0 and the other points of the stencil `chosen` (evaluated here)."""
    points = _stencil(x, chosen, center)
    fv = ([f0] if center else []) + values(x, points[1 if center else 0:])
    return [_combine([v[r] for v in fv], x, chosen, center) for r in range(len(f0))]


def _adaptive_jacobian(values, x, row, box, center, full_output):
    """h="adaptive": Jacobians over gradient's geometric sequence of steps (each
    f(x) first, as fastgrad's kernel), Richardson per entry (fastgrad._accuracy)."""
    rows, levels = adaptive_steps(x, row, box)
    jacobians = []
    for level in levels:
        chosen = _check_stencil(x, level, row, None, box)
        f0 = values(x, [(None, None)])[0]
        jacobians.append(_jacobian_combined(values, x, chosen, center, f0))
    J, errors, used, success, message = jacobian_richardson(
        jacobians, levels, f0, x, rows, values.seen["low_precision"])
    if not full_output:
        return f0, J
    once = 1 + len(x) * len(row.point_offsets)  # f(x), then the stencil without it
    return f0, JacobianResult(jac=J, error=errors, nfev=len(levels) * once, success=success,
                              message=message, step=used)


def _jacobian_result(values, x, steps, row, box, center, f0, J):
    """The JacobianResult of J: the Jacobian again with steps 2h (f(x) first, as
    fastgrad's kernel), fastgrad._accuracy's estimate per output row."""
    once = 1 + len(x) * len(row.point_offsets)  # f(x), then the stencil without it
    used = plan(x, steps.at(x), row, box)
    step = [h for _, h in used]
    try:
        chosen = _check_stencil(x, steps.doubled_at(x), row, None, box)
    except ValueError as error:  # 2h leaves the usable range: no estimate
        coordinate = int(str(error).split("x[", 1)[1].split("]", 1)[0])
        return JacobianResult(jac=J, error=[[math.inf] * len(x) for _ in J], nfev=once,
                              success=False, message=no_estimate(coordinate), step=step)
    J_double = _jacobian_combined(values, x, chosen, center, values(x, [(None, None)])[0])
    errors, success, message = jacobian_estimate(J, J_double, f0, x, used,
                                                 plan(x, steps.doubled_at(x), row, box),
                                                 values.seen["low_precision"])
    return JacobianResult(jac=J, error=errors, nfev=2 * once, success=success,
                          message=message, step=step)


def jacobian(f, x, h=1e-5, *, method="central", order=None, bounds=None, args=(),
             unpack=False, vectorized=False, full_output=False, workers=None):
    """Finite-difference Jacobian (m lists of n floats) of a vector-valued f at x
    (see fastgrad.jacobian)."""
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(jacobian, locals())  # back here with the engine opened
    return _jacobian_at(f, x, h, method, order, bounds, args, unpack, vectorized,
                        full_output, workers=workers)[1]


def derivative(f, x, h=1e-5, *, method="central", order=None, args=(), workers=None):
    """Elementwise derivative (see fastgrad.derivative): a float for a real x,
    else nested lists of x's shape.  f is called with one float per element."""
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(derivative, locals())  # back here with the engine opened
    contract.check_callable(f, args)
    row = stencil_row(contract.check_method(method), order)
    h = contract.derivative_steps(h)
    xs, shape = contract.derivative_point(x)
    if row.method == "complex":  # f(x_j + i h_j) per element, combined by fastgrad._complex
        complex_step.check(f, h)
        if workers is not None:
            raise contract.workers_complex()
        steps = complex_step.steps(h if h == "auto" else [h] * len(xs), xs)
        values = _complex_evaluator(f, args, True, False)  # f(z) as f(*[z])
        g = complex_step.combine(values([0.0], [(0, z) for _, z in
                                                complex_step.points(xs, steps)]), steps)
        return _shaped(g, shape)
    def usable(c):
        """The steps (c: h="auto"'s constant, or None for a fixed h), or the error
        for a step that rounds away."""
        steps = [h] * len(xs) if c is None else [c * max(1.0, abs(xi)) for xi in xs]
        bad = _bad_coordinate(xs, [(row, hi) for hi in steps])
        if bad is not None:
            raise ValueError(contract.step_too_small(bad, xs[bad], steps[bad]))
        return steps
    steps = usable(auto_step(row, EPS64) if h == "auto" else None)
    low = []  # f returned float32 (or lower) values: a fixed h warns, as gradient's

    def real(value):
        if not low and contract.is_low_precision(value):
            low.append(True)
        return contract.as_real(value)
    spread = None
    if workers is not None:  # the same calls, in the same order: f(v) as f(*[v]) on the workers
        spread = _spread_evaluator(f, args, True, False, workers)

    def run(points):
        """f at each point, in order (read as real numbers, float32 noted)."""
        if spread is None:
            return [real(f(v, *args)) for v in points]
        got = spread([0.0], [(0, v) for v in points])
        if spread.seen["low_precision"]:
            low.append(True)
        return got
    fx = None
    if h == "auto":  # f at x first, to learn its precision (as gradient's "auto")
        fx = run(xs)
        if low:
            steps = usable(auto_step(row, EPS32))
        if not row.needs_center:
            fx = None
    center = row.needs_center and fx is None
    offsets = [0] * center + list(row.point_offsets)
    got = run([xi if o == 0 else _realised(xi, hi, o) for o in offsets
               for xi, hi in zip(xs, steps)])
    runs = [got[k * len(xs):(k + 1) * len(xs)] for k in range(len(offsets))]
    if center:
        fx = runs[0]
    values = dict(zip(row.point_offsets, runs[center:]))
    g = []
    for j, (xi, hi) in enumerate(zip(xs, steps)):
        total = None
        for offset, weight in zip(row.offsets, row.float_weights):
            term = weight * (fx[j] if offset == 0 else values[offset][j])
            total = term if total is None else total + term
        g.append(total / _span(xi, hi, row))
    if low and h != "auto":
        contract.warn_low_precision()
    return _shaped(g, shape)


def _shaped(g, shape):
    """derivative's values (a flat list) in x's shape: a float for a real x."""
    if shape is None:
        return g[0]
    for size in reversed(shape[1:]):
        g = [g[k:k + size] for k in range(0, len(g), size)]
    return g


def check_grad(f, grad, x, *, h="auto", method="central", order=None, direction="all",
               seed=None, args=(), workers=None):
    """The distance of grad(x) from the finite-difference gradient (see fastgrad.check_grad)."""
    if workers is not None and type(workers) is not _workers.Engine:
        return _workers.spread(check_grad, locals())  # back here with the engine opened
    contract.check_callable(f, args)
    if not callable(grad):
        raise TypeError(f"grad must be callable, got {contract.describe(grad)}")
    direction = contract.check_direction(direction)
    seed = contract.check_seed(seed)
    x = contract.point_values(x)
    if workers is not None:  # before grad runs
        workers.check_sendable(f, args)
    analytic = contract.grad_values(grad(list(x), *args), len(x))
    if direction == "all":
        g = gradient(f, x, h, method=method, order=order, args=args, workers=workers)
        return contract.difference_norm(analytic, g)
    v = contract.random_direction(len(x), seed)
    slope = gradient(_Along(f, x, v), [0.0], h, method=method, order=order, args=args,
                     workers=workers)[0]
    return abs(contract.dot(analytic, v) - slope)


class _Along:
    """t -> f(x + t[0] * v, *args): check_grad's f along its direction (a class,
    so that it pickles for workers= wherever f does)."""

    def __init__(self, f, x, v):
        self.f, self.x, self.v = f, x, v

    def __call__(self, t, *args):
        return self.f([xi + t[0] * vi for xi, vi in zip(self.x, self.v)], *args)


class Jacobian(Prepared):
    """A prepared Jacobian (see fastgrad.Jacobian): the options checked once,
    here, in jacobian()'s order; x, h and bounds at each call."""

    _function = staticmethod(jacobian)
    _defaults = GRADIENT_DEFAULTS  # jacobian's options are gradient's

    def __init__(self, f, h=1e-5, **options):
        super().__init__(f, h=h, **options)  # h by position too, as jacobian() takes it

    def _plan(self, f, options):
        contract.jacobian_options(f, options["h"], options["method"], options["order"],
                                  options["args"], options["unpack"], options["vectorized"],
                                  options["full_output"], options["workers"], _checked_row)
        contract.number_step(options["h"])  # as Gradient: a number now, the rest per call

    def __call__(self, x):
        return self._public(x)


__all__ += ["jacobian", "derivative", "check_grad", "Jacobian", "JacobianResult"]
