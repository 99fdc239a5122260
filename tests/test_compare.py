"""The comparison rule: cached reference data gives exactly the verdict and figures computed
afresh, references cannot be changed after a case is built, and a slow call's time is its own."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.compare import compare_arrays
from grader.exercise import Case, Tolerance

FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from([0.0, -0.0, 1e-300])
TOLERANCES = st.builds(Tolerance, rtol=st.sampled_from([0.0, 1e-6, 1e-3]), atol=st.sampled_from([0.0, 1e-4]))


def _rule(expected: np.ndarray, got: np.ndarray, tolerance: Tolerance) -> tuple[int, float, float]:
    """DESIGN.md's rule written plainly: (mismatched, max |s - r|, max |s - r| / |r|)."""
    with np.errstate(all="ignore"):
        magnitude = np.abs(expected)
        diff = np.abs(got - expected)
        allowed = tolerance.rtol * magnitude + tolerance.atol * max(1.0, float(magnitude.max()))
        mismatched = int(np.sum(~(diff <= allowed)))
        relative = np.where(magnitude > 0, diff / np.where(magnitude > 0, magnitude, 1.0),
                            np.where(diff > 0, np.inf, 0.0))
        max_abs, max_rel = float(diff.max()), float(relative.max())
    if mismatched and not np.isfinite(got).all():
        max_abs = max_rel = float("inf")              # a non-finite answer: reported as inf
    return mismatched, max_abs, max_rel


@settings(max_examples=300, deadline=None)
@given(data=st.data(), tolerance=TOLERANCES)
def test_the_comparison_follows_the_rule_cached_or_not(data, tolerance):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=7))
    # up to 49 elements: both the plain-float path (<= 32) and the array path
    finite = st.floats(-1e6, 1e6) | st.sampled_from([0.0, 1e-310, 5e-324])
    expected = data.draw(hnp.arrays(np.float64, shape, elements=finite))
    near = expected * (1 + data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-1e-6, 1e-6))))
    got = data.draw(st.just(expected.copy()) | st.just(near) | hnp.arrays(np.float64, shape, elements=FLOATS))
    mismatched, max_abs, max_rel = _rule(expected, got, tolerance)
    frozen = expected.copy()
    frozen.setflags(write=False)                   # read-only: its reference data is cached
    for reference in (expected, frozen, frozen):   # computed afresh, cached, from the cache
        comparison = compare_arrays(reference, got, tolerance)
        assert comparison.passed == (mismatched == 0)
        assert comparison.mismatched == mismatched
        assert comparison.max_abs_error == pytest.approx(max_abs, nan_ok=True)
        assert comparison.max_rel_error == pytest.approx(max_rel, rel=1e-12, nan_ok=True)


def _worst_plainly(expected: np.ndarray, got: np.ndarray, tolerance: Tolerance, count: int = 3) -> list[dict]:
    """The mismatched elements shown first, written plainly: only mismatches, non-finite answers
    first, then by how many times the allowed error they miss by, ties in index order."""
    with np.errstate(all="ignore"):
        magnitude = np.abs(expected)
        allowed = tolerance.rtol * magnitude + tolerance.atol * max(1.0, float(magnitude.max()))
        diff = np.abs(got - expected)
    ranked = []
    for position in np.ndindex(expected.shape):
        if diff[position] <= allowed[position]:
            continue
        with np.errstate(all="ignore"):
            excess = float(diff[position] / allowed[position]) if np.isfinite(got[position]) else np.inf
        ranked.append((-excess, len(ranked), position))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [{"index": list(position), "expected": float(expected[position]), "got": float(got[position])}
            for _, _, position in ranked[:count]]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), tolerance=TOLERANCES)
