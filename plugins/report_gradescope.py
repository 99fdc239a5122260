"""Format `gradescope`: the autograder's results.json, honouring exercise and case visibility.

Gradescope shows each test to students according to its own `visibility`. An exercise whose cases
all share one visibility is one test named by its id; cases with another visibility (a `hidden`
case in a visible exercise) become a separate test, `ID [hidden cases]`, carrying their share of
the points, so a visible test's output never describes, or prints the inputs of, a hidden case.
"""
from __future__ import annotations

import json
from dataclasses import replace

from grader import hookimpl
from grader.feedback import exercise_feedback
from grader.results import CheckResult, ExerciseResult, SubmissionReport


def _status(checks: list[CheckResult]) -> str:
    statuses = {check.status for check in checks}
    if statuses == {"passed"}:
        return "passed"
    return "timeout" if "timeout" in statuses else "error" if "error" in statuses else "failed"


def _groups(result: ExerciseResult) -> list[tuple[str, list[CheckResult]]]:
    """The exercise's checks by visibility, the exercise's own visibility first."""
    order = [result.visibility] + [check.visibility for check in result.checks]
    groups = {visibility: [] for visibility in dict.fromkeys(order)}
    for check in result.checks:
        groups[check.visibility].append(check)
    return [(visibility, checks) for visibility, checks in groups.items() if checks]


def exercise_tests(result: ExerciseResult) -> list[dict]:
    """Gradescope tests for one exercise: one per visibility among its cases."""
    total = len(result.checks)
    if total == 0:
        return [{"name": result.id, "score": result.score, "max_score": result.max_score,
                 "status": "passed" if result.status == "passed" else "failed", "output": result.feedback,
                 "visibility": result.visibility, "tags": [result.kind],
                 "extra_data": {"id": result.id, "status": result.status, "cases": 0}}]
    tests = []
    for visibility, checks in _groups(result):
        status = _status(checks)
        part = replace(result, checks=checks, status=status)
        passed = sum(check.status == "passed" for check in checks)
        name = result.id if visibility == result.visibility else f"{result.id} [{visibility} cases]"
        tests.append({
            "name": name,
            "score": round(result.max_score * passed / total, 6),
            "max_score": round(result.max_score * len(checks) / total, 6),
            "status": "passed" if status == "passed" else "failed",
            # each test holds cases of one visibility, and Gradescope shows it to whom it may
            "output": f"{result.title}\n{exercise_feedback(part, reveal_hidden=True)}",
            "visibility": visibility,
            "tags": [result.kind],
            "extra_data": {"id": result.id, "status": status, "cases": len(checks)},
        })
    return tests


def results_json(report: SubmissionReport) -> dict:
    """The results.json object (documented fields, plus `extra_data`)."""
    passed = sum(result.status == "passed" for result in report.exercises)
    output = [f"Grading {report.submission}: {report.score:g}/{report.max_score:g} points, "
              f"{passed} of {len(report.exercises)} exercises passed."]
    if report.protections:
        output.append("Isolation: " + ", ".join(report.protections))
    # the submission's printed output is shown per test, never whole: prints made while a
    # hidden case ran would reveal its inputs
    return {
        "score": report.score,
        "execution_time": round(report.seconds, 3),
        "output": "\n".join(output),
        "tests": [test for result in report.exercises for test in exercise_tests(result)],
        "extra_data": {"submission": report.submission, "max_score": report.max_score,
                       "protections": report.protections},
    }


class GradescopeFormat:
    name = "gradescope"
    description = "Gradescope autograder results.json (tests per exercise, visibility honoured)"

    def render(self, report: SubmissionReport) -> str:
        return json.dumps(results_json(report), indent=2, allow_nan=False) + "\n"


@hookimpl
def grader_register_formats(registry):
    registry.add(GradescopeFormat())
