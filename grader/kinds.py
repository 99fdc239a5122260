"""What an exercise kind is, and the shared machinery of the built-in, formula-based kinds.

A kind (registered through `grader_register_kinds`) has a `name`, a `description`, `keys` (its
extra YAML keys with one-line help), `required` keys, and two methods:
  validate(exercise, functions)          raise DefinitionError (use `definition_error`)
  build_cases(exercise, functions, rng)  -> list[Case]: inputs as plain data + reference answers
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

from grader import inputs as input_values
from grader.errors import DefinitionError, GraderError
from grader.exercise import Case, Exercise
from grader.transport import FunctionRef

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")

COMMON_KIND_KEYS = {
    "args": "the student function's parameters, in order (names used in cases and formulas)",
    "cases": "list of fixed cases, each a mapping from parameter name to value",
    "random": "list of generated cases: {count: N, <param>: value or {uniform|normal|linspace: ...}}",
}


def definition_error(exercise: Exercise, field: str, message: str) -> DefinitionError:
    top = field.split(".")[0].split("[")[0]
    return DefinitionError(message, file=exercise.path or None, line=exercise.line_of(top), field=field)


def parse_formula(exercise: Exercise, field: str, text: object, functions, aliases=None):
    """Parse a formula of the file; a bad one is reported at its field and line."""
    from grader.expr import parse
    try:
        return parse(str(text), aliases=aliases, registry=functions)
    except DefinitionError as exc:
        raise definition_error(exercise, field, getattr(exc, "message", str(exc))) from None


def student_function_text(ref: str, functions) -> str:
    """A function reference as a formula in x: `sigmoid` -> `sigmoid(x)`, a formula stays."""
    return f"{ref}(x)" if ref in functions else ref


def is_usable_function(ref: str, functions) -> bool:
    """A registered name, or a formula whose only free variable is x."""
    if ref in functions:
        return True
    from grader.expr import parse
    try:
        return parse(ref, registry=functions).variables <= {"x"}
    except GraderError:
        return False


class FormulaKind:
    """Base of the built-in kinds: `args`, fixed `cases` and seeded `random` cases."""

    name = ""
    description = ""
    keys: Mapping[str, str] = {}
    required: tuple[str, ...] = ()
    multiple_entries = False

    # ---- inputs ---------------------------------------------------------------------------------

    def args(self, exercise: Exercise) -> list[str]:
        return list(exercise.spec.get("args") or self.default_args(exercise))

    def default_args(self, exercise: Exercise) -> list[str]:
        return ["x"]

    def case_inputs(self, exercise: Exercise, rng: np.random.Generator) -> list[tuple[str, dict, str]]:
        """(label, {param: value}, visibility) for every fixed and generated case."""
        args = self.args(exercise)
        found = []
        for index, case in enumerate(exercise.spec.get("cases") or []):
            found.append((f"case {index + 1}", self._values(exercise, f"cases[{index}]", case, args, rng),
                          str(case.get("visibility", exercise.visibility))))
        counter = 0
        for index, template in enumerate(exercise.spec.get("random") or []):
            count = template.get("count", 1)
            body = {k: v for k, v in template.items() if k not in ("count", "visibility")}
            for _ in range(count):
                counter += 1
                found.append((f"random case {counter}",
                              self._values(exercise, f"random[{index}]", body, args, rng),
                              str(template.get("visibility", exercise.visibility))))
        return found

    def _values(self, exercise: Exercise, field: str, case: Any, args: list[str],
                rng: np.random.Generator) -> dict:
        if not isinstance(case, dict):
            raise definition_error(exercise, field, "a case is a mapping from parameter name to value")
        if "visibility" in case and case["visibility"] not in VISIBILITIES:
            from grader.errors import did_you_mean
            raise definition_error(exercise, f"{field}.visibility",
                                   f"one of {', '.join(VISIBILITIES)}{did_you_mean(str(case['visibility']), VISIBILITIES)}")
        extra = set(case) - set(args) - {"visibility"}
        if extra:
            name = sorted(extra)[0]
            from grader.errors import did_you_mean
            raise definition_error(exercise, f"{field}.{name}",
                                   f"'{name}' is not a parameter{did_you_mean(name, args)}; "
                                   f"the parameters are {', '.join(args)}")
        values = {}
        for arg in args:
            if arg not in case:
                raise definition_error(exercise, field, f"missing a value for parameter '{arg}'")
            try:
                values[arg] = input_values.resolve(case[arg], rng)
            except input_values.InputError as exc:
                raise definition_error(exercise, f"{field}.{arg}", str(exc)) from None
        return values

    # ---- validation -----------------------------------------------------------------------------

    def validate(self, exercise: Exercise, functions) -> None:
        spec = exercise.spec
        for key in self.required:
            if key not in spec:
                raise definition_error(exercise, key, f"the {self.name} kind needs '{key}': {self.keys[key]}")
        args = self.args(exercise)
        if not isinstance(args, list) or not all(isinstance(a, str) and a.isidentifier() for a in args):
            raise definition_error(exercise, "args", "a list of parameter names, e.g. [X, W, sigma]")
        for key in ("cases", "random"):
            if key in spec and not isinstance(spec[key], list):
                raise definition_error(exercise, key, f"'{key}' must be a list")
        for index, template in enumerate(spec.get("random") or []):
            count = template.get("count", 1) if isinstance(template, dict) else None
            if type(count) is not int or not 1 <= count <= 1000:
                raise definition_error(exercise, f"random[{index}].count", "an integer from 1 to 1000")
        if not spec.get("cases") and not spec.get("random"):
            raise definition_error(exercise, "cases", "an exercise needs at least one case "
                                   "('cases' or 'random')")

    def check_references(self, exercise: Exercise, cases: Iterable[Case]) -> None:
        """Every reference is finite: an exercise whose answer is inf or NaN cannot grade anyone."""
        for case in cases:
            parts = case.expected if isinstance(case.expected, tuple) else (case.expected,)
            for part in parts:
                if not np.all(np.isfinite(part)):
                    raise definition_error(exercise, "cases",
                                           f"the reference answer is not finite for {case.label} "
                                           f"({case.describe_inputs()}): choose other inputs")

    def function_args(self, values: dict) -> dict[str, str]:
        return {name: str(v) for name, v in values.items() if isinstance(v, FunctionRef)}

    def check_function_values(self, exercise: Exercise, functions, cases_values) -> None:
        for label, values, _ in cases_values:
            for name, value in values.items():
                unknown = input_values.check_function_names(value, lambda ref: is_usable_function(ref, functions))
                if unknown:
                    from grader.errors import did_you_mean
                    raise definition_error(exercise, "cases",
                                           f"{label}: '{unknown[0]}' for parameter '{name}' is not a known "
                                           f"function{did_you_mean(unknown[0], list(functions))}")


def array(value: Any) -> np.ndarray:
    return np.array(value, dtype=np.float64)
