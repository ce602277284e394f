from typing import Any, Callable

class Evaluator:
    low_precision: bool
    m: int
    vector: bool
    def expect_vector(self) -> None: ...

class PythonEvaluator(Evaluator):
    def __init__(self, f: Callable[..., Any], args: tuple[Any, ...], n: int, unpack: bool) -> None: ...

class VectorizedEvaluator(Evaluator):
    def __init__(self, f: Callable[..., Any], args: tuple[Any, ...], n: int, unpack: bool,
                 rows_per_call: int) -> None: ...

class CompiledEvaluator(Evaluator):
    def __init__(self, objective: Any) -> None: ...

class MapEvaluator(Evaluator):
    def __init__(self, engine: Any, f: Callable[..., Any], args: tuple[Any, ...], n: int,
                 unpack: bool, vectorized: bool, rows_per_call: int) -> None: ...
    def consume(self, i: int, result: list[Any]) -> None: ...
