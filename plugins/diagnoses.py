"""Built-in mistake diagnoses: each names a mistake only when it explains the answer within tolerance.

The `grader_diagnose` hook below tries the diagnoses of the `diagnose_*` modules in order, most
specific first, and reports the first that explains a failed case. A tuple answer (partial
derivatives) is diagnosed as a whole (swapped order, a whole-tuple mistake the kind knows) and
then component by component.
"""
from __future__ import annotations

from itertools import permutations

import numpy as np

from grader import hookimpl
from grader_plugins.diagnose_base import explains
from grader_plugins.diagnose_domain import partly_right
from grader_plugins.diagnose_shape import transposed, wrong_shape
from grader_plugins.diagnose_values import constant_factor, named_alternative, sign_flipped

# most specific first: a kind's named mistake beats "2 times" (sigma'(N) can be a constant too)
ARRAY_DIAGNOSES = (named_alternative, transposed, wrong_shape, sign_flipped, constant_factor, partly_right)


def diagnose_array(exercise, case, expected: np.ndarray, got: np.ndarray, tolerance) -> str | None:
    """The first diagnosis that explains one array answer, or None."""
    for diagnosis in ARRAY_DIAGNOSES:
        text = diagnosis(exercise, case, expected, got, tolerance)
        if text:
            return text
    return None


@hookimpl
def grader_diagnose(exercise, case, expected, got, tolerance):
    """Transposes, shapes, named alternatives, signs, constant factors, partial domains, tuples."""
    if isinstance(expected, tuple) or isinstance(got, tuple):
        return diagnose_tuple(exercise, case, expected, got, tolerance)
    return diagnose_array(exercise, case, np.asarray(expected), np.asarray(got), tolerance)


def diagnose_tuple(exercise, case, expected, got, tolerance) -> str | None:
    if not (isinstance(expected, tuple) and isinstance(got, tuple)) or len(expected) != len(got):
        return None
    names = _component_names(exercise, len(expected))
    alternatives = (case.context or {}).get("alternatives") or {}
    for description, alternative in alternatives.items():
        if isinstance(alternative, tuple) and len(alternative) == len(got) and \
                all(explains(a, g, tolerance) for a, g in zip(alternative, got)):
            return f"your answer matches {description}"
    if len(expected) <= 3:
        for order in permutations(range(len(expected))):
            if order != tuple(range(len(expected))) and \
                    not all(explains(expected[i], e, tolerance) for i, e in zip(order, expected)) and \
                    all(explains(expected[i], g, tolerance) for i, g in zip(order, got)):
                return (f"the partial derivatives are in the wrong order: you returned "
                        f"({', '.join(names[i] for i in order)}), the order asked for is ({', '.join(names)})")
    wrong = [i for i, (e, g) in enumerate(zip(expected, got)) if not explains(e, g, tolerance)]
    parts = []
    for i in wrong:
        component_alternatives = {d: a[i] for d, a in alternatives.items()
                                  if isinstance(a, tuple) and len(a) == len(expected)}
        text = (named_alternative(exercise, case, expected[i], got[i], tolerance, component_alternatives)
                or diagnose_array(exercise, case, expected[i], got[i], tolerance))
        if text:
            parts.append(f"value {i + 1} ({names[i]}): {text}")
    right = [names[i] for i in range(len(expected)) if i not in wrong]
    if right and wrong:
        parts.insert(0, f"only {', '.join(names[i] for i in wrong)} is wrong; {', '.join(right)} is right")
    return "; ".join(parts) or None


def _component_names(exercise, count: int) -> list[str]:
    wrt = exercise.spec.get("wrt")
    if isinstance(wrt, list) and len(wrt) == count:
        return [f"d/d{name}" for name in wrt]
    return [f"value {i + 1}" for i in range(count)]
