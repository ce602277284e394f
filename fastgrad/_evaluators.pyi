from typing import Any, Callable

class Evaluator:
    low_precision: bool

class PythonEvaluator(Evaluator):
    def __init__(self, f: Callable[..., Any], args: tuple[Any, ...], n: int, unpack: bool) -> None: ...

class VectorizedEvaluator(Evaluator):
    def __init__(self, f: Callable[..., Any], args: tuple[Any, ...], n: int, unpack: bool,
                 rows_per_call: int) -> None: ...

class CompiledEvaluator(Evaluator):
    def __init__(self, objective: Any) -> None: ...
