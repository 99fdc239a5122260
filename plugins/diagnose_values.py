"""Diagnoses of the values: a named mistake the kind computed, a flipped sign, a constant factor."""
from __future__ import annotations

import numpy as np

from grader_plugins.diagnose_base import answer_name, explains, significant

# factors students hit, with the mistake that usually produces them
_NICE_FACTORS = {
    2.0: "did you divide by delta instead of 2*delta in the central difference?",
    0.5: "did you divide by 2*delta where the two points are only delta apart, or by 4*delta?",
    4.0: "", 0.25: "", 3.0: "", 1 / 3: "", 10.0: "", 0.1: "",
    1000.0: "did you divide by delta twice?", 0.001: "did you multiply by delta instead of dividing?",
}


def named_alternative(exercise, case, expected, got, tolerance, alternatives=None) -> str | None:
    """A mistake the kind knows for this case (the function for its derivative, a missing factor)."""
    if alternatives is None:
        alternatives = (case.context or {}).get("alternatives") or {}
    for description, alternative in alternatives.items():
        if alternative is None or isinstance(alternative, tuple):
            continue                       # whole-tuple alternatives are the tuple diagnosis's job
        alternative = np.asarray(alternative, dtype=np.float64)
        if alternative.shape == expected.shape and explains(alternative, expected, tolerance):
            continue                       # the same as the right answer for this case: names nothing
        if explains(alternative, got, tolerance):
            return f"your answer matches {description}"
    return None


def sign_flipped(exercise, case, expected, got, tolerance) -> str | None:
    if got.shape != expected.shape or significant(expected, tolerance) == 0:
        return None
    if explains(-expected, got, tolerance):
        return (f"your answer has the opposite sign of {answer_name(exercise)}: check a subtraction's "
                f"order or a minus sign")
    return None


def constant_factor(exercise, case, expected, got, tolerance) -> str | None:
    """got = c * expected for one c; arbitrary c only when enough elements pin it down."""
    if got.shape != expected.shape or not np.all(np.isfinite(got)):
        return None
    norm = float(np.dot(expected.ravel(), expected.ravel()))
    if norm == 0:
        return None
    factor = float(np.dot(expected.ravel(), got.ravel())) / norm
    if not np.isfinite(factor) or factor == 0 or abs(factor - 1) < 1e-3 or abs(factor + 1) < 1e-3:
        return None
    nice = next((n for n in _NICE_FACTORS if abs(factor / n - 1) < 1e-3), None)
    if nice is None and significant(expected, tolerance) < 2:
        return None                        # one number fits any factor: that explains nothing
    factor = nice if nice is not None else factor
    if not explains(factor * expected, got, tolerance):
        return None
    text = f"your answer is {factor:.6g} times {answer_name(exercise)}"
    if nice is not None and _NICE_FACTORS[nice]:
        text += ": " + _NICE_FACTORS[nice]
    return text
