"""Starting points for instructors: `grader new` templates per built-in kind (a commented exercise
file and a model solution stub) and the JSON Schema of exercise files, built from the same key
tables the loader checks (COMMON_KEYS, each kind's `keys`)."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from grader.errors import UsageError, did_you_mean
from grader.loader import COMMON_KEYS, REQUIRED, VISIBILITIES

SCHEMA_FILE = "exercise.schema.json"
SCHEMA_ID = "https://calculus-grader.example/exercise.schema.json"
_IDENTIFIER = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}
_FORMULA = {"type": ["string", "number"]}
_PATH = {"type": "string", "pattern": r"\S"}
_SIZE = {"oneOf": [{"type": "number", "exclusiveMinimum": 0},
                   {"type": "string", "pattern": r"^\s*[0-9.]+\s*([KMGkmg]([iI]?[bB])?|[bB])?\s*$"}]}

# JSON Schema of every common key; the loader is the authority, the schema mirrors it for editors
COMMON_SCHEMA: dict[str, dict] = {
    "id": {"type": "string", "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$"},
    "kind": {"type": "string"},
    "title": {"type": "string", "pattern": r"\S"},
    "entry": {"oneOf": [_IDENTIFIER, {"type": "array", "items": _IDENTIFIER, "minItems": 1,
                                      "uniqueItems": True}]},
    "description": {"type": "string"},
    "points": {"type": "number", "minimum": 0},
    "tolerance": {"type": "object", "additionalProperties": False, "properties": {
        "rtol": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
        "atol": {"type": "number", "minimum": 0, "exclusiveMaximum": 1}}},
    "seed": {"type": "integer", "minimum": 0},
    "timeout": {"type": "number", "exclusiveMinimum": 0},
    "memory": _SIZE,
    "limits": {"type": "object", "additionalProperties": False, "properties": {
        "cpu": {"type": "number", "exclusiveMinimum": 0},
        "processes": {"type": "integer", "minimum": 1},
        "open_files": {"type": "integer", "minimum": 16},
        "file_size": _SIZE,
        "output": _SIZE}},
    "hints": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "visibility": {"enum": list(VISIBILITIES)},
    "variants": {"type": "boolean"},
    "model": _PATH,
    "mutants": {"type": "array", "items": {"oneOf": [
        _PATH, {"type": "object", "required": ["file"], "additionalProperties": False,
                "properties": {"file": _PATH, "expect": {"enum": ["fail", "pass"]}}}]}},
}
_CASES = {"type": "array", "items": {"type": "object"}}
_RANDOM = {"type": "array", "items": {"type": "object", "properties": {
    "count": {"type": "integer", "minimum": 1, "maximum": 1000}}}}
KIND_KEY_SCHEMA: dict[str, dict] = {
    "args": {"type": "array", "items": _IDENTIFIER},
    "cases": _CASES,
    "random": _RANDOM,
    "function": _FORMULA,
    "function_arg": _IDENTIFIER,
    "point_arg": _IDENTIFIER,
    "chain_arg": _IDENTIFIER,
    "inner": _FORMULA,
    "outer": _FORMULA,
    "outer_var": _IDENTIFIER,
    "wrt": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
    "roles": {"type": "object", "additionalProperties": {
        "enum": ["inner", "inner_derivative", "outer_derivative", "derivative"]}},
}
# rules of the built-in kinds that span several keys
_AT_LEAST_ONE_CASE = {"anyOf": [{"required": ["cases"], "properties": {"cases": {"minItems": 1}}},
                                {"required": ["random"], "properties": {"random": {"minItems": 1}}}]}
KIND_RULES: dict[str, list[dict]] = {
    "derivative": [{"anyOf": [{"required": ["function"]}, {"required": ["function_arg"]}]}],
    "chain_rule": [{"oneOf": [{"required": ["chain_arg"], "not": {"anyOf": [{"required": ["inner"]},
                                                                         {"required": ["outer"]}]}},
                              {"required": ["inner", "outer"], "not": {"required": ["chain_arg"]}}]}],
}


def _property(help_text: str, schema: dict | None) -> dict:
    return {"description": help_text, **(schema or {})}


def build_schema(plugins) -> dict[str, Any]:
    """The schema for every loaded kind: common keys, then per kind (if kind is K) its own keys."""
    kinds = list(plugins.kinds)
    properties = {key: _property(help_text, COMMON_SCHEMA.get(key)) for key, help_text in COMMON_KEYS.items()}
    properties["kind"] = {**properties["kind"], "enum": kinds}
    branches = []
    for name in kinds:
        kind = plugins.kinds.get(name)
        own = dict(getattr(kind, "keys", {}))
        declared = getattr(kind, "schema", {}) or {}
        then: dict[str, Any] = {
            "properties": {**{key: {} for key in COMMON_KEYS},
                           **{key: _property(text, declared.get(key, KIND_KEY_SCHEMA.get(key)))
                              for key, text in own.items()}},
            "additionalProperties": False,
        }
        required = list(getattr(kind, "required", ()))
        if required:
            then["required"] = required
        rules = list(KIND_RULES.get(name, []))
        if "cases" in own and "random" in own:
            rules.append(_AT_LEAST_ONE_CASE)
        if not getattr(kind, "multiple_entries", False):
            rules.append({"properties": {"entry": {"oneOf": [{"type": "string"},
                                                             {"type": "array", "maxItems": 1}]}}})
        if rules:
            then["allOf"] = rules
        branches.append({"if": {"properties": {"kind": {"const": name}}, "required": ["kind"]}, "then": then})
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "calculus-grader exercise file",
        "description": "One exercise: `grader validate` checks everything this schema does, and also "
                       "parses formulas and computes the reference at every case.",
        "type": "object",
        "required": list(REQUIRED),
        "properties": properties,
        "allOf": branches,
    }


def shipped_schema() -> dict[str, Any]:
    """The schema file that ships with the package (grader/exercise.schema.json)."""
    return json.loads(resources.files("grader").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


# ---- grader new ------------------------------------------------------------------------------------

_HEADER = """\
# yaml-language-server: $schema={schema}
# A {kind} exercise. `grader validate {name}` checks it; `grader show {id}` shows the prompt.
id: {id}
kind: {kind}
title: {title}
"""
_COMMON = """\
points: 1
# |student - reference| <= rtol*|reference| + atol*max(1, max|reference|), per element
tolerance: {{rtol: 1.0e-3, atol: 1.0e-4}}
hints:
  - {hint}
