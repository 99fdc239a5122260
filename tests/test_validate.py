"""`grader validate`: all problems per file with line, field and fix; kinks; model and mutants."""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from grader.validate import MUTATIONS, check_definition, validate

GOOD = """\
id: tanh-deriv
kind: derivative
title: tanh
entry: tanh_derivative
function: tanh(x)
cases:
  - {x: [-2.0, -0.5, 0.0, 0.5, 2.0]}
"""
MODEL = "import numpy as np\n\ndef tanh_derivative(x):\n    return 1 - np.tanh(x) ** 2\n"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def fields(result) -> list[tuple[str, str | None]]:
    return [(Path(p.file).name, p.field) for p in result.problems]


def test_every_problem_of_a_file_is_reported_with_line_field_and_fix(tmp_path, plugins):
    write(tmp_path, "bad.yaml", """\
        id: Bad_Id
        kind: derivative
        title: x
        entry: f
        pointz: 3
        points: -1
        tolerance: {rtol: 2}
        visibility: hiden
        function: tanh(x)
        cases:
          - {x: [-1.0, 0.5, 1.0]}
        """)
    result = validate([tmp_path], plugins)
    by_field = {p.field: p for p in result.problems}
    assert set(by_field) == {"id", "pointz", "points", "tolerance", "visibility"}
    assert by_field["pointz"].line == 5 and by_field["pointz"].fix == "rename it to 'points'"
    assert by_field["points"].line == 6 and "must be >= 0" in by_field["points"].message
    assert by_field["visibility"].fix == "use 'hidden'"
    assert all(p.fix for p in result.problems)


def test_missing_required_keys_are_all_reported_and_the_rest_still_checked(tmp_path, plugins):
    path = write(tmp_path, "a.yaml", "kind: derivative\nfunction: tanh(x)\ncolor: red\ncases: [{x: 1.0}]\n")
    result = validate([path], plugins)  # a file named directly: discovery wants kind: and entry:
    assert sorted(f for _, f in fields(result)) == ["color", "entry", "id", "title"]


def test_yaml_syntax_unknown_kind_and_duplicate_ids(tmp_path, plugins):
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", GOOD.replace("title: tanh", "title: again"))
    write(tmp_path, "c.yaml", "id: c\nkind: derivative\ntitle: [unclosed\nentry: f\n")
    write(tmp_path, "d.yaml", "id: d\nkind: derivatve\ntitle: d\nentry: f\n")
    result = validate([tmp_path], plugins)
    messages = {Path(p.file).name: p for p in result.problems}
    assert "duplicate id 'tanh-deriv'" in messages["b.yaml"].message
    assert messages["c.yaml"].message.startswith("invalid YAML") and messages["c.yaml"].line == 4
    assert messages["d.yaml"].fix == "use 'derivative'"
    assert len(result.problems) == 3


def test_a_clean_file_has_no_problem(tmp_path, plugins):
    write(tmp_path, "a.yaml", GOOD)
    result = validate([tmp_path], plugins)
    assert result.ok and [e.id for e in result.exercises] == ["tanh-deriv"]
    assert result.without_model == ["tanh-deriv"]


@pytest.mark.parametrize("formula, point, flagged", [
    ("relu(x)", 0.0, "relu"),
    ("abs(x - 1)", 1.0, "abs"),
    ("leaky_relu(2 * x)", 0.0004, "leaky_relu"),       # within a central difference's step
    ("log(x + 2)", -2.0, None),                          # the loader already refuses an infinite reference
    ("sqrt(x + 2.0005)", 0.0, "sqrt"),                   # finite reference, but a singularity 5e-4 away
    ("sqrt(x * x + 0.0005)", 0.0, None),                 # near the singularity, but times 2x = 0
    ("square(leaky_relu(x))", 0.0, None),                # differentiable: both sides give 0
    ("relu(x)", 0.5, None),
])
def test_kinks_and_singularities_at_a_case_are_flagged(tmp_path, plugins, formula, point, flagged):
    write(tmp_path, "k.yaml", GOOD.replace("tanh(x)", formula).replace("0.0, 0.5", f"{point}, 0.75"))
    result = validate([tmp_path], plugins)
    kink = [p for p in result.problems if "not differentiable" in p.message]
    if flagged is None:
        assert not kink
    else:
        assert len(kink) == 1 and f"of {flagged} at" in kink[0].message
        assert kink[0].field == "cases[0]" and kink[0].line == 6


