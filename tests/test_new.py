"""`grader new KIND ID`: a valid, commented exercise and a model stub that validates once filled."""
from __future__ import annotations

import pytest
import yaml

from conftest import run_cli
from grader.templates import TEMPLATES, write_exercise
from grader.validate import validate


def fill(stub_path, kind: str) -> None:
    """What an instructor does: replace the stub's body with a working solution."""
    text = stub_path.read_text()
    head = text[: text.index("def ")]
    stub_path.write_text(head + TEMPLATES[kind]["filled"])


def test_every_builtin_kind_has_a_template(plugins):
    assert set(TEMPLATES) == {"derivative", "chain_rule", "partial_derivative", "matrix_gradient"}
    assert set(TEMPLATES) <= set(plugins.kinds)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_template_validates_once_the_stub_is_filled(tmp_path, plugins, sandbox, kind):
    exercise_file, stub = write_exercise(kind, "my-exercise", tmp_path / "exercises", plugins)
    assert stub == tmp_path / "solutions" / "my-exercise.py"
    text = exercise_file.read_text()
    assert text.startswith("# yaml-language-server: $schema=") and text.count("\n#") >= 2
    assert yaml.safe_load(text)["model"] == "../solutions/my-exercise.py"
    unfilled = validate([exercise_file], plugins, sandbox)
    assert [p.field for p in unfilled.problems] == ["model"]      # NotImplementedError: not yet
    fill(stub, kind)
    result = validate([exercise_file], plugins, sandbox, require_model=True)
    assert result.ok, [str(p) for p in result.problems]
    assert result.models_run == 1 and result.mutants_killed == result.mutants_run >= 3


def test_command_writes_both_files_and_refuses_to_overwrite(tmp_path):
    done = run_cli("new", "derivative", "tanh-deriv", "--dir", str(tmp_path / "ex"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ex" / "tanh-deriv.yaml").is_file() and (tmp_path / "solutions" / "tanh-deriv.py").is_file()
    before = (tmp_path / "ex" / "tanh-deriv.yaml").read_text()
    again = run_cli("new", "derivative", "tanh-deriv", "--dir", str(tmp_path / "ex"))
    assert again.returncode == 2 and "exists already" in again.stderr and "Traceback" not in again.stderr
    assert (tmp_path / "ex" / "tanh-deriv.yaml").read_text() == before


def test_unknown_kind_and_bad_id_exit_2_with_a_hint(tmp_path):
    done = run_cli("new", "derivatve", "x", "--dir", str(tmp_path))
    assert done.returncode == 2 and "did you mean 'derivative'?" in done.stderr
    done = run_cli("new", "derivative", "Not_Kebab", "--dir", str(tmp_path))
    assert done.returncode == 2 and "kebab-case" in done.stderr
    assert list(tmp_path.iterdir()) == []
