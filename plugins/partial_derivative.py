"""Kind `partial_derivative`: the partial derivatives of a multi-input function, returned as a tuple."""
from __future__ import annotations

import numpy as np

from grader import hookimpl
from grader.gradient_kind import GradientKind


class PartialDerivativeKind(GradientKind):
    name = "partial_derivative"
    description = "partial derivatives of a function of several inputs, returned as a tuple in wrt order"

    def context(self, exercise, functions, values, numbers, expected):
        # swapped components are diagnosed generically; here the mistakes only the formula knows
        if not isinstance(expected, tuple):
            return {}
        value = np.asarray(self.formula_for(exercise, functions, values).evaluate(**numbers), dtype=np.float64)
        try:
            itself = tuple(np.broadcast_to(value, part.shape).copy() for part in expected)
        except ValueError:
            return {}
        return {"alternatives": {f"the function {exercise.spec['function']} itself instead of its "
                                 f"partial derivatives": itself}}


@hookimpl
def grader_register_kinds(registry):
    registry.add(PartialDerivativeKind())