# the model solution (kept out of what students receive) must pass; mutants must fail
model: {model}
"""

TEMPLATES: dict[str, dict[str, str]] = {
    "derivative": {
        "title": "Derivative of tanh",
        "body": """\
entry: tanh_derivative
description: |
  Write tanh_derivative(x) that returns tanh'(x) elementwise for an array x.
# the formula in x whose derivative the student returns (see the README: the expression language)
function: tanh(x)
args: [x]
# fixed cases: both signs, zero, and well-spread points (at least 5)
cases:
  - {x: {linspace: [-3, 3, 7]}}
  - {x: [-2.0, -0.5, 0.0, 0.5, 2.0]}
# seeded random cases
random:
  - {count: 2, x: {uniform: [-3, 3], shape: [6]}}
""",
        "hint": "tanh'(x) = 1 - tanh(x)**2.",
        "stub": '''def tanh_derivative(x):
    """tanh'(x) elementwise."""
    raise NotImplementedError  # FILL IN: return 1 - np.tanh(x) ** 2
''',
        "filled": "def tanh_derivative(x):\n    return 1 - np.tanh(x) ** 2\n",
    },
    "chain_rule": {
        "title": "Chain rule for two functions",
        "body": """\
entry: chain_two
description: |
  Write chain_two(chain, x): `chain` is a list [f1, f2] of elementwise numpy functions. Return
  the derivative of f2(f1(x)) at every point of x.
# the parameter that receives the functions (applied f1 first) and the one that gets the points
chain_arg: chain
point_arg: x
args: [chain, x]
cases:
  - {chain: [sin, square], x: {linspace: [-2, 2, 9]}}
  - {chain: [square, sigmoid], x: [-2.0, -1.0, 0.0, 1.0, 2.0]}
random:
  - {count: 2, chain: [tanh, exp], x: {uniform: [-2, 2], shape: [6]}}
""",
        "hint": "f2'(f1(x)) * f1'(x).",
        "stub": '''def chain_two(chain, x):
    """d f2(f1(x)) / dx."""
    raise NotImplementedError  # FILL IN: f1, f2 = chain; central differences of each, multiplied
''',
        "filled": ("def _deriv(f, x, d=1e-3):\n    return (f(x + d) - f(x - d)) / (2 * d)\n\n\n"
                   "def chain_two(chain, x):\n    f1, f2 = chain\n"
                   "    return _deriv(f2, f1(x)) * _deriv(f1, x)\n"),
    },
    "partial_derivative": {
        "title": "Partial derivatives of sigma(x * y)",
        "body": """\
entry: multiply_backward
description: |
  s = sigma(x * y). Write multiply_backward(x, y, sigma) that returns (ds/dx, ds/dy).
# the formula; a function parameter (sigma) is called by its name
function: sigma(x * y)
wrt: [x, y]
args: [x, y, sigma]
cases:
  - {x: {linspace: [-2, 2, 5]}, y: [1.0, -1.0, 0.5, 2.0, -0.5], sigma: sigmoid}
  - {x: [-1.0, 0.5, 1.0, 2.0, -2.0], y: [0.5, 2.0, -3.0, 1.0, 1.5], sigma: tanh}
random:
  - {count: 2, x: {uniform: [-2, 2], shape: [6]}, y: {uniform: [-2, 2], shape: [6]}, sigma: sigmoid}
""",
        "hint": "With a = x * y: ds/dx = sigma'(a) * y.",
        "stub": '''def multiply_backward(x, y, sigma):
    """(ds/dx, ds/dy) for s = sigma(x * y)."""
    raise NotImplementedError  # FILL IN: a = x * y; ds/da by a central difference; times y and x
