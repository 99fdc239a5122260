"""Mistake diagnoses: each common mistake is named, a right answer never is, and no diagnosis is
claimed for an answer it does not explain."""
from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.compare import compare_arrays
from grader.exercise import Tolerance

TOL = Tolerance()


def sigmoid(x):
    return 1 / (1 + np.exp(-np.asarray(x, dtype=float)))


def diagnose(plugins, bank, exercise_id, wrong, index=0):
    item = bank[exercise_id]
    case = item.cases[index]
    got = wrong(case.expected, case)
    return plugins.diagnose(item.exercise, case, case.expected, got, case.tolerance)


def alternative(case, words):
    (value,) = [v for k, v in case.context["alternatives"].items() if words in k]
    return value


# (exercise, case index, the wrong answer from (expected, case), words the diagnosis must contain)
MISTAKES = {
    "factor 2 (delta)": ("numeric-derivative", 0, lambda e, c: 2 * e, "2 times the derivative: did you divide by delta"),
    "factor 1/2": ("numeric-derivative", 1, lambda e, c: 0.5 * e, "0.5 times"),
    "factor 1.7": ("sigmoid-derivative", 0, lambda e, c: 1.7 * e, "1.7 times"),
    "sign": ("sigmoid-derivative", 0, lambda e, c: -e, "opposite sign"),
    "function for derivative": ("sigmoid-derivative", 0, lambda e, c: sigmoid(c.args[0]),
                                "sigmoid(x) itself instead of its derivative"),
    "one-sided difference": ("numeric-derivative", 0,
                             lambda e, c: ((c.args[1] + 1e-3) ** 2 - c.args[1] ** 2) / 1e-3, "one-sided difference"),
    "missing du/dx": ("chain-rule-expansion", 3, lambda e, c: alternative(c, "inner factor"), "inner factor du/dx"),
    "missing chain factor": ("chain-deriv-3", 0, lambda e, c: alternative(c, "sigmoid'(...) of function 3"),
                             "without the factor sigmoid'(...) of function 3"),
    "chain composed value": ("chain-deriv-2", 0, lambda e, c: sigmoid(c.args[1] ** 2),
                             "sigmoid(square(x)) itself instead of its derivative"),
    "transposed dL/dX": ("matrix-sum-backward", 0, lambda e, c: e.T, "transpose of dL/dX"),
    "square transposed": ("matrix-sum-backward", 2, lambda e, c: e.T,
                          "transpose"),
    "W for W.T": ("matmul-backward", 0, lambda e, c: c.args[1], "W used where W.T belongs"),
    "missing sigma'": ("matrix-sum-backward", 0, lambda e, c: np.ones((2, 4)) @ c.args[1].T,
                       "derivative of sigma is missing"),
    "sigma for sigma'": ("matrix-sum-backward", 0, lambda e, c: sigmoid(c.args[0] @ c.args[1]) @ c.args[1].T,
                         "sigma itself where its derivative sigma' belongs"),
    "broadcastable shape": ("matrix-sum-backward", 0, lambda e, c: e.sum(axis=0),
                            "shape (3,), which numpy would broadcast against (2, 3), but dL/dX must have "
                            "exactly the shape of X, (2, 3)"),
    "flattened": ("matrix-sum-backward", 0, lambda e, c: e.ravel(), "numbers are right but arranged in shape (6,)"),
    "wrong for x < 0": ("sigmoid-derivative", 0, lambda e, c: np.where(c.args[0] < 0, -e, e),
                        "wrong for x < 0 (right for x >= 0); there your answer has the opposite sign"),
    "wrong for x <= 0": ("numeric-derivative", 2, lambda e, c: np.where(c.args[1] <= 0, 0.0, e),
                         "wrong for input_ <= 0 (right for input_ > 0); there your answer is 0"),
    "NaN at 0": ("sigmoid-derivative", 0, lambda e, c: np.where(c.args[0] == 0, np.nan, e),
                 "wrong at x = 0; there your answer is NaN"),
    "one component wrong": ("partial-add", 0, lambda e, c: (e[0], 2 * e[1]),
                            "only d/dy is wrong; d/dx is right; value 2 (d/dy): your answer is 2 times"),
    "function for partials": ("partial-add", 0, lambda e, c: (sigmoid(c.args[0] + c.args[1]),) * 2,
                              "sigma(x + y) itself instead of its partial derivatives"),
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_each_mistake_is_named(plugins, bank, name):
    exercise_id, index, wrong, words = MISTAKES[name]
    found = diagnose(plugins, bank, exercise_id, wrong, index)
    assert len(found) == 1 and words in found[0], found


@pytest.mark.parametrize("name", list(MISTAKES))
def test_a_right_answer_is_never_diagnosed(plugins, bank, name):
    exercise_id, index, _, _ = MISTAKES[name]
    right = lambda e, c: tuple(p * (1 + 2e-4) for p in e) if isinstance(e, tuple) else e * (1 + 2e-4)  # noqa: E731
    assert diagnose(plugins, bank, exercise_id, right, index) == []


def test_the_sigmoid_derivative_missing_is_named_not_a_constant_factor(plugins, bank):
    # X (1, n), W (n, 1): sigma'(N) is one number, so "a constant factor" explains it too;
    # the specific diagnosis wins
    found = diagnose(plugins, bank, "matrix-sigmoid-backward", lambda e, c: c.args[1].T)
    assert found and "derivative of sigma is missing" in found[0] and "times" not in found[0], found


@pytest.fixture
def mul_exercise(tmp_path, plugins):
    from grader.engine import prepare
    from grader.loader import load_exercises
    (tmp_path / "partial-mul.yaml").write_text(textwrap.dedent("""\
        id: partial-mul
        kind: partial_derivative
        title: Partial derivatives of x * y
        entry: mul_backward
        function: x * y
        wrt: [x, y]
        args: [x, y]
        cases:
          - {x: [1.0, 2.0, -1.0, 0.5], y: [3.0, -1.0, 2.0, 4.0]}
        """))
    (item,) = prepare(load_exercises([tmp_path], plugins), plugins)
    return item


def test_swapped_partial_derivatives_are_named(plugins, mul_exercise):
    case = mul_exercise.cases[0]
    dx, dy = case.expected
    found = plugins.diagnose(mul_exercise.exercise, case, case.expected, (dy, dx), case.tolerance)
    assert found == ["the partial derivatives are in the wrong order: you returned (d/dy, d/dx), "
                     "the order asked for is (d/dx, d/dy)"]
    assert plugins.diagnose(mul_exercise.exercise, case, case.expected, (dx, dx + 1), case.tolerance) == \
        ["only d/dy is wrong; d/dx is right"]


# --- no claim without an explanation ------------------------------------------------------------

def test_random_wrong_answers_get_no_diagnosis(plugins, bank):
    rng = np.random.default_rng(8)
    for item in bank.values():
        for case in item.cases:
            parts = case.expected if isinstance(case.expected, tuple) else (case.expected,)
            noisy = tuple(p + rng.normal(0, 1 + np.abs(p), size=p.shape) for p in parts)
            got = noisy if isinstance(case.expected, tuple) else noisy[0]
            found = plugins.diagnose(item.exercise, case, case.expected, got, case.tolerance)
            if isinstance(case.expected, tuple):   # which components are wrong is a fact, not a guess
                found = [text for text in found if not text.startswith("only ")]
            assert found == [], (item.exercise.id, case.label, found)


def _verified(text: str, expected: np.ndarray, got: np.ndarray) -> bool:
    """Re-check a claim from its words alone."""
    factor = re.search(r"your answer is (-?[\d.e+-]+) times", text)
    if factor:
        return compare_arrays(float(factor.group(1)) * expected, got, TOL).passed
    if "opposite sign" in text and "part of the inputs" not in text:
        return compare_arrays(-expected, got, TOL).passed
    if "transpose" in text:
        return compare_arrays(expected.T, got, TOL).passed
    if "arranged in shape" in text:
        return got.size == expected.size and compare_arrays(expected.ravel(), got.ravel(), TOL).passed
    if "broadcast" in text:
        return got.shape != expected.shape
    return False


arrays = hnp.arrays(np.float64, st.sampled_from([(4,), (2, 3), (3, 2), (6,)]),
                    elements=st.floats(-50, 50, allow_nan=False, allow_subnormal=False, width=64))


@settings(max_examples=300, deadline=None)
@given(expected=arrays, got=arrays, scale=st.sampled_from([None, 2.0, -1.0, 0.5, 1.7]))
def test_a_claim_always_explains_the_answer(plugins, bank, expected, got, scale):
    """Whatever the arrays, a diagnosis the built-ins make is true of them (the matrix exercise gives
    the context; its named alternatives are for other inputs and must not match by accident)."""
    item = bank["matrix-sum-backward"]
    case = item.cases[0]
    if scale is not None and got.shape == expected.shape:
        got = scale * expected
    if got.shape == expected.shape and compare_arrays(expected, got, TOL).passed:
        return                                   # a passing answer is never diagnosed
    for text in plugins.diagnose(item.exercise, case, expected, got, TOL):
        assert _verified(text, expected, got), (text, expected, got)


def test_diagnoses_reach_the_student_through_the_engine(grade, example_source):
    wrong = example_source.replace("return s * (1 - s)", "return np.where(x < 0, 0.0, s * (1 - s))")
    (result,) = grade(wrong, "sigmoid-derivative").exercises
    assert result.status == "failed"
    assert "diagnosis: your answer is right for part of the inputs only: wrong for x < 0" in result.feedback


def test_a_missing_function_is_named_with_the_functions_defined(grade):
    (result,) = grade("def sigmoid_derivativ(x):\n    return x\n\ndef helper():\n    pass\n",
                      "sigmoid-derivative").exercises
    assert result.status == "error"
    assert ("no function named 'sigmoid_derivative' (did you mean 'sigmoid_derivativ'?); "
            "the file defines: helper, sigmoid_derivativ") in result.feedback, result.feedback


def test_an_exception_shows_only_the_students_traceback(grade):
    (result,) = grade("def helper(x):\n    return 1 / 0\n\ndef sigmoid_derivative(x):\n    return helper(x)\n",
                      "sigmoid-derivative").exercises
    traceback = result.checks[0].traceback
    assert result.status == "error" and "ZeroDivisionError" in result.feedback
    assert any("line 5, in sigmoid_derivative" in line for line in traceback), traceback
    assert any("line 2, in helper" in line for line in traceback), traceback
    assert not any("grader" in line or "harness" in line for line in traceback), traceback


def test_hints_are_revealed_only_after_a_failure(grade, example_source):
    (passed,) = grade(example_source, "sigmoid-derivative").exercises
    assert "hint" not in passed.feedback
    (failed,) = grade(example_source.replace("return s * (1 - s)", "return s"), "sigmoid-derivative").exercises
    assert "hint: sigma'(x) = sigma(x) * (1 - sigma(x))." in failed.feedback
