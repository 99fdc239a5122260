"""Turning a student's answer into float64 data and comparing it with the reference (DESIGN.md rule).

Numbers are computed into a structured `Comparison`, then rendered; nothing parses numpy's text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader.exercise import Tolerance
from grader.transport import Opaque


class AnswerError(ValueError):
    """The answer is not numeric data at all (None, a string, an object): an error, not a mismatch."""


class WrongStructure(AnswerError):
    """Numbers, but not in the structure asked for (one array where a tuple is due): a wrong answer."""


_FLOAT64 = np.dtype(np.float64)
_INF = float("inf")


def _looks_numeric(value: Any) -> bool:
    if isinstance(value, (float, complex, np.ndarray)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_looks_numeric(v) for v in value)
    return False


def to_array(value: Any) -> np.ndarray:
    """A float64 array from decoded plain data (lists, tuples, float32, complex with zero imaginary
    part are accepted); raises AnswerError with a student-facing message otherwise."""
    if type(value) is np.ndarray and value.dtype is _FLOAT64:
        return value.copy()                 # the common case, decoded from the wire
    if value is None:
        raise AnswerError("returned None: did you forget a `return` statement?")
    if isinstance(value, bool):
        raise AnswerError(f"returned the boolean {value}, not numbers")
    if isinstance(value, Opaque):
        raise AnswerError(f"returned an object of type {value}; expected numbers (a numpy array of floats)")
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise AnswerError(f"returned the string {shown!r}, not numbers")
    if not _looks_numeric(value):
        raise AnswerError("returned a sequence that does not hold only numbers")
    try:
        array = np.array(value)
    except ValueError:
        raise AnswerError("returned nested sequences of unequal lengths (a ragged array)") from None
    if array.dtype == object:
        raise AnswerError("returned nested sequences of unequal lengths (a ragged array)")
    if array.dtype == bool:
        raise AnswerError("returned booleans, not numbers")
    if np.iscomplexobj(array):
        if np.any(array.imag != 0):
            raise AnswerError("returned complex numbers with a non-zero imaginary part")
        array = array.real
    return array.astype(np.float64)


@dataclass
class Comparison:
    passed: bool
    reason: str = ""                      # "" | shape | nonfinite | values
    message: str = ""
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    mismatched: int = 0
    total: int = 0
    worst: list[dict] = field(default_factory=list)   # {"index", "expected", "got"}

    def to_dict(self) -> dict:
        return {"max_abs_error": self.max_abs_error, "max_rel_error": self.max_rel_error,
                "mismatched": self.mismatched, "total": self.total, "worst": self.worst}


def _index(flat_index: int, shape: tuple) -> list[int]:
    """The position of a flat (C order) index in an array of `shape`, as np.unravel_index gives it."""
    index = []
    for side in reversed(shape):
        flat_index, position = divmod(flat_index, side)
        index.append(position)
    return index[::-1]


def tolerance_scale(expected: np.ndarray) -> float:
    """S of the rule: max(1, max|r|) over the case."""
    return max(1.0, float(np.abs(expected).max())) if expected.size else 1.0


def _allowed(expected: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    magnitude = np.abs(expected)
    scale = max(1.0, float(magnitude.max())) if expected.size else 1.0
    return tolerance.rtol * magnitude + tolerance.atol * scale


def mismatch_mask(expected: np.ndarray, got: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    """Per element, True where |s - r| <= rtol*|r| + atol*S fails (NaN and inf count as failing)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return ~(np.abs(got - expected) <= _allowed(expected, tolerance))


def within_tolerance(expected: np.ndarray, got: np.ndarray, tolerance: Tolerance) -> bool:
    """The verdict of `compare_arrays` alone, without the error figures (for diagnoses, which try
    many candidate answers)."""
    return got.shape == expected.shape and not mismatch_mask(expected, got, tolerance).any()


_SMALL = 32      # up to this many elements, plain floats decide a passing answer faster than numpy


class _Reference:
    """What the rule needs of one reference array besides the answer, computed once per case."""
    __slots__ = ("array", "allowed", "magnitude", "inverse", "plain")

    def __init__(self, expected: np.ndarray, tolerance: Tolerance) -> None:
        self.array = expected
        self.magnitude = np.abs(expected)
        self.allowed = _allowed(expected, tolerance)
        # 1/|r| for the relative error; None where some |r| is 0 or so small that 1/|r| overflows
        # (the relative error there is 0 or inf: the general path decides)
        with np.errstate(over="ignore", divide="ignore"):
            inverse = 1.0 / self.magnitude
        self.inverse = inverse if np.isfinite(inverse).all() else None
        # per element (r, allowed, 1/|r|), or (r, allowed, |r|) to divide by where some 1/|r| is
        # not finite, as Python floats: the same IEEE doubles and operations as below, the same verdict
        self.plain = None
        if expected.size <= _SMALL and np.isfinite(expected).all():     # 0 * inf would be NaN below
            factor = self.magnitude if self.inverse is None else inverse
            self.plain = (self.inverse is None, list(zip(expected.ravel().tolist(), self.allowed.ravel().tolist(),
                                                         factor.ravel().tolist())))


