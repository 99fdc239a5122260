"""Kind `matrix_gradient`: dL/dX for matrix expressions such as sum(sigma(X @ W))."""
from __future__ import annotations

import re

import numpy as np

from grader import hookimpl, numeric
from grader.gradient_kind import GradientKind

# red(g(A @ B)) or g(A @ B): the course's shapes, for which common mistakes can be named
_PATTERN = re.compile(r"^\s*(?:(sum|mean)\s*\()?\s*(\w+)\s*\(\s*(\w+)\s*@\s*(\w+)\s*\)\s*\)?\s*$")


class MatrixGradientKind(GradientKind):
    name = "matrix_gradient"
    description = "the gradient of a matrix expression with respect to one matrix, shaped like it"

    def context(self, exercise, functions, values, numbers, expected):
        match = _PATTERN.match(str(exercise.spec["function"]))
        wrt = self.wrt(exercise)[0]
        if not match or isinstance(expected, tuple):
            return {}
        reduction, g, left, right = match.groups()
        if (reduction is None) != (str(exercise.spec["function"]).count("(") == 1):
            return {}
        g_name = str(values.get(g, g))
        if left not in numbers or right not in numbers or wrt not in (left, right):
            return {}
        A, B = numbers[left], numbers[right]
        N = A @ B
        dg = numeric.derivative(f"{g_name}(x)", N)
        scale = 1.0 / N.size if reduction == "mean" else 1.0
        alternatives = {}
        if wrt == left:
            alternatives[f"the derivative of {g} is missing: ones @ {right}.T without {g}'({left} @ {right})"] = \
                scale * np.ones_like(N) @ B.T
            if dg.shape[1] == B.shape[0] and B.shape[1] == A.shape[1]:
                alternatives[f"{right} used where {right}.T belongs: {g}'(N) @ {right}"] = scale * dg @ B
        else:
            alternatives[f"the derivative of {g} is missing: {left}.T @ ones without {g}'({left} @ {right})"] = \
                scale * A.T @ np.ones_like(N)
        return {"alternatives": alternatives}


@hookimpl
def grader_register_kinds(registry):
    registry.add(MatrixGradientKind())