def test_kinks_inside_a_matrix_gradient_are_flagged(tmp_path, plugins):
    write(tmp_path, "m.yaml", """\
        id: relu-layer
        kind: matrix_gradient
        title: relu layer
        entry: f
        function: sum(relu(X @ W))
        wrt: X
        args: [X, W]
        cases:
          - {X: [[1.0, 2.0]], W: [[0.5, 1.0], [1.0, -0.25]]}
          - {X: [[1.0, -1.0]], W: [[1.0], [1.0]]}
        """)
    (problem,) = validate([tmp_path], plugins).problems
    assert problem.field == "cases[1]" and "relu(X @ W)" in problem.message


def test_command_line_exit_codes_and_nothing_executed(tmp_path):
    marker = tmp_path / "pwned"
    write(tmp_path, "evil.yaml", GOOD.replace("tanh(x)", f"__import__('os').system('touch {marker}')"))
    done = run_cli("validate", str(tmp_path), "--no-run")
    assert done.returncode == 2 and "Traceback" not in done.stderr + done.stdout
    assert "evil.yaml:5: field 'function'" in done.stdout and not marker.exists()
    (tmp_path / "evil.yaml").unlink()
    write(tmp_path, "ok.yaml", GOOD)
    assert run_cli("validate", str(tmp_path), "--no-run").returncode == 0
    assert run_cli("validate", str(tmp_path / "nowhere")).returncode == 2


# ---- discrimination: model and mutants through the real sandbox -------------------------------------

def bank_copy(tmp_path: Path, exercise_id: str, **replace: str) -> Path:
    """One bundled exercise with its model and mutants, laid out as in the repository."""
    text = (ROOT / "exercises" / f"{exercise_id}.yaml").read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    write(tmp_path, f"exercises/{exercise_id}.yaml", text)
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions", dirs_exist_ok=True)
    write(tmp_path, "examples/solution.py", (ROOT / "examples" / "solution.py").read_text())
    return tmp_path / "exercises"


def test_mutation_names_are_the_documented_ones():
    assert list(MUTATIONS) == ["transpose", "negate", "scale-by-2", "drop-last-factor", "noise-0.2%",
                               "wrong-shape"]


@pytest.mark.slow
def test_a_too_loose_tolerance_is_caught_by_the_noise_mutant(tmp_path, plugins, sandbox):
    directory = bank_copy(tmp_path, "sigmoid-derivative", **{"title:": "tolerance: {rtol: 0.01}\ntitle:"})
    result = validate([directory], plugins, sandbox)
    (problem,) = result.problems
    assert "'noise-0.2%'" in problem.message and problem.field == "tolerance" and problem.line == 4
    assert result.models_run == 1 and result.mutants_killed == result.mutants_run - 1


@pytest.mark.slow
def test_symmetric_cases_let_the_transpose_pass(tmp_path, plugins, sandbox):
    write(tmp_path, "ex/sym.yaml", """\
        id: sym
        kind: matrix_gradient
        title: symmetric
        entry: matmul_backward_first
        function: sum(X @ W)
        wrt: X
        args: [X, W]
        cases:
          - {X: [[1.0, 2.0], [3.0, 4.0]], W: [[1.0, 1.0], [1.0, 1.0]]}
        model: ../model.py
        """)
    write(tmp_path, "model.py", "import numpy as np\ndef matmul_backward_first(X, W):\n"
                                "    return np.ones((X.shape[0], W.shape[1])) @ W.T\n")
    result = validate([tmp_path / "ex"], plugins, sandbox)
    assert [p.message.split("(")[0] for p in result.problems] == ["built-in mutant 'transpose' "]


