"""A third-party grader plugin: the `jacobian` exercise kind (the full matrix of partial derivatives
of a vector-valued formula) and the `gelu` function of the expression language."""
from __future__ import annotations

import math

import numpy as np

from grader import hookimpl
from grader.exercise import Case
from grader.functions import Function
from grader.gradient_kind import GradientKind
from grader.kinds import array, definition_error

_C = math.sqrt(2 / math.pi)


def gelu(x):
    """GELU, tanh approximation; np.tanh continues analytically to complex input (complex step)."""
    return 0.5 * x * (1 + np.tanh(_C * (x + 0.044715 * x ** 3)))


def gelu_prime(x):
    t = np.tanh(_C * (x + 0.044715 * x ** 3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _C * (1 + 3 * 0.044715 * x ** 2)


class JacobianKind(GradientKind):
    """J[i, j] = d f_i / d x_j for a formula f of a 1-D input x (other inputs held fixed)."""

    name = "jacobian"
    description = "the Jacobian matrix J[i, j] = d f_i / d x_j of a vector-valued formula"

    def validate(self, exercise, functions):
        super().validate(exercise, functions)
        if not isinstance(exercise.spec["wrt"], str):
            raise definition_error(exercise, "wrt", "a jacobian is taken with respect to one input")

    def build_cases(self, exercise, functions, rng):
        (wrt,) = self.wrt(exercise)
        args, cases = self.args(exercise), []
        for label, values, visibility in self.case_inputs(exercise, rng):
            formula = self.formula_for(exercise, functions, values)
            numbers = {name: array(v) for name, v in values.items() if name in formula.variables}
            x = numbers[wrt]
            if x.ndim != 1:
                raise definition_error(exercise, "cases", f"{label}: '{wrt}' must be a 1-D array")
            expected = self.jacobian(exercise, functions, values, wrt, numbers)
            alternatives = {"the transposed Jacobian (rows and columns swapped)": expected.T} \
                if expected.shape[0] == expected.shape[1] else {}
            cases.append(Case(label=label, entry=exercise.entries[0],
                              args=tuple(values[name] for name in args), arg_names=tuple(args),
                              expected=expected, tolerance=exercise.tolerance,
                              context={"alternatives": alternatives}, visibility=visibility))
        self.check_references(exercise, cases)
        return cases

    def jacobian(self, exercise, functions, values: dict, wrt: str, numbers: dict) -> np.ndarray:
        """Row i is the gradient of f_i: reverse mode on sum(f * e_i), one row per output."""
        from grader.expr import parse
        out = np.atleast_1d(self.formula_for(exercise, functions, values).evaluate(**numbers))
        if out.ndim != 1:
            raise definition_error(exercise, "function", f"the formula must give a 1-D vector, not shape {out.shape}")
        aliases = self.function_args(values)
        rows = parse(f"sum(({exercise.spec['function']}) * jacobian_row)", aliases=aliases, registry=functions)
        inputs = {k: v for k, v in numbers.items() if k in rows.variables}
        return np.array([rows.gradient(wrt, **inputs, jacobian_row=np.eye(out.size)[i])
                         for i in range(out.size)], dtype=np.float64)


@hookimpl
def grader_register_functions(registry):
    registry.add(Function("gelu", "x * Phi(x), tanh approximation", gelu, gelu_prime))


@hookimpl
def grader_register_kinds(registry):
    registry.add(JacobianKind())
