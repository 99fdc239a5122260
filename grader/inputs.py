"""Input values of exercise files: numbers, arrays, seeded random draws and function names."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from grader.transport import FunctionRef

MAX_ELEMENTS = 1_000_000
RANDOM_KEYS = {"uniform", "normal", "linspace", "integers"}


class InputError(ValueError):
    """A value spec that cannot be turned into an input; the message says what is expected."""


def _shape(spec: dict) -> tuple[int, ...]:
    shape = spec.get("shape", [])
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = [shape]
    if not isinstance(shape, list) or not all(type(n) is int and n > 0 for n in shape):
        raise InputError("'shape' must be a list of positive integers, e.g. [3, 4]")
    if int(np.prod(shape, dtype=np.int64)) > MAX_ELEMENTS:
        raise InputError(f"'shape' {shape} has more than {MAX_ELEMENTS} elements")
    return tuple(shape)


def _pair(spec: dict, key: str) -> tuple[float, float]:
    value = spec[key]
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise InputError(f"'{key}' must be a list of two numbers, e.g. {key}: [-2, 2]")
    return float(value[0]), float(value[1])


def _random_value(spec: dict, rng: np.random.Generator) -> Any:
    unknown = set(spec) - RANDOM_KEYS - {"shape"}
    kinds = RANDOM_KEYS & set(spec)
    if unknown or len(kinds) != 1:
        raise InputError("a generated value is a mapping with exactly one of uniform: [low, high], "
                         "normal: [mean, std], linspace: [start, stop, count], integers: [low, high]"
                         " and an optional shape: [...]")
    (kind,) = kinds
    if kind == "linspace":
        value = spec["linspace"]
        if (not isinstance(value, list) or len(value) != 3 or type(value[2]) is not int
                or not 1 <= value[2] <= MAX_ELEMENTS):
            raise InputError("'linspace' must be [start, stop, count], e.g. linspace: [-3, 3, 7]")
        return np.linspace(float(value[0]), float(value[1]), value[2])
    shape = _shape(spec)
    low, high = _pair(spec, kind)
    if kind == "uniform":
        if not low < high:
            raise InputError("'uniform' needs low < high")
        drawn = rng.uniform(low, high, size=shape)
    elif kind == "normal":
        if high < 0:
            raise InputError("'normal' needs a non-negative standard deviation")
        drawn = rng.normal(low, high, size=shape)
    else:
        drawn = rng.integers(int(low), int(high), size=shape, endpoint=True).astype(np.float64)
    return float(drawn) if shape == () else drawn


def resolve(spec: Any, rng: np.random.Generator) -> Any:
    """The input a spec stands for: float, float64 array, FunctionRef or list of FunctionRef."""
    if isinstance(spec, bool):
        raise InputError("true/false is not a number")
    if isinstance(spec, (int, float)):
        return float(spec)
    if isinstance(spec, str):
        return FunctionRef(spec)
    if isinstance(spec, dict):
        return _random_value(spec, rng)
    if isinstance(spec, list):
        if spec and all(isinstance(item, str) for item in spec):
            return [FunctionRef(item) for item in spec]
        try:
            array = np.array(spec, dtype=np.float64)
        except (ValueError, TypeError):
            raise InputError("a list must hold numbers (nested lists of equal length for a matrix) "
                             "or function names") from None
        if array.size > MAX_ELEMENTS:
            raise InputError(f"more than {MAX_ELEMENTS} elements")
        if any(isinstance(item, bool) for item in np.array(spec, dtype=object).ravel()):
            raise InputError("true/false is not a number")
        return array
    raise InputError(f"cannot use a {type(spec).__name__} as an input value")


def check_function_names(value: Any, is_known: Callable[[str], bool]) -> list[str]:
    """Function references in a value that name nothing known."""
    refs = [value] if isinstance(value, FunctionRef) else (
        [v for v in value if isinstance(v, FunctionRef)] if isinstance(value, list) else [])
    return [str(ref) for ref in refs if not is_known(str(ref))]
