"""Exercise files: strict validation; every error names the file, the line and the field."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grader.errors import DefinitionError
from grader.loader import load_exercises, parse_exercise

GOOD = """\
id: my-exercise
kind: derivative
title: Derivative of tanh
entry: tanh_derivative
function: tanh(x)
cases:
  - {x: [-1.0, 0.0, 1.0]}
"""


def parse(text, plugins):
    return parse_exercise(textwrap.dedent(text), "ex.yaml", plugins)


def test_a_good_file_loads_with_defaults(plugins):
    exercise = parse(GOOD, plugins)
    assert exercise.id == "my-exercise" and exercise.entries == ("tanh_derivative",)
    assert exercise.points == 1.0 and exercise.tolerance.rtol == 1e-3 and exercise.tolerance.atol == 1e-4
    assert exercise.limits.wall == 10.0


@pytest.mark.parametrize("change, line, field, words", [
    (("function: tanh(x)", "functoin: tanh(x)"), 5, "functoin", "did you mean 'function'"),
    (("kind: derivative", "kind: derivatve"), 2, "kind", "did you mean 'derivative'"),
    (("id: my-exercise", "id: My_Exercise"), 1, "id", "kebab-case"),
    (("function: tanh(x)", "function: __import__('os').system('true')"), None, None, "__import__"),
    (("function: tanh(x)", "function: tanh(y)"), 5, "function", "only use the variable x"),
    (("entry: tanh_derivative", "entry: 3"), 4, "entry", "function name"),
    (("cases:\n  - {x: [-1.0, 0.0, 1.0]}", "cases:\n  - {y: [1.0]}"), 6, "cases[0].y", "not a parameter"),
    (("cases:\n  - {x: [-1.0, 0.0, 1.0]}", "cases:\n  - {x: {uniform: [2, 1]}}"), 6, "cases[0].x", "low < high"),
    (("title: Derivative of tanh", "title: Derivative of tanh\npoints: -1"), 4, "points", ">= 0"),
    (("title: Derivative of tanh", "title: Derivative of tanh\ntolerance: {rtol: 1e-3, atl: 1}"), 4, "tolerance.atl",
     "did you mean 'atol'"),
    (("title: Derivative of tanh", "title: Derivative of tanh\nmemory: lots"), 4, "memory", "512M"),
    (("function: tanh(x)", "function: log(x)"), 6, "cases", "not finite"),
])
def test_bad_files_name_line_and_field(plugins, change, line, field, words):
    old, new = change
    with pytest.raises(DefinitionError) as info:
        parse(GOOD.replace(old, new), plugins)
    error = info.value
    assert error.file == "ex.yaml"
    assert words in str(error), str(error)
    if line is not None:
        assert error.line == line, str(error)
    if field is not None:
        assert error.field == field, str(error)


@pytest.mark.parametrize("text, words", [
    ("id: [unclosed\n", "invalid YAML"),
    ("- just\n- a list\n", "must be a YAML mapping"),
    ("id: a\nid: b\n", "duplicate key"),
    ("id: x\nkind: derivative\n", "missing required key 'title'"),
    ("a: !!python/object/apply:os.system ['true']\n", "invalid YAML"),
])
def test_broken_yaml_is_refused(plugins, text, words):
    with pytest.raises(DefinitionError) as info:
        parse(text, plugins)
    assert words in str(info.value)
    assert str(info.value).startswith("ex.yaml")


def test_duplicate_ids_across_files_name_both_files(tmp_path, plugins):
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(DefinitionError) as info:
        load_exercises([tmp_path], plugins)
    message = str(info.value)
    assert "a.yaml" in message and "b.yaml" in message and "duplicate id 'my-exercise'" in message


def test_only_exercise_files_are_loaded(tmp_path, plugins):
    (tmp_path / "ex.yaml").write_text(GOOD)
    (tmp_path / "ci.yml").write_text("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n")
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: x\n")
    assert [e.id for e in load_exercises([tmp_path], plugins)] == ["my-exercise"]


def test_the_bundled_bank_has_the_contract_ids_and_entries(plugins):
    exercises = {e.id: e for e in load_exercises(None, plugins)}
    assert {i: (e.kind, e.entries) for i, e in exercises.items()} == {
        "numeric-derivative": ("derivative", ("deriv",)),
        "sigmoid-derivative": ("derivative", ("sigmoid_derivative",)),
        "chain-rule-expansion": ("chain_rule", ("u", "du_dx", "df_du", "df_dx")),
        "chain-deriv-2": ("chain_rule", ("chain_deriv_2",)),
        "chain-deriv-3": ("chain_rule", ("chain_deriv_3",)),
        "partial-add": ("partial_derivative", ("multiple_inputs_add_backward",)),
        "matmul-backward": ("matrix_gradient", ("matmul_backward_first",)),
        "matrix-sigmoid-backward": ("matrix_gradient", ("matrix_function_backward_1",)),
        "matrix-sum-backward": ("matrix_gradient", ("matrix_function_backward_sum_1",)),
    }


def test_bank_cases_are_well_spread(bank):
    import numpy as np
    for exercise_id, item in bank.items():
        points = np.concatenate([np.ravel(arg) for case in item.cases for arg in case.args
                                 if isinstance(arg, (float, np.ndarray))])
        assert points.size >= 5, exercise_id
        assert (points < 0).any() and (points > 0).any(), exercise_id
        assert any(case.label.startswith("random") for case in item.cases), exercise_id
        if exercise_id.startswith(("numeric", "sigmoid", "chain", "partial")):
            assert (points == 0).any(), f"{exercise_id} has no case at 0"
    shapes = {case.args[0].shape for case in bank["matrix-sum-backward"].cases}
    assert any(m != n for m, n in shapes)


def test_a_misspelt_case_visibility_is_refused(plugins):
    text = GOOD.replace("  - {x: [-1.0, 0.0, 1.0]}", "  - {x: [-1.0, 0.0, 1.0], visibility: hiden}")
    with pytest.raises(DefinitionError) as info:
        parse(text, plugins)
    assert info.value.field == "cases[0].visibility" and "did you mean 'hidden'" in str(info.value)


def test_a_directory_without_exercises_is_an_error(tmp_path, plugins):
    (tmp_path / "ci.yml").write_text("on: push\n")
    with pytest.raises(DefinitionError) as info:
        load_exercises([tmp_path], plugins)
    assert "no exercise files" in str(info.value) and str(tmp_path) in str(info.value)


def test_the_bank_is_found_from_a_source_checkout_too(monkeypatch):
    # `python -m grader` in a clone imports grader from the checkout, where grader.bank (package
    # data mapped from exercises/) does not exist as a module
    from grader import loader

    def missing(name):
        raise ModuleNotFoundError(name)
    monkeypatch.setattr(loader.resources, "files", missing)
    assert loader.bundled_exercises_dir() == Path(loader.__file__).resolve().parent.parent / "exercises"
