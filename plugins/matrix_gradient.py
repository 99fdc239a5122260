"""Kind `matrix_gradient`: dL/dX for matrix expressions such as sum(sigma(X @ W))."""
from __future__ import annotations

import re

import numpy as np

from grader import hookimpl, numeric
from grader.expr import parse
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
        if reduction is None and g in ("sum", "mean"):    # sum(X @ W): no elementwise function
            reduction, g = g, None
        g_name = str(values.get(g, g)) if g else None
        if left not in numbers or right not in numbers or wrt not in (left, right):
            return {}
        A, B = numbers[left], numbers[right]
        N = A @ B
        dg = numeric.derivative(f"{g_name}(x)", N) if g_name else np.ones_like(N)
        gN = parse(f"{g_name}(x)", registry=functions).evaluate(x=N) if g_name else N
        scale = 1.0 / N.size if reduction == "mean" else 1.0
        ones = np.ones_like(N)
        d_name = f"{g}'(N)" if g else "ones"       # dL/dN as the student writes it
        alternatives = {}
        if wrt == left:
            if g:
                alternatives[f"ones @ {right}.T: the derivative of {g} is missing (the factor {g}'({left} @ {right}))"] = \
                    scale * ones @ B.T
                alternatives[f"{g}(N) @ {right}.T: {g} itself where its derivative {g}' belongs"] = \
                    scale * gN @ B.T
            alternatives[f"{right} @ {d_name}.T: {right} used where {right}.T belongs, which gives the transpose "
                         f"of dL/d{left}"] = scale * B @ dg.T
            if dg.shape[1] == B.shape[0] and B.shape[1] == A.shape[1]:
                alternatives[f"{d_name} @ {right}: {right} used where {right}.T belongs"] = scale * dg @ B
        else:
            if g:
                alternatives[f"{left}.T @ ones: the derivative of {g} is missing (the factor {g}'({left} @ {right}))"] = \
                    scale * A.T @ ones
                alternatives[f"{left}.T @ {g}(N): {g} itself where its derivative {g}' belongs"] = \
                    scale * A.T @ gN
            alternatives[f"{d_name}.T @ {left}: {left} used where {left}.T belongs, which gives the transpose "
                         f"of dL/d{right}"] = scale * dg.T @ A
        return {"alternatives": alternatives}


@hookimpl
def grader_register_kinds(registry):
    registry.add(MatrixGradientKind())