@pytest.mark.slow
def test_model_that_disagrees_with_the_reference_and_bad_mutants(tmp_path, plugins, sandbox):
    write(tmp_path, "ex/a.yaml", GOOD + "model: ../model.py\nmutants:\n  - ../right.py\n"
                                        "  - {file: ../crash.py}\n  - {file: ../gone.py, expect: fail}\n")
    write(tmp_path, "model.py", MODEL.replace("1 - np.tanh", "1.01 - np.tanh"))
    result = validate([tmp_path / "ex"], plugins, sandbox)
    assert [p.field for p in result.problems] == ["model", "mutants[0]", "mutants[1]", "mutants[2]"]
    assert "disagree at case 1" in result.problems[0].message
    write(tmp_path, "model.py", MODEL)
    write(tmp_path, "right.py", MODEL)
    write(tmp_path, "crash.py", "def tanh_derivative(x):\n    raise ValueError('no')\n")
    write(tmp_path, "gone.py", "def tanh_derivative(x):\n    return x\n")
    result = validate([tmp_path / "ex"], plugins, sandbox)
    problems = {p.field: p.message for p in result.problems}
    assert set(problems) == {"mutants[0]", "mutants[1]"}
    assert "right.py passes every case" in problems["mutants[0]"]
    assert "did not run (error)" in problems["mutants[1]"]


@pytest.mark.slow
def test_the_bundled_bank_validates_with_models_and_mutants():
    done = run_cli("validate", str(ROOT / "exercises"), "--require-model", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    import json
    report = json.loads(done.stdout)
    assert report["problems"] == [] and len(report["exercises"]) == 9 and report["models_run"] == 9
    assert report["mutants_caught"] == report["mutants_run"] >= 9 * 4


@pytest.mark.slow
def test_every_bundled_mutant_is_wrong_and_every_model_right(tmp_path, plugins, sandbox, bank):
    from grader.engine import grade_submission
    for exercise_id, item in bank.items():
        model = grade_submission(ROOT / "examples" / "solution.py", [item], plugins, sandbox)
        mutant = grade_submission(ROOT / "solutions" / "mutants" / f"{exercise_id}.py", [item], plugins, sandbox)
        assert (model.exercises[0].status, mutant.exercises[0].status) == ("passed", "failed"), exercise_id


def test_check_definition_returns_the_repaired_exercise_for_case_checks(plugins):
    exercise, data, problems = check_definition(GOOD + "colour: red\n", "x.yaml", plugins)
    assert exercise is not None and exercise.id == "tanh-deriv"
    assert [(p.field, p.line) for p in problems] == [("colour", 8)]


HOSTILE = {
    "python tag": "id: h\nkind: derivative\ntitle: t\nentry: f\nfunction: !!python/object/apply:os.system ['touch {marker}']\n",
    "dunder formula": "id: h\nkind: matrix_gradient\ntitle: t\nentry: f\nfunction: X.__class__\nwrt: X\nargs: [X]\ncases: [{X: [[1.0]]}]\n",
    "lambda in chain": "id: h\nkind: chain_rule\ntitle: t\nentry: f\nchain_arg: c\nargs: [c, x]\ncases: [{c: ['(lambda: 1)()', sin], x: [1.0]}]\n",
    "call of an input": "id: h\nkind: partial_derivative\ntitle: t\nentry: f\nfunction: x(2)\nwrt: x\nargs: [x]\ncases: [{x: [1.0]}]\n",
    "alias bomb": "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nid: h\nkind: derivative\ntitle: t\nentry: f\n",
    "not a mapping": "- kind: derivative\n- entry: f\n",
    "huge shape": "id: h\nkind: derivative\ntitle: t\nentry: f\nfunction: x\ncases: [{x: {uniform: [0, 1], shape: [100000, 100000]}}]\n",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_files_are_refused_cleanly_and_nothing_runs(tmp_path, name):
    marker = tmp_path / "pwned"
    path = write(tmp_path, "h.yaml", HOSTILE[name].replace("{marker}", str(marker)))
    done = run_cli("validate", str(path), "--no-run")
    assert done.returncode == 2, done.stdout
    assert "Traceback" not in done.stdout + done.stderr and f"{path}:" in done.stdout
    assert not marker.exists()


def test_unreadable_file_is_a_problem_not_a_crash(tmp_path, plugins):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"id: x\nkind: derivative\nentry: f\ntitle: \xff\xfe\n")
    (problem,) = validate([path], plugins).problems
    assert "cannot read the file" in problem.message and problem.fix
