"""Shared base of the `partial_derivative` and `matrix_gradient` kinds: the gradient of a formula
with respect to one or more of the student's parameters; function parameters (sigma) bind per case."""
from __future__ import annotations

import re

from grader import numeric
from grader.exercise import Case
from grader.expr import parse
from grader.kinds import COMMON_KIND_KEYS, FormulaKind, array, definition_error, parse_formula


class GradientKind(FormulaKind):
    required = ("function", "wrt", "args")
    keys = {
        "function": "the formula; a function parameter is called by its name, e.g. sum(sigma(X @ W))",
        "wrt": "the parameter(s) to differentiate with respect to",
        **COMMON_KIND_KEYS,
    }

    def wrt(self, exercise) -> list[str]:
        wrt = exercise.spec["wrt"]
        return [wrt] if isinstance(wrt, str) else list(wrt)

    def validate(self, exercise, functions):
        super().validate(exercise, functions)
        args = self.args(exercise)
        wrt = exercise.spec["wrt"]
        if not (isinstance(wrt, str) or (isinstance(wrt, list) and wrt and all(isinstance(w, str) for w in wrt))):
            raise definition_error(exercise, "wrt", "a parameter name or a list of them")
        for name in self.wrt(exercise):
            if name not in args:
                raise definition_error(exercise, "wrt", f"'{name}' is not one of args ({', '.join(args)})")
        # stand-ins for the function parameters (the names called in the formula, e.g. sigma)
        called = set(re.findall(r"([A-Za-z_]\w*)\s*\(", str(exercise.spec["function"])))
        aliases = {a: "sin" for a in args if a in called}
        formula = parse_formula(exercise, "function", exercise.spec["function"], functions, aliases)
        unknown = formula.variables - set(args)
        if unknown:
            raise definition_error(exercise, "function",
                                   f"the formula uses {', '.join(sorted(unknown))}, which is not among args")

    def formula_for(self, exercise, functions, values):
        aliases = {name: str(v) for name, v in self.function_args(values).items()}
        return parse(str(exercise.spec["function"]), aliases=aliases, registry=functions)

    def build_cases(self, exercise, functions, rng):
        values_list = self.case_inputs(exercise, rng)
        self.check_function_values(exercise, functions, values_list)
        cases = []
        args = self.args(exercise)
        for label, values, visibility in values_list:
            formula = self.formula_for(exercise, functions, values)
            numbers = {name: array(v) for name, v in values.items() if name in formula.variables}
            try:
                grads = tuple(numeric.gradient(formula, name, **numbers) for name in self.wrt(exercise))
            except Exception as exc:
                raise definition_error(exercise, "function", f"{label}: {exc}") from None
            expected = grads if isinstance(exercise.spec["wrt"], list) else grads[0]
            context = self.context(exercise, functions, values, numbers, expected)
            cases.append(Case(label=label, entry=exercise.entries[0],
                              args=tuple(values[name] for name in args), arg_names=tuple(args),
                              expected=expected, tolerance=exercise.tolerance, context=context,
                              visibility=visibility))
        self.check_references(exercise, cases)
        return cases

    def context(self, exercise, functions, values, numbers, expected) -> dict:
        return {}
