"""Diagnoses of shape mistakes: a transposed answer, a broadcastable or reshaped wrong shape."""
from __future__ import annotations

import numpy as np

from grader_plugins.diagnose_base import answer_name, explains, wrt_name


def transposed(exercise, case, expected, got, tolerance) -> str | None:
    """The transpose of the answer (a non-square shape swapped, or a square matrix mirrored)."""
    if expected.ndim != 2 or got.shape != expected.T.shape or expected.shape == expected.T.shape and \
            np.allclose(expected, expected.T):
        return None
    if not explains(expected.T, got, tolerance):
        return None
    shapes = f"shape {got.shape} instead of {expected.shape}" if got.shape != expected.shape else "a mirrored matrix"
    return (f"you returned the transpose of {answer_name(exercise)} ({shapes}): check the order of the "
            f"matrix product, or whether a matrix belongs there transposed (W.T instead of W)")


def wrong_shape(exercise, case, expected, got, tolerance) -> str | None:
    """Right numbers in the wrong layout, or a shape numpy would silently broadcast."""
    if got.shape == expected.shape:
        return None
    must = _must_have(exercise, expected.shape)
    if got.size == expected.size and explains(expected.ravel(), got.ravel(), tolerance):
        return (f"your numbers are right but arranged in shape {got.shape}; {must}: "
                f"reshape, or keep the array's shape instead of flattening it")
    try:
        np.broadcast_shapes(got.shape, expected.shape)
    except ValueError:
        return None
    return (f"your answer has shape {got.shape}, which numpy would broadcast against {expected.shape}, "
            f"but {must}" + (": did you sum over an axis (or use keepdims) where you should not?"
                            if got.size < expected.size else ""))


def _must_have(exercise, shape: tuple) -> str:
    wrt = wrt_name(exercise)
    if exercise.kind == "matrix_gradient" and wrt:
        return f"{answer_name(exercise)} must have exactly the shape of {wrt}, {shape}"
    return f"the answer must have exactly the shape {shape}" + (f" (the shape of {wrt})" if wrt else "")
