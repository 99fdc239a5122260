"""`--format junit`: the XML parsed back and checked field by field."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from conftest import EXAMPLE, run_cli

WRONG_SIGMOID = '''
import numpy as np

def sigmoid_derivative(x):
    print("computing", np.shape(x))
    return 1 / (1 + np.exp(-x))
'''


def render(plugins, report) -> ET.Element:
    text = plugins.formats.get("junit").render(report)
    assert text.startswith("<?xml")
    return ET.fromstring(text.encode("utf-8"))


def cases_by_name(root: ET.Element) -> dict[str, ET.Element]:
    return {case.get("name"): case for case in root.iter("testcase")}


def test_good_solution_one_passing_testcase_per_exercise(plugins, bank, grade, example_source):
    report = grade(example_source)
    root = render(plugins, report)
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    for element in (root, suite):
        assert (element.get("tests"), element.get("failures"), element.get("errors")) == ("9", "0", "0")
    cases = cases_by_name(root)
    assert set(cases) == set(bank)
    for exercise_id, case in cases.items():
        assert case.get("classname") == bank[exercise_id].exercise.kind
        assert float(case.get("time")) >= 0
        assert case.find("failure") is None and case.find("error") is None
    properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert properties["score"] == "9" and properties["max_score"] == "9"


def test_failed_exercise_has_the_feedback_the_line_and_the_output(plugins, grade):
    report = grade(WRONG_SIGMOID, "sigmoid-derivative", "matmul-backward")
    result = {r.id: r for r in report.exercises}["sigmoid-derivative"]
    root = render(plugins, report)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "1")
    case = cases_by_name(root)["sigmoid-derivative"]
    failure = case.find("failure")
    assert failure.get("type") == "failed"
    assert failure.get("message").startswith("0 of 7 cases passed; case 1: values differ")
    assert failure.text == result.feedback
    assert "diagnosis: your answer matches the function sigmoid(x) itself" in failure.text
    assert case.get("file") == report.submission
    assert case.get("line") == "4"                      # `def sigmoid_derivative` in WRONG_SIGMOID
    assert "computing (9,)" in root.find("testsuite/system-out").text     # everything printed
    properties = {p.get("name"): p.get("value") for p in case.find("properties")}
    assert properties == {"title": result.title, "score": "0", "max_score": "1", "status": "failed"}


def test_missing_function_and_timeout_are_errors(plugins, grade):
    report = grade("def sigmoid_derivative(x):\n    while True:\n        pass\n",
                   "sigmoid-derivative", "matmul-backward", timeout=0.5)
    cases = cases_by_name(render(plugins, report))
    missing = cases["matmul-backward"].find("error")
    assert missing.get("type") == "error" and "no function named 'matmul_backward_first'" in missing.text
    assert cases["matmul-backward"].find("failure") is None
    timeout = cases["sigmoid-derivative"].find("error")
    assert timeout.get("type") == "timeout"


def test_student_output_per_case_and_control_characters_stay_valid_xml(plugins, grade):
    report = grade(WRONG_SIGMOID.replace('print("computing", np.shape(x))', r'print("bell\x07 nul\x00")'),
                   "sigmoid-derivative")
    checks = report.exercises[0].checks
    for check in checks:           # which case printed what is the sandbox's business; fix it here
        check.output = ""
    checks[1].output = "bell\x07 nul\x00 esc\x1b\n"
    root = render(plugins, report)
    output = cases_by_name(root)["sigmoid-derivative"].find("system-out").text
    assert output == f"--- {checks[1].case} (sigmoid_derivative) ---\n" + r"bell\x07 nul\x00 esc\x1b" + "\n"
    assert r"bell\x07 nul\x00" in root.find("testsuite/system-out").text


@pytest.mark.slow
def test_cli_writes_junit_to_a_file(tmp_path):
    out = tmp_path / "junit.xml"
    result = run_cli("check", str(EXAMPLE), "--format", "junit", "--output", str(out),
                     "--exercise", "partial-add", "--exercise", "chain-deriv-2")
    assert result.returncode == 0 and result.stdout == ""
    cases = cases_by_name(ET.parse(out).getroot())
    assert {name: case.get("classname") for name, case in cases.items()} == {
        "partial-add": "partial_derivative", "chain-deriv-2": "chain_rule"}
