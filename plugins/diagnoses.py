"""Built-in mistake diagnoses: each names a mistake only when it explains the answer within tolerance."""
from __future__ import annotations

import numpy as np

from grader import hookimpl
from grader.compare import compare_arrays


def _explains(candidate: np.ndarray, got: np.ndarray, tolerance) -> bool:
    candidate = np.asarray(candidate, dtype=np.float64)
    return candidate.shape == got.shape and compare_arrays(candidate, got, tolerance).passed


@hookimpl
def grader_diagnose(case, expected, got, tolerance):
    """Shape mistakes, transposes, sign flips, constant factors, and the kind's named alternatives."""
    if isinstance(expected, tuple):
        return None
    if got.shape != expected.shape:
        if expected.ndim == 2 and got.shape == expected.T.shape and _explains(expected.T, got, tolerance):
            return "you returned the transpose of the answer: check the order of the matrix product"
        try:
            np.broadcast_shapes(got.shape, expected.shape)
            return (f"your answer has shape {got.shape}, which numpy would broadcast, but the answer must "
                    f"have exactly the shape {expected.shape} (the shape of the input it is taken with "
                    f"respect to)")
        except ValueError:
            return None
    if not np.all(np.isfinite(got)):
        return None
    for description, alternative in (case.context.get("alternatives") or {}).items():
        if _explains(alternative, got, tolerance):
            return f"your answer matches {description}"
    if np.any(expected != 0) and _explains(-expected, got, tolerance):
        return "your answer has the opposite sign of the derivative"
    return _constant_factor(expected, got, tolerance)


def _constant_factor(expected, got, tolerance):
    norm = float(np.dot(expected.ravel(), expected.ravel()))
    if norm == 0 or expected.size < 2 and abs(float(expected.ravel()[0])) < 1e-12:
        return None
    factor = float(np.dot(expected.ravel(), got.ravel())) / norm
    if abs(factor - 1) < 1e-3 or factor == 0 or not np.isfinite(factor):
        return None
    if not _explains(factor * expected, got, tolerance):
        return None
    for nice in (2.0, 0.5, 4.0, 0.25, 3.0, 1 / 3, 10.0, 0.1, 1000.0, 0.001):
        if abs(factor / nice - 1) < 1e-3:
            factor = nice
            break
    text = f"your answer is {factor:.6g} times the derivative"
    if factor == 2.0:
        text += ": did you divide by delta instead of 2*delta in the central difference?"
    elif factor == 0.5:
        text += ": did you divide by 2*delta for a one-sided difference, or by 4*delta?"
    return text
