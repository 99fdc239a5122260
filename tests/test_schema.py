"""The JSON Schema of exercise files: shipped, printed by `grader schema`, and in agreement with the loader."""
from __future__ import annotations

import json

import pytest
import yaml

from conftest import ROOT, run_cli
from grader.errors import DefinitionError
from grader.loader import parse_exercise

jsonschema = pytest.importorskip("jsonschema")

BASE = {"id": "tanh-deriv", "kind": "derivative", "title": "tanh", "entry": "f",
        "function": "tanh(x)", "cases": [{"x": [-1.0, 0.5, 2.0]}]}
MATRIX = {"id": "mat", "kind": "matrix_gradient", "title": "m", "entry": "g", "function": "sum(X @ W)",
          "wrt": "X", "args": ["X", "W"], "cases": [{"X": [[1.0, 2.0]], "W": [[1.0], [2.0]]}]}
CHAIN = {"id": "chain", "kind": "chain_rule", "title": "c", "entry": ["u", "du"], "inner": "x**2 + 1",
         "outer": "u**3", "cases": [{"x": [1.0, 2.0]}]}


def variant(base: dict, drop: tuple = (), **changes) -> dict:
    data = {k: v for k, v in base.items() if k not in drop}
    data.update(changes)
    return data


GOOD = {
    "minimal": BASE,
    "all common keys": variant(BASE, description="d", points=2, tolerance={"rtol": 1e-4, "atol": 0},
                               seed=3, timeout=2.5, memory="512M", hints=["h"], visibility="hidden",
                               variants=True, limits={"cpu": 2, "open_files": 64, "output": "1M"},
                               model="../m.py", mutants=["w.py", {"file": "v.py", "expect": "pass"}]),
    "hints as one string": variant(BASE, hints="one hint"),
    "function_arg form": variant(BASE, drop=("function",), function_arg="func", args=["func", "x"],
                                 cases=[{"func": "sin", "x": [1.0]}]),
    "random only": variant(BASE, drop=("cases",), random=[{"count": 2, "x": {"uniform": [-1, 1], "shape": [3]}}]),
    "matrix": MATRIX,
    "matrix wrt list": variant(MATRIX, wrt=["X", "W"]),
    "chain expansion": CHAIN,
    "chain list": variant(CHAIN, drop=("inner", "outer"), entry="c", chain_arg="chain",
                          cases=[{"chain": ["sin", "exp"], "x": [1.0]}]),
}
BAD = {
    "missing title": variant(BASE, drop=("title",)),
    "missing entry": variant(BASE, drop=("entry",)),
    "unknown key": variant(BASE, pointz=1),
    "unknown kind": variant(BASE, kind="derivatve"),
    "id not kebab": variant(BASE, id="Tanh_Deriv"),
    "empty title": variant(BASE, title="  "),
    "entry not identifier": variant(BASE, entry="my-func"),
    "two entries for a one-entry kind": variant(BASE, entry=["f", "g"]),
    "same entry twice": variant(CHAIN, entry=["u", "u"]),
    "negative points": variant(BASE, points=-1),
    "boolean points": variant(BASE, points=True),
    "rtol of 1": variant(BASE, tolerance={"rtol": 1}),
    "negative atol": variant(BASE, tolerance={"atol": -0.1}),
    "tolerance typo": variant(BASE, tolerance={"rtl": 0.1}),
    "negative seed": variant(BASE, seed=-1),
    "float seed": variant(BASE, seed=1.5),
    "zero timeout": variant(BASE, timeout=0),
    "bad memory": variant(BASE, memory="lots"),
    "hints not strings": variant(BASE, hints=[1, 2]),
    "unknown limit": variant(BASE, limits={"gpu": 1}),
    "too few open files": variant(BASE, limits={"open_files": 3}),
    "bad visibility": variant(BASE, visibility="secret"),
    "variants not boolean": variant(BASE, variants="yes"),
    "model not a string": variant(BASE, model=3),
    "mutants not a list": variant(BASE, mutants="w.py"),
    "mutant expect": variant(BASE, mutants=[{"file": "w.py", "expect": "maybe"}]),
    "mutant unknown key": variant(BASE, mutants=[{"file": "w.py", "expected": "fail"}]),
    "no cases": variant(BASE, drop=("cases",)),
    "empty cases": variant(BASE, cases=[]),
    "random count 0": variant(BASE, random=[{"count": 0, "x": 1.0}]),
    "derivative without function": variant(BASE, drop=("function",)),
    "matrix without wrt": variant(MATRIX, drop=("wrt",)),
    "matrix key on a derivative": variant(BASE, wrt="x"),
    "chain with both forms": variant(CHAIN, chain_arg="chain"),
    "chain without inner": variant(CHAIN, drop=("inner",)),
    "not a mapping": ["id", "kind"],
}
# what only the loader can judge: formulas, inputs and references (the schema cannot evaluate)
LOADER_ONLY = {
    "formula does not parse": variant(BASE, function="tanh(x"),
    "unknown function": variant(BASE, function="tanhh(x)"),
    "infinite reference": variant(BASE, function="log(x)", cases=[{"x": [0.0, 1.0]}]),
    "case with an unknown parameter": variant(BASE, cases=[{"y": [1.0]}]),
}


@pytest.fixture(scope="module")
def validator():
    schema = json.loads((ROOT / "grader" / "exercise.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def loader_accepts(data, plugins) -> bool:
    try:
        parse_exercise(yaml.safe_dump(data), "x.yaml", plugins)
        return True
    except DefinitionError:
        return False


@pytest.mark.parametrize("name", GOOD)
def test_schema_and_loader_both_accept(name, validator, plugins):
    assert list(validator.iter_errors(GOOD[name])) == []
    assert loader_accepts(GOOD[name], plugins)


@pytest.mark.parametrize("name", BAD)
def test_schema_and_loader_both_refuse(name, validator, plugins):
    assert not validator.is_valid(BAD[name])
    assert not loader_accepts(BAD[name], plugins)


@pytest.mark.parametrize("name", LOADER_ONLY)
def test_what_only_the_loader_refuses(name, validator, plugins):
    assert validator.is_valid(LOADER_ONLY[name]) and not loader_accepts(LOADER_ONLY[name], plugins)


def test_bundled_files_carry_the_schema_line_and_pass_it(validator):
    files = sorted((ROOT / "exercises").glob("*.yaml"))
    assert len(files) == 9
    for path in files:
        first = path.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../grader/exercise.schema.json", path.name
        assert (path.parent / first.split("=", 1)[1]).resolve() == ROOT / "grader" / "exercise.schema.json"
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == [], path.name


def test_the_shipped_file_is_the_schema_of_the_builtin_kinds():
    from grader.plugin_manager import Plugins, build_plugin_manager
    from grader.templates import build_schema, shipped_schema
    pm, failures = build_plugin_manager(entry_points=False)
    assert shipped_schema() == json.loads(json.dumps(build_schema(Plugins(pm, failures)))), \
        "the key tables changed: grader schema --builtin > grader/exercise.schema.json"


def test_grader_schema_prints_it():
    done = run_cli("schema", "--shipped")
    assert done.returncode == 0
    assert json.loads(run_cli("schema", "--builtin").stdout) == json.loads(done.stdout)
    schema = json.loads(done.stdout)
    assert schema["required"] == ["id", "kind", "title", "entry"]
    assert {"model", "mutants"} <= set(schema["properties"])
