"""GitHub Actions: the step summary table, `::error` annotations at the student's functions."""
from __future__ import annotations

import io
import json
import re

import pytest

from conftest import EXAMPLE, run_cli
from grader.github import annotations, definition_line, report_to_github, step_summary

# sigmoid_derivative (line 5) returns the sigmoid; matmul_backward_first (line 9) raises
WRONG = '''import numpy as np
HELPER = 1


def sigmoid_derivative(x):
    return 1 / (1 + np.exp(-x))


def matmul_backward_first(X, W):
    raise ValueError("shapes a|b")


def deriv(func, input_, delta=0.001):
    return (func(input_ + delta) - func(input_ - delta)) / (2 * delta)
'''


@pytest.fixture
def wrong_report(grade):
    return grade(WRONG, "sigmoid-derivative", "matmul-backward", "numeric-derivative")


def rows(markdown: str) -> dict[str, list[str]]:
    table = [line for line in markdown.splitlines() if line.startswith("| `")]
    return {cells[0].strip(" `"): [c.strip() for c in cells[1:]]
            for cells in (re.split(r"(?<!\\)\|", line)[1:-1] for line in table)}


def test_step_summary_is_a_table_with_status_score_and_one_line_feedback(wrong_report):
    markdown = step_summary(wrong_report)
    assert markdown.splitlines()[0].startswith(f"### Grading `{wrong_report.submission}`: 1/3 points")
    assert "| Exercise | Status | Score | Feedback |" in markdown
    table = rows(markdown)
    assert set(table) == {"sigmoid-derivative", "matmul-backward", "numeric-derivative"}
    assert table["numeric-derivative"][:2] == ["✅ PASS", "1/1"]
    assert table["sigmoid-derivative"][:2] == ["❌ FAIL", "0/1"]
    assert table["sigmoid-derivative"][2].startswith("0 of 7 cases passed; case 1: values differ")
    assert "sigmoid(x) itself" in table["sigmoid-derivative"][2]
    assert table["matmul-backward"][0] == "💥 ERROR"
    assert "raised ValueError: shapes a\\|b" in table["matmul-backward"][2]     # the pipe cannot split a cell


def test_step_summary_is_appended_to_the_file(wrong_report, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    for _ in range(2):
        report_to_github(wrong_report, tmp_path / "solution.py", stdout_is_report=False,
                         environ={"GITHUB_STEP_SUMMARY": str(summary)}, stdout=io.StringIO())
    text = summary.read_text()
    assert text.startswith("earlier step\n") and text.count("| Exercise | Status |") == 2


def test_annotations_point_at_the_def_line(wrong_report, tmp_path):
    lines = annotations(wrong_report, tmp_path / "solution.py")
    assert len(lines) == 2                                   # the passing exercise has none
    by_title = {re.search(r"title=([^:]+?)%3A", line).group(1): line for line in lines}
    sigmoid = by_title["sigmoid-derivative"]
    assert sigmoid.startswith("::error file=")
    assert ",line=5,title=sigmoid-derivative%3A FAIL 0/1::" in sigmoid
    assert "%0A" in sigmoid and "\n" not in sigmoid          # a multi-line message stays one command
    assert "diagnosis: your answer matches the function sigmoid(x) itself" in sigmoid
    assert ",line=9," in by_title["matmul-backward"] and "raised ValueError" in by_title["matmul-backward"]


def test_annotations_go_to_stderr_when_stdout_holds_the_report(wrong_report, tmp_path):
    environ = {"GITHUB_ACTIONS": "true"}
    for stdout_is_report, expect_on_stdout in ((True, False), (False, True)):
        out, err = io.StringIO(), io.StringIO()
        report_to_github(wrong_report, tmp_path / "solution.py", stdout_is_report=stdout_is_report,
                         environ=environ, stdout=out, stderr=err)
        (shown, quiet) = (out, err) if expect_on_stdout else (err, out)
        assert shown.getvalue().count("::error ") == 2 and quiet.getvalue() == ""
    out, err = io.StringIO(), io.StringIO()
    report_to_github(wrong_report, tmp_path / "solution.py", stdout_is_report=False, environ={},
                     stdout=out, stderr=err)
    assert out.getvalue() == err.getvalue() == ""            # not on GitHub: nothing at all


def test_definition_line_parses_and_never_runs_the_file(tmp_path):
    marker = tmp_path / "ran"
    source = tmp_path / "solution.py"
    source.write_text(f"open({str(marker)!r}, 'w').close()\n\n\ndef f(x):\n    return x\n\ng = f\n")
    assert definition_line(source, "f") == 4
    assert definition_line(source, "g") == 7
    assert definition_line(source, "missing") is None
    assert not marker.exists()
    source.write_text("def f(x):\n    return x\n\ndef g(:\n")
    assert definition_line(source, "f") == 4                 # a syntax error: its line
    assert definition_line(tmp_path / "absent.py", "f") is None


def test_hidden_cases_are_not_described(wrong_report):
    from dataclasses import replace
    result = wrong_report.exercises[0]
    hidden = replace(result, checks=[replace(check, visibility="hidden") for check in result.checks])
    report = replace(wrong_report, exercises=[hidden])
    [line] = annotations(report, EXAMPLE)
    assert "the cases not passed are hidden" in line and "x=" not in line
    assert "cases not passed are hidden" in rows(step_summary(report))[hidden.id][2]


@pytest.mark.slow
def test_cli_on_github_keeps_json_stdout_pure(tmp_path, monkeypatch):
    solution = tmp_path / "solution.py"
    solution.write_text(EXAMPLE.read_text().replace("return s * (1 - s)", "return s"))
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    result = run_cli("check", str(solution), "--format", "json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["score"] == 8.0
    [annotation] = [line for line in result.stderr.splitlines() if line.startswith("::error")]
    line = next(n for n, text in enumerate(solution.read_text().splitlines(), 1)
                if text.startswith("def sigmoid_derivative"))
    assert annotation.startswith(f"::error file=solution.py,line={line},title=sigmoid-derivative%3A FAIL")
    assert rows(summary.read_text())["sigmoid-derivative"][0] == "❌ FAIL"
    text = run_cli("check", str(solution), "--exercise", "sigmoid-derivative")
    assert "::error file=solution.py" in text.stdout and "::error" not in text.stderr
