"""The command line as users run it: exit codes, the JSON contract on stdout, no tracebacks."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import EXAMPLE, run_cli


def test_check_example_full_marks_exit_0():
    result = run_cli("check", str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Score: 9/9" in result.stdout


def test_json_is_one_object_on_stdout_whatever_the_student_prints(tmp_path):
    source = EXAMPLE.read_text() + '\nprint("{\\"score\\": 100}")\nimport sys\nprint("PASSED", file=sys.stderr)\n'
    solution = tmp_path / "solution.py"
    solution.write_text(source.replace("return s * (1 - s)", "print('noise'); return s"))
    result = run_cli("check", str(solution), "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)          # nothing else on stdout
    assert set(report) >= {"submission", "score", "max_score", "exercises"}
    assert report["submission"] == str(solution)
    assert report["max_score"] == 9.0 and 8.0 <= report["score"] < 9.0
    by_id = {e["id"]: e for e in report["exercises"]}
    assert by_id["sigmoid-derivative"]["status"] == "failed"
    for exercise in report["exercises"]:
        assert set(exercise) >= {"id", "status", "score", "max_score", "feedback", "checks"}
        assert exercise["status"] in ("passed", "failed", "error", "timeout")
    assert '{"score": 100}' in report["output"] and "PASSED" in report["output"]


def test_output_option_writes_the_file(tmp_path):
    out = tmp_path / "report.json"
    result = run_cli("check", str(EXAMPLE), "--format", "json", "--output", str(out), "--exercise", "partial-add")
    assert result.returncode == 0 and result.stdout == ""
    report = json.loads(out.read_text())
    assert [e["id"] for e in report["exercises"]] == ["partial-add"]


@pytest.mark.parametrize("args, words", [
    (["check", "no_such_file.py"], "no such file"),
    (["check", str(EXAMPLE), "--exercise", "sigmoid-derivativ"], "did you mean 'sigmoid-derivative'"),
    (["check", str(EXAMPLE), "--format", "yaml"], "unknown format 'yaml'"),
    (["show", "nope"], "no exercise 'nope'"),
])
def test_usage_errors_exit_2_without_traceback(args, words):
    result = run_cli(*args)
    assert result.returncode == 2
    assert words in result.stderr and "Traceback" not in result.stderr


def test_a_broken_exercise_file_exits_2_with_file_and_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("id: bad\nkind: derivative\ntitle: t\nentry: f\nfunction: sigmoid(x\n"
                                       "cases: [{x: 1.0}]\n")
    result = run_cli("check", str(EXAMPLE), "--exercises", str(tmp_path))
    assert result.returncode == 2
    assert "bad.yaml:5" in result.stderr and "function" in result.stderr
    assert "Traceback" not in result.stderr


def test_list_show_plugins():
    listed = run_cli("list", "--format", "json")
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 9
    shown = run_cli("show", "matrix-sum-backward")
    assert shown.returncode == 0
    assert "def matrix_function_backward_sum_1(X, W, sigma)" in shown.stdout and "->" in shown.stdout
    plugins = run_cli("plugins")
    assert plugins.returncode == 0
    for name in ("derivative", "chain_rule", "partial_derivative", "matrix_gradient", "sigmoid", "json", "text"):
        assert name in plugins.stdout


def test_custom_exercise_dir_and_seed_change_random_cases(tmp_path):
    (tmp_path / "t.yaml").write_text("id: tanh-d\nkind: derivative\ntitle: t\nentry: f\nfunction: tanh(x)\n"
                                     "random:\n  - {count: 1, x: {uniform: [-2, 2], shape: [3]}}\n")
    solution = tmp_path / "s.py"
    solution.write_text("import numpy as np\ndef f(x):\n    return 1 / np.cosh(x) ** 2\n")
    inputs = []
    for seed in ("1", "2", "1"):
        result = run_cli("check", str(solution), "--exercises", str(tmp_path), "--format", "json", "--seed", seed)
        assert result.returncode == 0
        inputs.append(json.loads(result.stdout)["exercises"][0]["checks"][0]["inputs"])
    assert inputs[0] == inputs[2] != inputs[1]


def test_hidden_cases_show_their_verdict_not_their_values(tmp_path):
    (tmp_path / "t.yaml").write_text(
        "id: tanh-d\nkind: derivative\ntitle: t\nentry: f\nfunction: tanh(x)\n"
        "cases:\n  - {x: [0.5, 1.5]}\n  - {x: [-0.123456, 0.654321], visibility: hidden}\n")
    solution = tmp_path / "s.py"   # right on the visible case only
    solution.write_text("import numpy as np\ndef f(x):\n    print('secret-probe', x)\n"
                        "    return 1 / np.cosh(x) ** 2 if x[0] > 0 else x\n")
    for fmt in ("json", "text"):
        result = run_cli("check", str(solution), "--exercises", str(tmp_path), "--format", fmt)
        assert result.returncode == 1
        assert "0.123456" not in result.stdout and "0.654321" not in result.stdout.replace("0.6543", "")
        assert "-0.1235" not in result.stdout and "-0.123" not in result.stdout
    report = json.loads(run_cli("check", str(solution), "--exercises", str(tmp_path), "--format", "json").stdout)
    visible, hidden = report["exercises"][0]["checks"]
    assert visible["status"] == "passed" and hidden["status"] == "failed"
    assert hidden["inputs"] == "" and hidden["worst"] == [] and hidden["output"] == ""
    assert "hidden case" in report["exercises"][0]["feedback"]


def test_the_command_exits_at_once_yet_flushes_its_output_and_runs_atexit(tmp_path):
    # `grader` skips tearing the interpreter down; what a piped stdout holds and atexit still happen
    script = ("import atexit, sys\n"
              "from grader.cli import run\n"
              "atexit.register(lambda: print('atexit ran'))\n"
              "print('x' * 100000, end='')\n"     # larger than the pipe's buffer in Python
              "sys.argv = ['grader', 'check', sys.argv[1], '--format', 'json']\n"
              "run()\n"
              "print('never')\n")
    done = subprocess.run([sys.executable, "-c", script, str(EXAMPLE)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("x" * 100000) and out.endswith("atexit ran\n") and "never" not in out
    report = json.loads(out[100000:-len("atexit ran\n")])
    assert report["score"] == report["max_score"]
