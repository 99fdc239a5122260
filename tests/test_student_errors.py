"""Broken student files: every exercise gets a clear error or timeout, and one exercise's crash never
spoils another's verdict."""
from __future__ import annotations

import pytest

from conftest import statuses

TWO = ("sigmoid-derivative", "matmul-backward")
GOOD_MATMUL = "def matmul_backward_first(X, W):\n    return W.T\n"


@pytest.mark.parametrize("source, words", [
    ("def oops(:\n    pass\n", "SyntaxError"),
    ("raise ValueError('broken at import')\n", "ValueError: broken at import"),
    ("import sys\nsys.exit(3)\n", "SystemExit"),
    ("import no_such_module_anywhere\n", "ModuleNotFoundError"),
])
def test_a_file_that_does_not_import_errors_every_exercise(grade, source, words):
    report = grade(source, *TWO)
    assert statuses(report) == {i: "error" for i in TWO}
    for result in report.exercises:
        assert "could not be imported" in result.feedback and words in result.feedback, result.feedback
        assert result.score == 0


def test_a_hang_at_import_is_a_timeout(grade):
    report = grade("import time\ntime.sleep(60)\n", *TWO, timeout=0.5)
    assert statuses(report) == {i: "timeout" for i in TWO}
    assert "did not finish within 0.5 s" in report.exercises[0].feedback


def test_missing_function_is_named_with_what_the_file_defines(grade):
    report = grade("def sigmoid_derivativ(x):\n    return x\n" + GOOD_MATMUL, *TWO)
    assert statuses(report) == {"sigmoid-derivative": "error", "matmul-backward": "passed"}
    feedback = report.exercises[0].feedback
    assert "no function named 'sigmoid_derivative'" in feedback
    assert "did you mean 'sigmoid_derivativ'" in feedback and "matmul_backward_first" in feedback


def test_an_exception_shows_the_students_own_traceback(grade):
    report = grade("def sigmoid_derivative(x):\n    return helper(x)\n\ndef helper(x):\n    return 1 / 0\n"
                   + GOOD_MATMUL, *TWO)
    first, second = report.exercises
    assert first.status == "error" and second.status == "passed"
    assert "ZeroDivisionError" in first.feedback
    check = first.checks[0]
    assert any("line 5, in helper" in line for line in check.traceback), check.traceback
    assert not any("grader" in line for line in check.traceback)


def test_a_hanging_function_times_out_and_the_next_exercise_still_runs(grade):
    report = grade("def sigmoid_derivative(x):\n    while True: pass\n" + GOOD_MATMUL, *TWO, timeout=0.5)
    assert statuses(report) == {"sigmoid-derivative": "timeout", "matmul-backward": "passed"}


def test_a_crash_in_one_exercise_does_not_spoil_the_next(grade):
    report = grade("import os\ndef sigmoid_derivative(x):\n    os._exit(7)\n" + GOOD_MATMUL, *TWO)
    assert statuses(report) == {"sigmoid-derivative": "error", "matmul-backward": "passed"}
    assert "exited with code 7" in report.exercises[0].feedback


@pytest.mark.parametrize("body, words", [
    ("return None", "returned None"),
    ("return 'the answer'", "returned the string"),
    ("return object()", "returned an object of type builtins.object"),
    ("return {'a': 1}", "returned an object of type builtins.dict"),
    ("return [[1.0], [1.0, 2.0]]", "ragged"),
    ("return x + 1j", "imaginary part"),
])
def test_non_numeric_answers_are_errors_with_a_clear_message(grade, body, words):
    (result,) = grade(f"def sigmoid_derivative(x):\n    {body}\n", "sigmoid-derivative").exercises
    assert result.status == "error"
    assert words in result.feedback, result.feedback


def test_nan_where_the_reference_is_finite_fails(grade):
    (result,) = grade("import numpy as np\ndef sigmoid_derivative(x):\n    return np.full(np.shape(x), np.nan)\n",
                      "sigmoid-derivative").exercises
    assert result.status == "failed"
    assert "NaN or inf" in result.feedback


def test_a_complex_answer_with_zero_imaginary_part_is_accepted(grade):
    source = ("import numpy as np\ndef sigmoid_derivative(x):\n    s = 1/(1+np.exp(-np.asarray(x, float)))\n"
              "    return (s*(1-s)).astype(complex)\n")
    (result,) = grade(source, "sigmoid-derivative").exercises
    assert result.status == "passed", result.feedback


def test_non_utf8_file(tmp_path, plugins, bank, sandbox):
    from grader.engine import grade_submission
    path = tmp_path / "solution.py"
    path.write_bytes(b"\xff\xfe not utf-8")
    report = grade_submission(path, [bank["sigmoid-derivative"]], plugins, sandbox)
    assert report.exercises[0].status == "error"
    assert "cannot read" in report.exercises[0].feedback
