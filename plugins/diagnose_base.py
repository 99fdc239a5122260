"""Shared helpers of the built-in diagnoses: when a candidate explains an answer, and what to call it."""
from __future__ import annotations

import numpy as np

from grader.compare import tolerance_scale, within_tolerance


def explains(candidate, got: np.ndarray, tolerance) -> bool:
    """True when `got` equals `candidate` within the case's tolerance (same shape, finite)."""
    candidate = np.asarray(candidate, dtype=np.float64)
    return within_tolerance(candidate, got, tolerance)


def significant(expected: np.ndarray, tolerance) -> int:
    """How many reference elements are clearly non-zero: a factor fitted to fewer explains nothing."""
    return int(np.count_nonzero(np.abs(expected) > 10 * tolerance.atol * tolerance_scale(expected)))


def wrt_name(exercise) -> str | None:
    """The input the answer is the derivative with respect to, as the exercise names it."""
    spec = exercise.spec
    wrt = spec.get("wrt")
    if isinstance(wrt, str):
        return wrt
    if isinstance(wrt, list):
        return None
    return str(spec.get("point_arg", "x"))


def answer_name(exercise) -> str:
    """What the student computes, in the course's notation: dL/dX for a matrix gradient."""
    if exercise.kind == "matrix_gradient" and wrt_name(exercise):
        return f"dL/d{wrt_name(exercise)}"
    return "the derivative"
