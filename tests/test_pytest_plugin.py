"""The pytest plugin through pytester: collection, verdicts, failure text, bank checks, selection."""
from __future__ import annotations

import importlib.util
import shutil
import textwrap
import xml.etree.ElementTree as ET

import pytest

# pytester's in-process runs drop the modules first imported inside them; numpy cannot be
# imported twice in one process, so everything the plugin uses is imported here, once
import grader.engine  # noqa: F401
import grader.loader  # noqa: F401
import grader.pytest_plugin  # noqa: F401
from conftest import ROOT

pytest_plugins = ["pytester"]

BANK = ROOT / "exercises"
SOLUTION = """
    import numpy as np

    def sigmoid_derivative(x):
        s = 1 / (1 + np.exp(-np.asarray(x, dtype=float)))
        return s * (1 - s)

    def matmul_backward_first(X, W):
        return W.T
"""
# the sigmoid itself instead of its derivative, and dN/dX transposed
WRONG = SOLUTION.replace("return s * (1 - s)", "return s").replace("return W.T", "return W")


@pytest.fixture
def course(pytester: pytest.Pytester, plugins) -> pytest.Pytester:
    """A course repository: two bank exercises, a CI config, a docker-compose file, a solution."""
    exercises = pytester.mkdir("exercises")
    for name in ("sigmoid-derivative.yaml", "matmul-backward.yaml"):
        shutil.copy(BANK / name, exercises / name)
    workflows = pytester.path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    for example in sorted((ROOT / "examples" / "ci").glob("*.yml")):
        shutil.copy(example, workflows / example.name)
    (exercises / "docker-compose.yml").write_text("services:\n  web:\n    image: nginx\n    ports: ['80:80']\n")
    (exercises / "notes.yaml").write_text("kind: [unbalanced\n")        # broken, but not an exercise
    pytester.makefile(".py", solution=textwrap.dedent(SOLUTION), wrong=textwrap.dedent(WRONG))
    plugins.kinds, plugins.functions, plugins.formats  # noqa: B018 - import every plugin module now
    return pytester


def test_collects_one_item_per_exercise_named_by_id_and_nothing_else(course):
    result = course.runpytest("exercises", ".github", "--collect-only", "-q")
    collected = sorted(line for line in result.outlines if "::" in line)
    assert collected == ["exercises/matmul-backward.yaml::matmul-backward",
                         "exercises/sigmoid-derivative.yaml::sigmoid-derivative"]
    assert result.ret == 0


def test_good_solution_passes_every_item(course):
    result = course.runpytest("exercises", "--submission", "solution.py", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["grader: grading solution.py against the exercise files collected",
                                 "*exercises/sigmoid-derivative.yaml::sigmoid-derivative PASSED*"])


def test_wrong_solution_fails_with_the_graders_feedback_and_no_traceback(course):
    result = course.runpytest("exercises", "--submission", "wrong.py")
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    assert "sigmoid-derivative: FAIL 0/1 (wrong.py)" in text
    assert "your answer matches the function sigmoid(x) itself instead of its derivative" in text
    assert "matmul-backward: FAIL 0/1 (wrong.py)" in text and "wrong shape: expected (1, 3), got (3, 1)" in text
    assert "hint: sigma'(x) = sigma(x) * (1 - sigma(x))." in text
    assert "_ exercise sigmoid-derivative _" in text.replace("__", "_")      # reportinfo names it
    for leak in ("Traceback", "ExerciseNotPassed", "pytest_plugin.py", "def runtest"):
        assert leak not in text


def test_partly_right_solution_passes_and_fails_the_right_items(course):
    partly = SOLUTION.replace("return W.T", "return W")
    course.makefile(".py", partly=textwrap.dedent(partly))
    result = course.runpytest("exercises", "--submission", "partly.py", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["PASSED exercises/sigmoid-derivative.yaml::sigmoid-derivative",
                                 "FAILED exercises/matmul-backward.yaml::matmul-backward*"], consecutive=False)


