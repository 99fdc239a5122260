"""End-to-end verdicts: correct solutions in several styles pass; each common mistake fails exactly
the exercise it is in and leaves the others passing."""
from __future__ import annotations

import pytest

from conftest import statuses

ALL = {"numeric-derivative", "sigmoid-derivative", "chain-rule-expansion", "chain-deriv-2", "chain-deriv-3",
       "partial-add", "matmul-backward", "matrix-sigmoid-backward", "matrix-sum-backward"}


def test_example_solution_gets_full_marks(grade, example_source):
    report = grade(example_source)
    assert set(statuses(report)) == ALL
    assert all(status == "passed" for status in statuses(report).values()), report.exercises
    assert report.score == report.max_score == 9.0


ANALYTIC = """
import numpy as np
def _s(x): return 1 / (1 + np.exp(-x))
def deriv(func, input_, delta=0.001):
    return (func(input_ + delta) - func(input_ - delta)) / (2 * delta)
def sigmoid_derivative(x):
    x = np.asarray(x, dtype=float)
    return np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))) ** 2
def u(x): return x**2 + 1
def du_dx(x): return 2 * x
def df_du(u): return 3 * u**2
def df_dx(x): return 6 * x * (x**2 + 1) ** 2
def chain_deriv_2(chain, x):
    f1, f2 = chain
    return deriv(f2, f1(x)) * deriv(f1, x)
def chain_deriv_3(chain, x):
    f1, f2, f3 = chain
    return deriv(f3, f2(f1(x))) * deriv(f2, f1(x)) * deriv(f1, x)
def multiple_inputs_add_backward(x, y, sigma):
    d = deriv(sigma, x + y)
    return d, d
def matmul_backward_first(X, W): return W.T
def matrix_function_backward_1(X, W, sigma):
    return deriv(sigma, X @ W) @ W.T
def matrix_function_backward_sum_1(X, W, sigma):
    return deriv(sigma, X @ W) @ W.T
"""

LISTS_FLOAT32_PRINTS = """
import numpy as np
print("debugging: module imported")
def deriv(func, input_, delta=0.001):
    print("deriv called with", input_)
    out = (func(input_ + delta) - func(input_ - delta)) / (2 * delta)
    return np.asarray(out, dtype=np.float32)
def sigmoid_derivative(x):
    s = 1 / (1 + np.exp(-np.asarray(x, dtype=np.float32)))
    return (s * (1 - s)).tolist()
def u(x): return [v**2 + 1 for v in np.atleast_1d(x)]
def du_dx(x): return list(2 * np.asarray(x))
def df_du(u): return tuple(3 * np.asarray(u)**2)
def df_dx(x): return (6 * x * (x**2 + 1)**2).astype(np.float32)
def chain_deriv_2(chain, input_range):
    f1, f2 = chain
    return (deriv(f2, f1(input_range)) * deriv(f1, input_range)).tolist()
def chain_deriv_3(chain, input_range):
    f1, f2, f3 = chain
    a = f1(input_range); b = f2(a)
    return deriv(f3, b) * deriv(f2, a) * deriv(f1, input_range)
def multiple_inputs_add_backward(x, y, sigma):
    d = deriv(sigma, x + y)
    return [d.tolist(), d.tolist()]
def matmul_backward_first(X, W): return W.T.tolist()
def matrix_function_backward_1(X, W, sigma):
    return np.dot(deriv(sigma, np.dot(X, W)), W.T).astype(np.float32)
def matrix_function_backward_sum_1(X, W, sigma):
    return np.dot(deriv(sigma, np.dot(X, W)), np.transpose(W))
"""


@pytest.mark.parametrize("source", [ANALYTIC, LISTS_FLOAT32_PRINTS], ids=["analytic", "lists-float32-prints"])
def test_correct_solutions_in_other_styles_pass(grade, source):
    report = grade(source)
    assert statuses(report) == {i: "passed" for i in ALL}, [e.feedback for e in report.exercises if e.status != "passed"]


def test_student_prints_are_captured_not_lost(grade):
    report = grade(LISTS_FLOAT32_PRINTS, "numeric-derivative")
    assert "debugging: module imported" in report.output
    assert any("deriv called with" in check.output for check in report.exercises[0].checks)


# (exercise, replacement of the example's text, expected words in the feedback)
MISTAKES = [
    ("numeric-derivative", ("/ (2 * delta)", "/ delta"), "2 times"),
    ("sigmoid-derivative", ("return s * (1 - s)", "return -s * (1 - s)"), "opposite sign"),
    ("sigmoid-derivative", ("return s * (1 - s)", "return s * (1 - s) * 1.002"), "values differ"),
    ("sigmoid-derivative", ("return s * (1 - s)", "return s"), "itself instead of its derivative"),
    ("chain-rule-expansion", ("return df_du(u(x)) * du_dx(x)", "return df_du(u(x))"), "inner factor du/dx"),
    ("chain-deriv-2", ("return df1dx * df2du\n\n\ndef chain_deriv_3", "return df2du\n\n\ndef chain_deriv_3"),
     "without the factor"),
    ("chain-deriv-2", ("df2du = deriv(f2, f1_of_x)\n    return df1dx * df2du",
                       "df2du = deriv(f2, input_range)\n    return df1dx * df2du"), "evaluated at x"),
    ("chain-deriv-3", ("f1, f2, f3 = chain", "f3, f2, f1 = chain"), "wrong order"),
    ("partial-add", ("return dsda * dadx, dsda * dady", "return dsda * dadx"), "must return 2 values"),
    ("matmul-backward", ("return np.transpose(W, (1, 0))\n", "return W\n"), "transpose"),
    ("matrix-sigmoid-backward", ("dSdN = deriv(sigma, N)\n    dNdX = np.transpose(W, (1, 0))\n    return np.dot(dSdN, dNdX)",
                                 "dNdX = np.transpose(W, (1, 0))\n    return dNdX"), "derivative of sigma is missing"),
    ("matrix-sum-backward", ("return np.dot(dLdN, dNdX)", "return np.dot(dLdN, dNdX).sum(axis=0)"), "wrong shape"),
    ("matrix-sum-backward", ("return np.dot(dLdN, dNdX)", "return np.dot(dLdN, dNdX).T"), "transpose"),
    ("matrix-sum-backward", ("return np.dot(dLdN, dNdX)", "return np.dot(dLdN, dNdX) * 1.002"), "values differ"),
]


