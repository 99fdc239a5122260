"""`--format gradescope`: results.json against Gradescope's documented fields, and visibility."""
from __future__ import annotations

import json
import textwrap

import pytest

from conftest import EXAMPLE, run_cli

# the fields of Gradescope's autograder specification ("Output format")
TOP_LEVEL = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
             "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
PER_TEST = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
            "tags", "visibility", "extra_data"}
VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}

TANH = """
    id: tanh-derivative
    kind: derivative
    title: Derivative of tanh
    entry: tanh_derivative
    function: tanh(x)
    points: 4
    visibility: {visibility}
    cases:
      - {{x: {{linspace: [-3, 3, 7]}}}}
      - {{x: [0.123456, 7.654321], visibility: hidden}}
    random:
      - {{count: 2, x: {{uniform: [-5, 5], shape: [10]}}, visibility: after_published}}
"""
WRONG_TANH = """
import numpy as np

def tanh_derivative(x):
    print("my input was", list(np.round(np.ravel(x), 6)))
    return 1 - np.tanh(x)
"""


@pytest.fixture
def grade_tanh(tmp_path, plugins, sandbox):
    from grader.engine import grade_submission, prepare
    from grader.loader import parse_exercise

    def run(source: str, visibility: str = "visible"):
        exercise = parse_exercise(textwrap.dedent(TANH.format(visibility=visibility)), "tanh.yaml", plugins)
        path = tmp_path / "solution.py"
        path.write_text(source)
        return grade_submission(path, prepare([exercise], plugins), plugins, sandbox)
    return run


def results(plugins, report) -> dict:
    return json.loads(plugins.formats.get("gradescope").render(report))


def test_good_solution_uses_only_documented_fields(plugins, bank, grade, example_source):
    data = results(plugins, grade(example_source))
    assert set(data) <= TOP_LEVEL
    assert data["score"] == 9.0 and data["extra_data"]["max_score"] == 9.0
    assert isinstance(data["execution_time"], (int, float)) and data["execution_time"] >= 0
    assert "9/9 points" in data["output"]
    assert [test["name"] for test in data["tests"]] == list(bank)      # one test per exercise
    for test in data["tests"]:
        assert set(test) <= PER_TEST
        assert test["status"] == "passed" and test["score"] == test["max_score"] == 1.0
        assert test["visibility"] in VISIBILITIES
        assert test["tags"] == [bank[test["name"]].exercise.kind]


def test_wrong_solution_scores_and_feedback(plugins, grade):
    report = grade("def sigmoid_derivative(x):\n    return x * 0\n", "sigmoid-derivative", "partial-add")
    data = results(plugins, report)
    tests = {test["name"]: test for test in data["tests"]}
    assert data["score"] == report.score == sum(test["score"] for test in data["tests"])
    assert tests["sigmoid-derivative"]["status"] == "failed"
    assert tests["sigmoid-derivative"]["score"] < tests["sigmoid-derivative"]["max_score"] == 1.0
    feedback = {r.id: r.feedback for r in report.exercises}
    assert tests["sigmoid-derivative"]["output"] == "Derivative of the sigmoid\n" + feedback["sigmoid-derivative"]
    assert "no function named 'multiple_inputs_add_backward'" in tests["partial-add"]["output"]
    assert tests["partial-add"]["score"] == 0.0 and tests["partial-add"]["extra_data"]["status"] == "error"


def test_exercise_visibility_is_the_tests_visibility(plugins, grade_tanh):
    source = "import numpy as np\ndef tanh_derivative(x):\n    return 1 - np.tanh(x) ** 2\n"
    data = results(plugins, grade_tanh(source, visibility="after_due_date"))
    by_name = {test["name"]: test for test in data["tests"]}
    assert by_name["tanh-derivative"]["visibility"] == "after_due_date"
    assert by_name["tanh-derivative [hidden cases]"]["visibility"] == "hidden"
    assert by_name["tanh-derivative [after_published cases]"]["visibility"] == "after_published"
    assert all(test["status"] == "passed" for test in data["tests"])
    assert data["score"] == 4.0


def test_hidden_case_inputs_never_reach_a_visible_test(plugins, grade_tanh):
    report = grade_tanh(WRONG_TANH)
    # the student did print the hidden inputs: kept with the hidden case, not in the report's output
    assert "0.123456" not in report.output
    assert any("0.123456" in check.output for result in report.exercises for check in result.checks)
    data = results(plugins, report)
    by_name = {test["name"]: test for test in data["tests"]}
    assert set(by_name) == {"tanh-derivative", "tanh-derivative [hidden cases]",
                            "tanh-derivative [after_published cases]"}
    visible, hidden = by_name["tanh-derivative"], by_name["tanh-derivative [hidden cases]"]
    assert (visible["visibility"], visible["max_score"], visible["extra_data"]["cases"]) == ("visible", 1.0, 1)
    assert (hidden["max_score"], by_name["tanh-derivative [after_published cases]"]["max_score"]) == (1.0, 2.0)
    for text in (visible["output"], data["output"], visible["name"]):
        assert "0.123" not in text and "7.654" not in text and "case 2" not in text
    assert "0.1235" in hidden["output"]           # instructors still see everything
    assert sum(test["max_score"] for test in data["tests"]) == 4.0


@pytest.mark.slow
def test_cli_prints_results_json_on_stdout():
    result = run_cli("check", str(EXAMPLE), "--format", "gradescope", "--exercise", "matmul-backward")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert [(t["name"], t["score"], t["status"]) for t in data["tests"]] == [("matmul-backward", 1.0, "passed")]
