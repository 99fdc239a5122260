"""Diagnosis of an elementwise answer that is right on part of the domain only ("wrong for x < 0")."""
from __future__ import annotations

import numpy as np

from grader.compare import mismatch_mask, within_tolerance

ELEMENTWISE_KINDS = ("derivative", "chain_rule")


def point_values(exercise, case, shape: tuple) -> tuple[str, np.ndarray] | None:
    """The case's points (the argument the answer is elementwise in), when shaped like the answer."""
    names = list(case.arg_names)
    point = str(exercise.spec.get("point_arg", "x"))
    index = names.index(point) if point in names else 0 if len(names) == 1 else None
    if index is None:
        return None
    try:
        values = np.asarray(case.args[index], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return (names[index], values) if values.shape == tuple(shape) else None


def partly_right(exercise, case, expected, got, tolerance) -> str | None:
    """Mismatches exactly on one side of a threshold, at x = 0 only, or at large |x| only."""
    if exercise.kind not in ELEMENTWISE_KINDS or got.shape != expected.shape or expected.size < 4:
        return None
    found = point_values(exercise, case, expected.shape)
    if found is None:
        return None
    name, x = found
    x, e, g = x.ravel(), expected.ravel(), got.ravel()
    wrong = mismatch_mask(e, g, tolerance)
    right = ~wrong
    if not wrong.any() or right.sum() < 2:
        return None
    region = _region(name, x, wrong)
    if region is None:
        return None
    return f"your answer is right for part of the inputs only: wrong {region}" + _how(e[wrong], g[wrong], tolerance)


def _region(name: str, x: np.ndarray, wrong: np.ndarray) -> str | None:
    """Describe the set of wrong points by a threshold, when one separates them from the right ones."""
    bad, good = x[wrong], x[~wrong]
    if np.all(bad == 0):
        return f"at {name} = 0" if good.size >= 3 and np.all(good != 0) else None
    if bad.size < 2:
        return None                        # one stray point is no pattern
    if bad.max() < good.min():
        return _threshold(name, "<", bad.max(), good.min())
    if bad.min() > good.max():
        return _threshold(name, ">", bad.min(), good.max())
    if np.abs(bad).min() > np.abs(good).max() and bad.min() < 0 < bad.max():
        limit = np.abs(good).max()
        return f"for large |{name}| (|{name}| > {limit:.3g}, right for |{name}| <= {limit:.3g}): overflow or cancellation?"
    return None


def _threshold(name: str, side: str, last_bad: float, first_good: float) -> str:
    if side == "<":
        if last_bad < 0 <= first_good:
            return f"for {name} < 0 (right for {name} >= 0)"
        if last_bad <= 0 < first_good:
            return f"for {name} <= 0 (right for {name} > 0)"
        return f"for {name} <= {last_bad:.3g} (right for {name} >= {first_good:.3g})"
    if first_good < 0 <= last_bad:
        return f"for {name} >= 0 (right for {name} < 0)"
    if first_good <= 0 < last_bad:
        return f"for {name} > 0 (right for {name} <= 0)"
    return f"for {name} >= {last_bad:.3g} (right for {name} <= {first_good:.3g})"


def _how(expected: np.ndarray, got: np.ndarray, tolerance) -> str:
    """What the wrong part looks like, when it is simple: NaN, zero, or the opposite sign."""
    if not np.all(np.isfinite(got)):
        return "; there your answer is NaN or inf (a division by zero or an overflow?)"
    if expected.size >= 2 and within_tolerance(np.zeros_like(expected), got, tolerance):
        return "; there your answer is 0"
    if np.any(expected != 0) and within_tolerance(-expected, got, tolerance):
        return "; there your answer has the opposite sign (a missing abs, or a branch for negative inputs?)"
    return ""
