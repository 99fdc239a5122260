"""The values the grader works with: Exercise (a validated file), Case (one student call)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping

import numpy as np

from grader.sandbox.limits import Limits


@dataclass(frozen=True)
class Tolerance:
    """Per element: |s - r| <= rtol*|r| + atol*S with S = max(1, max|r|) over the case."""
    rtol: float = 1e-3
    atol: float = 1e-4

    def __str__(self) -> str:
        return self.text

    @cached_property
    def text(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g} (scaled by max(1, max|expected|))"


@dataclass(frozen=True)
class Exercise:
    id: str
    kind: str
    title: str
    entries: tuple[str, ...]
    spec: Mapping[str, Any]                   # the kind's own keys, as loaded
    description: str = ""
    points: float = 1.0
    tolerance: Tolerance = Tolerance()
    seed: int = 0
    limits: Limits = Limits()
    hints: tuple[str, ...] = ()
    visibility: str = "visible"
    path: str = ""
    lines: Mapping[str, int] = field(default_factory=dict)   # key -> line in the file
    variants: bool = False                    # random inputs differ per student (grader batch)

    def line_of(self, key: str) -> int | None:
        return self.lines.get(key)

    @property
    def default_cases(self) -> tuple | None:
        """The cases built with the default seed when the file was loaded (None if not built)."""
        return self.__dict__.get("_default_cases")

    def remember_default_cases(self, cases: list) -> None:
        object.__setattr__(self, "_default_cases", tuple(cases))   # a cache, not part of the value


def exercise_rng(exercise: Exercise, seed: int | None = None, student: str | None = None) -> np.random.Generator:
    """Random inputs depend on the exercise seed, the --seed option and, for variants, the student."""
    parts = [exercise.seed]
    if seed is not None:
        parts.append(seed)
    if student is not None:
        parts += list(student.encode("utf-8"))
    return np.random.default_rng(parts)


@dataclass(frozen=True)
class Case:
    """One call of a student function with its inputs and the reference answer (parent only)."""
    label: str
    entry: str
    args: tuple                                # plain data: float64 arrays, floats, FunctionRef
    arg_names: tuple[str, ...]
    expected: Any                              # float64 array, or a tuple of arrays
    tolerance: Tolerance = Tolerance()
    context: Mapping[str, Any] = field(default_factory=dict)   # alternatives for diagnosis
    visibility: str = "visible"

    def __post_init__(self) -> None:
        # the reference is compared with every student's answer: nothing may change it afterwards
        # (and the comparison caches what it derives from it, grader.compare._reference)
        for part in self.expected if isinstance(self.expected, tuple) else (self.expected,):
            if isinstance(part, np.ndarray):
                part.setflags(write=False)

    @cached_property
    def expected_shape(self) -> list[int]:
        """The shape of the answer (of its first value when a tuple is expected)."""
        return list(np.shape(self.expected[0] if isinstance(self.expected, tuple) else self.expected))

    @cached_property
    def arguments(self) -> dict[str, Any]:
        """The inputs by name (shared by every check of this case: read, never change)."""
        return dict(zip(self.arg_names, self.args))

    @cached_property
    def inputs_text(self) -> str:
        """`describe_inputs()`, computed once per case (it is shown for every student)."""
        return self.describe_inputs()

    def describe_inputs(self, limit: int = 6) -> str:
        parts = []
        for name, value in zip(self.arg_names, self.args):
            parts.append(f"{name}={format_value(value, limit)}")
        return ", ".join(parts)


def format_value(value: Any, limit: int = 6) -> str:
    """A short, readable rendering of an input or an answer."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return f"{float(value):.6g}"
        flat = value.ravel()
        body = ", ".join(f"{v:.4g}" for v in flat[:limit])
        more = ", ..." if flat.size > limit else ""
        return f"array(shape={value.shape}: [{body}{more}])" if value.ndim > 1 else f"[{body}{more}]"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v, limit) for v in value) + "]"
    return str(value)