@pytest.mark.parametrize("exercise, change, words", MISTAKES,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(MISTAKES)])
def test_a_mistake_fails_exactly_its_exercise(grade, example_source, exercise, change, words):
    old, new = change
    assert old in example_source, f"test setup: {old!r} not in the example"
    report = grade(example_source.replace(old, new, 1))
    result = {e.id: e for e in report.exercises}
    assert result[exercise].status == "failed", result[exercise].feedback
    assert result[exercise].score < result[exercise].max_score
    assert words in result[exercise].feedback, result[exercise].feedback
    others = {i: s for i, s in statuses(report).items() if i != exercise}
    if exercise == "numeric-derivative":   # every numeric solution calls deriv: they fail too
        others = {i: s for i, s in others.items() if i in ("sigmoid-derivative", "chain-rule-expansion",
                                                            "matmul-backward")}
    assert set(others.values()) == {"passed"}, others


def test_partial_credit_splits_points_over_cases(grade, example_source):
    # wrong only for tanh: one of the 5 cases of partial-add
    source = example_source.replace("dsda = deriv(sigma, a)",
                                    "dsda = deriv(sigma, a) * (2.0 if sigma.__name__ == 'tanh' else 1.0)")
    (result,) = grade(source, "partial-add").exercises
    assert result.status == "failed"
    assert result.score == pytest.approx(4 / 5)


def test_each_case_gets_exactly_what_it_printed(grade):
    # fast calls, each printing: the two pipes (output, results) are read in bursts, yet every
    # print lands with its own case, and a crash's last words with the case that crashed
    source = ("import numpy as np, os\n"
              "def sigmoid_derivative(x):\n"
              "    print('call', np.round(np.ravel(x)[:2], 3).tolist())\n"
              "    s = 1 / (1 + np.exp(-np.asarray(x, float)))\n"
              "    return s * (1 - s)\n"
              "def matmul_backward_first(X, W):\n"
              "    print('last words'); import sys; sys.stdout.flush(); os._exit(3)\n")
    for _ in range(3):
        report = grade(source, "sigmoid-derivative", "matmul-backward")
        sigmoid, matmul = report.exercises
        for check in sigmoid.checks:
            assert check.output.count("call") == 1, [c.output for c in sigmoid.checks]
        outputs = [check.output for check in sigmoid.checks]
        assert len(set(outputs)) == len(outputs)
        assert matmul.checks[0].output.strip() == "last words"
        assert all(not check.output for check in matmul.checks[1:])


def test_without_diagnoses_the_verdicts_and_scores_are_the_same(grade, example_source):
    # `grader batch` without --json/--html leaves diagnoses out: nobody reads them there
    source = example_source.replace("return s * (1 - s)", "return 2 * s * (1 - s)")
    full, bare = grade(source), grade(source, diagnose=False)
    assert [(e.id, e.status, e.score) for e in full.exercises] == [(e.id, e.status, e.score) for e in bare.exercises]
    assert any(check.diagnosis for e in full.exercises for check in e.checks)
    assert not any(check.diagnosis for e in bare.exercises for check in e.checks)


def test_each_call_reports_its_own_time(grade):
    # results are read in batches; the time of a call is measured around the call itself
    report = grade("""
        import time
        import numpy as np
        def sigmoid_derivative(x):
            if np.size(x) == 1:
                time.sleep(0.2)
            s = 1 / (1 + np.exp(-np.asarray(x, dtype=float)))
            return s * (1 - s)
        """, "sigmoid-derivative")
    seconds = {check.case: check.seconds for check in report.exercises[0].checks}
    slow = [case for case, s in seconds.items() if s >= 0.19]
    assert slow and len(slow) < len(seconds), seconds
    assert all(s < 0.1 for case, s in seconds.items() if case not in slow), seconds


def test_the_bytes_a_caller_read_are_the_ones_graded(tmp_path, bank, sandbox, plugins, example_source):
    # grader batch hashes a file for its journal key and grades those same bytes: an edit between
    # the two reads cannot put one file's key beside another file's grade
    from grader.engine import run_submission, settle_submission
    path = tmp_path / "solution.py"
    path.write_text("def sigmoid_derivative(x):\n    return x * 0\n")
    prepared = [bank["sigmoid-derivative"]]
    ran = run_submission(path, prepared, sandbox, source=example_source.encode())
    assert statuses(settle_submission(ran, prepared, plugins)) == {"sigmoid-derivative": "passed"}