''',
        "filled": ("def multiply_backward(x, y, sigma):\n    a = x * y\n"
                   "    dsda = (sigma(a + 1e-3) - sigma(a - 1e-3)) / 2e-3\n    return dsda * y, dsda * x\n"),
    },
    "matrix_gradient": {
        "title": "dL/dW for L = sum(sigma(X @ W))",
        "body": """\
entry: backward_w
description: |
  L = sum(sigma(X @ W)) with X (m, n) and W (n, k). Write backward_w(X, W, sigma) that returns
  dL/dW, shaped like W.
function: sum(sigma(X @ W))
wrt: W
args: [X, W, sigma]
# non-square shapes, so a transposed answer cannot pass
cases:
  - {X: {uniform: [-2, 2], shape: [3, 4]}, W: {uniform: [-1, 1], shape: [4, 2]}, sigma: sigmoid}
  - {X: {uniform: [-2, 2], shape: [2, 5]}, W: {uniform: [-1, 1], shape: [5, 3]}, sigma: tanh}
random:
  - {count: 2, X: {normal: [0, 1], shape: [4, 3]}, W: {normal: [0, 1], shape: [3, 5]}, sigma: sigmoid}
""",
        "hint": "dL/dW = X.T @ sigma'(X @ W).",
        "stub": '''def backward_w(X, W, sigma):
    """dL/dW for L = sum(sigma(X @ W)), shaped like W."""
    raise NotImplementedError  # FILL IN: N = X @ W; sigma'(N) by a central difference; X.T @ that
''',
        "filled": ("def backward_w(X, W, sigma):\n    N = X @ W\n"
                   "    dsdn = (sigma(N + 1e-3) - sigma(N - 1e-3)) / 2e-3\n    return X.T @ dsdn\n"),
    },
}


def schema_location() -> str:
    """Where editors find the schema: the installed package's file."""
    return str(Path(str(resources.files("grader"))) / SCHEMA_FILE)


def render_exercise(kind: str, exercise_id: str, model: str) -> str:
    template = TEMPLATES[kind]
    text = _HEADER.format(schema=schema_location(), kind=kind, id=exercise_id, name=f"{exercise_id}.yaml",
                          title=template["title"])
    return text + template["body"] + _COMMON.format(hint=json.dumps(template["hint"]), model=model)


def render_stub(kind: str, exercise_id: str) -> str:
    return (f'"""Model solution of exercise {exercise_id}: `grader validate` runs it; keep it out of '
            f'what students receive."""\nimport numpy as np\n\n\n' + TEMPLATES[kind]["stub"])


def write_exercise(kind: str, exercise_id: str, directory: Path, plugins,
                   solutions: Path | None = None) -> list[Path]:
    """Write DIR/ID.yaml and the model stub SOLUTIONS/ID.py; refuse to overwrite either."""
    import re
    if kind not in TEMPLATES:
        known = sorted(set(TEMPLATES) | set(plugins.kinds))
        hint = did_you_mean(kind, known)
        extra = " (a plugin kind: copy one of its documented examples instead)" if kind in plugins.kinds else ""
        raise UsageError(f"no template for kind '{kind}'{hint}{extra}; templates: {', '.join(sorted(TEMPLATES))}")
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", exercise_id):
        raise UsageError(f"'{exercise_id}' is not a kebab-case id (e.g. tanh-derivative)")
    directory = Path(directory)
    solutions = Path(solutions) if solutions else directory.resolve().parent / "solutions"
    exercise_file, stub_file = directory / f"{exercise_id}.yaml", solutions / f"{exercise_id}.py"
    for path in (exercise_file, stub_file):
        if path.exists():
            raise UsageError(f"{path} exists already; not overwriting it")
    model = _relative(stub_file, directory)
    directory.mkdir(parents=True, exist_ok=True)
    solutions.mkdir(parents=True, exist_ok=True)
    exercise_file.write_text(render_exercise(kind, exercise_id, model), encoding="utf-8")
    stub_file.write_text(render_stub(kind, exercise_id), encoding="utf-8")
    return [exercise_file, stub_file]


def _relative(target: Path, start: Path) -> str:
    import os
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()