def test_the_worst_elements_shown_are_the_rules(data, tolerance):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=5))
    expected = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-1e3, 1e3) | st.just(0.0)))
    got = data.draw(hnp.arrays(np.float64, shape, elements=FLOATS | st.floats(-1e3, 1e3)))
    comparison = compare_arrays(expected, got, tolerance)
    if comparison.passed:
        return
    shown = _worst_plainly(expected, got, tolerance)
    assert [w["index"] for w in comparison.worst] == [w["index"] for w in shown]
    np.testing.assert_array_equal([w["got"] for w in comparison.worst], [w["got"] for w in shown])
    np.testing.assert_array_equal([w["expected"] for w in comparison.worst], [w["expected"] for w in shown])
    assert comparison.reason == ("values" if np.isfinite(got).all() else "nonfinite")


def test_a_mismatch_is_shown_even_beside_exact_zeros_with_no_absolute_tolerance():
    # 0/0 for the exact zeros: they once took the shown places, and a failing case showed nothing
    comparison = compare_arrays(np.array([0.0, 0.0, 0.0, 5.0]), np.array([0.0, 0.0, 0.0, 7.0]), Tolerance(1e-6, 0.0))
    assert not comparison.passed and comparison.mismatched == 1
    assert comparison.worst == [{"index": [3], "expected": 5.0, "got": 7.0}]


def test_the_largest_errors_may_come_from_different_elements():
    expected = np.array([1000.0, 0.001, 5.0])
    expected.setflags(write=False)
    got = np.array([1000.0005, 0.0011, 5.0])       # largest |s - r| first, largest relative second
    comparison = compare_arrays(expected, got, Tolerance(rtol=1e-3, atol=1e-4))
    assert comparison.passed
    assert comparison.max_abs_error == pytest.approx(5e-4)
    assert comparison.max_rel_error == pytest.approx(0.1)


def test_an_infinite_reference_gives_the_rules_figures():
    # |r| = inf allows any finite answer there; its relative error, inf * 0, is NaN as in the rule
    expected = np.array([np.inf, 1.0])
    expected.setflags(write=False)
    got = np.array([5.0, 1.0])
    mismatched, max_abs, max_rel = _rule(expected, got, Tolerance(rtol=1e-3))
    comparison = compare_arrays(expected, got, Tolerance(rtol=1e-3))
    assert comparison.passed and mismatched == 0
    assert np.isnan(max_rel) and np.isnan(comparison.max_rel_error)


@pytest.mark.parametrize("tiny", [0.0, 1e-310, 5e-324])
def test_relative_error_where_the_reference_is_zero_or_subnormal(tiny):
    expected = np.array([tiny, 1.0])
    expected.setflags(write=False)
    exact = compare_arrays(expected, expected.copy(), Tolerance())
    assert exact.passed and exact.max_rel_error == 0.0
    off = compare_arrays(expected, np.array([tiny + 1e-9, 1.0]), Tolerance())
    assert off.passed and off.max_rel_error == (np.inf if tiny == 0.0 else pytest.approx(1e-9 / tiny))


def test_the_cache_tells_arrays_and_tolerances_apart():
    first, second = np.array([1.0, 2.0]), np.array([1.0, 3.0])
    for array in (first, second):
        array.setflags(write=False)
    answer = np.array([1.0, 2.0])
    assert compare_arrays(first, answer, Tolerance()).passed
    assert not compare_arrays(second, answer, Tolerance()).passed
    loose = Tolerance(rtol=0.5, atol=0.0)
    assert compare_arrays(second, answer, loose).passed
    assert not compare_arrays(second, answer, Tolerance()).passed


def test_a_case_reference_cannot_be_changed():
    single = Case("c", "f", (), (), np.array([1.0, 2.0]))
    pair = Case("c", "f", (), (), (np.array([1.0]), np.array([2.0])))
    with pytest.raises(ValueError):
        single.expected[0] = 5.0
    with pytest.raises(ValueError):
        pair.expected[1][0] = 5.0
    assert single.expected_shape == [2] and pair.expected_shape == [1]