_REFERENCES: dict[tuple[int, float, float], _Reference] = {}


def _reference(expected: np.ndarray, tolerance: Tolerance) -> _Reference:
    """Cached for read-only arrays, which a case's references are (see Case): they are compared
    with every student's answer. Others (a diagnosis's candidates) are computed each time."""
    if expected.flags.writeable:
        return _Reference(expected, tolerance)
    key = (id(expected), tolerance.rtol, tolerance.atol)
    found = _REFERENCES.get(key)
    if found is None or found.array is not expected:    # the entry keeps its array alive: ids stay unique
        if len(_REFERENCES) >= 8192:
            _REFERENCES.clear()
        found = _REFERENCES[key] = _Reference(expected, tolerance)
    return found


def _passes_plainly(plain: tuple[bool, list[tuple[float, float, float]]], got: np.ndarray) -> tuple[float, float] | None:
    """(max |s - r|, max |s - r| / |r|) when every element is within tolerance, else None (the
    array path then finds the mismatches). NaN fails `<=`, so no NaN reaches the maxima."""
    divide, elements = plain
    max_abs = max_rel = 0.0
    for value, (reference, allowed, factor) in zip(got.ravel().tolist(), elements):
        diff = abs(value - reference)
        if not diff <= allowed:
            return None
        if diff > max_abs:
            max_abs = diff
        if divide:      # as np.divide(diff, |r|, where=|r| > 0), else inf or 0
            relative = diff / factor if factor > 0 else (_INF if diff > 0 else 0.0)
        else:
            relative = diff * factor
        if relative > max_rel:
            max_rel = relative
    return max_abs, max_rel


def compare_arrays(expected: np.ndarray, got: np.ndarray, tolerance: Tolerance, worst: int = 3) -> Comparison:
    """Exact shape, then |s - r| <= rtol*|r| + atol*S per element, S = max(1, max|r|)."""
    if got.shape != expected.shape:
        return Comparison(False, "shape", f"wrong shape: expected {expected.shape}, got {got.shape}")
    total = expected.size
    if total == 0:
        return Comparison(True, total=0)
    reference = _reference(expected, tolerance)
    if reference.plain is not None and got.dtype is _FLOAT64:
        passed = _passes_plainly(reference.plain, got)
        if passed is not None:
            return Comparison(True, total=total, max_abs_error=passed[0], max_rel_error=passed[1])
    # one pass of array arithmetic: this runs for every case of every student
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        diff = np.abs(got - expected)
        allowed = reference.allowed
        bad = ~(diff <= allowed)                           # NaN and inf count as bad
        mismatched = int(np.count_nonzero(bad))
        max_abs = float(diff.max())
        if reference.inverse is not None:
            max_rel = float((diff * reference.inverse).max())
        else:
            magnitude = reference.magnitude
            rel = np.divide(diff, magnitude, out=np.where(diff > 0, np.inf, 0.0), where=magnitude > 0)
            max_rel = float(rel.max())
    if not mismatched:
        return Comparison(True, total=total, max_abs_error=max_abs, max_rel_error=max_rel)
    finite = np.isfinite(got)
    all_finite = bool(finite.all())
    if not all_finite:
        max_abs = max_rel = float("inf")
    # the mismatched elements, worst first: non-finite answers, then by how many times the allowed
    # error they miss by (ties in index order). Elements within tolerance are never shown, even
    # where their ratio is 0/0 (a zero error with atol 0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):   # a subnormal tolerance: inf
        excess = np.where(finite, diff / allowed, np.inf).ravel()
    mismatches = np.flatnonzero(bad)
    order = mismatches[np.argsort(-excess[mismatches], kind="stable")][:max(worst, 0)].tolist()
    expected_flat, got_flat = expected.ravel(), got.ravel()
    worst_list = [{"index": _index(i, expected.shape), "expected": float(expected_flat[i]),
                   "got": float(got_flat[i])} for i in order]
    reason = "values" if all_finite else "nonfinite"
    what = "NaN or inf where the answer is finite" if reason == "nonfinite" else "values differ"
    message = (f"{what}: mismatched elements {mismatched} / {total} ({100.0 * mismatched / total:.1f}%)")
    return Comparison(False, reason, message, max_abs, max_rel, mismatched, total, worst_list)
