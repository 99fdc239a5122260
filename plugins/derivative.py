"""Kind `derivative`: the student returns f'(x) elementwise, for a fixed f or one handed to them."""
from __future__ import annotations

from grader import hookimpl, numeric
from grader.exercise import Case
from grader.expr import parse
from grader.kinds import (COMMON_KIND_KEYS, FormulaKind, array, definition_error, parse_formula,
                          student_function_text)


class DerivativeKind(FormulaKind):
    name = "derivative"
    description = "f'(x) elementwise, for a fixed formula f or a function passed to the student"
    keys = {
        "function": "the formula f in x whose derivative the student computes (omit with function_arg)",
        "function_arg": "the parameter that receives f as a numpy callable (e.g. func)",
        "point_arg": "the parameter that receives the points x (default x)",
        **COMMON_KIND_KEYS,
    }

    def default_args(self, exercise):
        spec = exercise.spec
        point = spec.get("point_arg", "x")
        return [spec["function_arg"], point] if spec.get("function_arg") else [point]

    def validate(self, exercise, functions):
        spec = exercise.spec
        if "function" not in spec and "function_arg" not in spec:
            raise definition_error(exercise, "function",
                                   "give the formula (function: sigmoid(x)) or the parameter that receives "
                                   "it (function_arg: func)")
        if "function" in spec:
            formula = parse_formula(exercise, "function", spec["function"], functions)
            if not formula.variables <= {"x"}:
                raise definition_error(exercise, "function",
                                       f"the formula may only use the variable x, not "
                                       f"{', '.join(sorted(formula.variables - {'x'}))}")
        super().validate(exercise, functions)
        point = spec.get("point_arg", "x")
        if point not in self.args(exercise):
            raise definition_error(exercise, "point_arg", f"'{point}' is not one of args")

    def build_cases(self, exercise, functions, rng):
        spec = exercise.spec
        point, function_arg = spec.get("point_arg", "x"), spec.get("function_arg")
        entry = exercise.entries[0]
        cases = []
        values_list = self.case_inputs(exercise, rng)
        self.check_function_values(exercise, functions, values_list)
        for label, values, visibility in values_list:
            text = student_function_text(str(values[function_arg]), functions) if function_arg else str(spec["function"])
            formula = parse(text, registry=functions)
            x = values[point]
            expected = numeric.derivative(formula, x)
            alternatives = {f"the function {text} itself instead of its derivative": array(formula.evaluate(x=array(x)))}
            if function_arg:   # the student writes the difference quotient: its one-sided forms
                h, at = 1e-3, array(x)
                f = lambda v: array(formula.evaluate(x=v))  # noqa: E731
                alternatives["a one-sided difference (f(x + delta) - f(x)) / delta instead of the central "
                             "difference (f(x + delta) - f(x - delta)) / (2 * delta)"] = (f(at + h) - f(at)) / h
                alternatives["a one-sided difference (f(x) - f(x - delta)) / delta instead of the central "
                             "difference (f(x + delta) - f(x - delta)) / (2 * delta)"] = (f(at) - f(at - h)) / h
            context = {"alternatives": alternatives}
            args = tuple(values[name] for name in self.args(exercise))
            cases.append(Case(label=label, entry=entry, args=args, arg_names=tuple(self.args(exercise)),
                              expected=expected, tolerance=exercise.tolerance, context=context,
                              visibility=visibility))
        self.check_references(exercise, cases)
        return cases


@hookimpl
def grader_register_kinds(registry):
    registry.add(DerivativeKind())