@pytest.mark.slow
def test_keyword_selection_and_exitfirst(course):
    selected = course.runpytest("exercises", "--submission", "wrong.py", "-k", "matmul")
    selected.assert_outcomes(failed=1, deselected=1)
    assert "matmul-backward: FAIL" in selected.stdout.str()
    first = course.runpytest("exercises", "--submission", "wrong.py", "-x", "-q")
    first.assert_outcomes(failed=1)


def test_junitxml_has_one_testcase_per_exercise_with_the_feedback(course):
    course.runpytest("exercises", "--submission", "wrong.py", "--junitxml", "out.xml")
    root = ET.parse(course.path / "out.xml").getroot()
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert set(cases) == {"sigmoid-derivative", "matmul-backward"}
    failure = cases["sigmoid-derivative"].find("failure")
    assert failure is not None
    assert "0 of 7 cases passed" in failure.get("message") or "0 of 7 cases passed" in (failure.text or "")
    properties = {p.get("name"): p.get("value") for p in cases["sigmoid-derivative"].iter("property")}
    assert properties["score"] == "0/1" and properties["cases"] == "0 of 7 passed"


def test_without_submission_items_check_the_exercises(course):
    result = course.runpytest("exercises", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*matmul-backward.yaml::matmul-backward PASSED*"])


@pytest.mark.slow
def test_broken_exercise_is_a_failing_item_with_file_and_line_not_a_collection_error(course):
    (course.path / "exercises" / "bad.yaml").write_text(textwrap.dedent("""\
        id: bad-one
        kind: derivative
        title: Broken on purpose
        entry: f
        function: sigmoidd(x)
        cases:
          - {x: 1.0}
    """))
    (course.path / "exercises" / "not-yaml.yaml").write_text("id: worse\nkind: derivative\nentry: g\ncases: [\n")
    (course.path / "exercises" / "log-at-zero.yaml").write_text(textwrap.dedent("""\
        id: log-at-zero
        kind: derivative
        title: Reference not finite
        entry: h
        function: log(x)
        cases:
          - {x: 0.0}
    """))
    result = course.runpytest("exercises", "-rA")
    result.assert_outcomes(passed=2, failed=3, errors=0)
    text = result.stdout.str()
    assert "exercises/bad.yaml:5: field 'function'" in text and "sigmoidd" in text
    assert "did you mean 'sigmoid'" in text
    assert "not-yaml.yaml" in text and "invalid YAML" in text
    assert "log-at-zero.yaml" in text
    result.stdout.fnmatch_lines(["FAILED exercises/bad.yaml::bad-one*", "FAILED exercises/not-yaml.yaml::worse*"],
                                consecutive=False)
    assert "Traceback" not in text


def test_duplicate_id_fails_the_second_file(course):
    shutil.copy(BANK / "matmul-backward.yaml", course.path / "exercises" / "zz-copy.yaml")
    result = course.runpytest("exercises", "-rA")
    result.assert_outcomes(passed=2, failed=1)
    assert "duplicate id 'matmul-backward'" in result.stdout.str()


@pytest.mark.slow
def test_plain_pytest_runs_are_left_alone(course):
    """The plugin is loaded for every user: a bare `pytest` or the project's testpaths see no YAML."""
    course.makepyfile(test_unrelated="def test_one():\n    assert True\n")
    bare = course.runpytest("--collect-only", "-q")
    assert not any(".yaml::" in line for line in bare.outlines)
    assert any("test_unrelated.py::test_one" in line for line in bare.outlines)
    course.makeini("[pytest]\ntestpaths = exercises test_unrelated.py\n")
    configured = course.runpytest("--collect-only", "-q")
    assert not any(".yaml::" in line for line in configured.outlines)


def test_missing_submission_is_a_usage_error(course):
    result = course.runpytest("exercises", "--submission", "nope.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--submission: no such file: nope.py" in result.stderr.str()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="pytest-xdist is not installed")
def test_xdist_gives_the_same_verdicts(course):
    partly = SOLUTION.replace("return W.T", "return W")
    course.makefile(".py", partly=textwrap.dedent(partly))
    result = course.runpytest_subprocess("exercises", "--submission", "partly.py", "-n", "2", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    assert "matmul-backward: FAIL" in result.stdout.str()
