"""`grader validate`: every problem of every exercise file (not just the first), each with the file,
the line, the field and a fix; differentiability at every case; and discrimination: the model
solution must pass and the mutants (built-in mutations of the model's answers, hand-written wrong
files) must fail, graded through the real sandbox."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import yaml

from grader.errors import DefinitionError, GraderError
from grader.exercise import Case, Exercise
from grader.loader import COMMON_KEYS, REQUIRED, bundled_exercises_dir, exercise_files, parse_exercise
from grader.yaml_lines import LineDict, load_yaml

# optional keys whose removal cannot cause a new error: after reporting one, blank it and re-parse
_REMOVABLE = set(COMMON_KEYS) - set(REQUIRED)
# stand-ins appended past the end of the file when a required key is missing, so the rest is checked
_STAND_INS = {"id": "missing-id", "title": "missing title", "entry": "missing_entry"}
_MAX_ROUNDS = 50


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str | None
    message: str
    fix: str = ""

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        what = f"field '{self.field}': " if self.field else ""
        text = f"{where}: {what}{self.message}"
        return text + (f"\n    fix: {self.fix}" if self.fix else "")

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message,
                "fix": self.fix}


@dataclass
class Validation:
    """What `validate` found: problems, and counts of what it checked."""
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    exercises: list[Exercise] = field(default_factory=list)
    models_run: int = 0
    mutants_run: int = 0
    mutants_killed: int = 0
    without_model: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# ---- definitions: every problem of one file -----------------------------------------------------

def _fix_for(error: DefinitionError, plugins, data: Any) -> str:
    message = error.message
    close = re.search(r"did you mean '([^']+)'", message)
    top = (error.field or "").split(".")[0].split("[")[0]
    if message.startswith("unknown key"):
        return f"rename it to '{close.group(1)}'" if close else "remove it"
    if close:
        return f"use '{close.group(1)}'"
    if message.startswith("invalid YAML"):
        return "fix the YAML syntax at this line (indentation, a missing ':' or an unclosed bracket or quote)"
    kind = data.get("kind") if isinstance(data, dict) else None
    help_text = COMMON_KEYS.get(top)
    if help_text is None and isinstance(kind, str) and kind in plugins.kinds:
        help_text = dict(getattr(plugins.kinds.get(kind), "keys", {})).get(top)
    return f"'{top}': {help_text}" if help_text else ""


def _blank_key(text: str, data: LineDict, key: str) -> str | None:
    """The text with a top-level key's lines turned into comments (line numbers stay put); a
    required key gets a stand-in value on its first line instead."""
    start = data.lines.get(key)
    if start is None or list(data.lines.values()).count(start) > 1:
        return None
    following = [line for line in data.lines.values() if line > start]
    lines = text.splitlines(keepends=True)
    end = min(following) - 1 if following else len(lines)
    for number in range(start, end + 1):
        lines[number - 1] = "#\n"
    if key in _STAND_INS:
        lines[start - 1] = f"{key}: {_STAND_INS[key]}\n"
    return "".join(lines)


def check_definition(text: str, path: str, plugins) -> tuple[Exercise | None, LineDict | None, list[Problem]]:
    """Every problem the loader finds in one file: the loader stops at the first, so after each
    one in an optional or unknown key, that key is blanked out and the file parsed again."""
    problems: list[Problem] = []
    try:
        data = load_yaml(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, LineDict):
        missing = [key for key in REQUIRED if key not in data]
        for key in missing:
            problems.append(Problem(path, data.line, key, f"missing required key '{key}'",
                                    f"add '{key}:' ({COMMON_KEYS[key]})"))
        if "kind" in missing:
            return None, data, problems
        text = text.rstrip("\n") + "\n" + "".join(f"{key}: {_STAND_INS[key]}\n" for key in missing)
    for _ in range(_MAX_ROUNDS):
        try:
            exercise = parse_exercise(text, path, plugins)
        except DefinitionError as exc:
            problems.append(Problem(exc.file or path, exc.line, exc.field, exc.message,
                                    _fix_for(exc, plugins, data)))
            top = (exc.field or "").split(".")[0].split("[")[0]
            allowed = _allowed_keys(data, plugins)
            replaceable = top in _REMOVABLE or top in _STAND_INS or top not in allowed
            if not isinstance(data, LineDict) or not top or not replaceable:
                return None, data if isinstance(data, LineDict) else None, problems
            blanked = _blank_key(text, data, top)
            if blanked is None:
                return None, data, problems
            try:  # blanking can break what the rest refers to (a YAML alias): then stop here
                data, text = load_yaml(blanked), blanked
            except yaml.YAMLError:
                return None, data, problems
            continue
        return exercise, data, problems  # after repairs: good enough for the case checks
    return None, data if isinstance(data, LineDict) else None, problems


def _allowed_keys(data: Any, plugins) -> set[str]:
    allowed = set(COMMON_KEYS)
    kind = data.get("kind") if isinstance(data, dict) else None
    if isinstance(kind, str) and kind in plugins.kinds:
        allowed |= set(getattr(plugins.kinds.get(kind), "keys", {}))
    return allowed


# ---- differentiability at every case ------------------------------------------------------------

def reference_formulas(kind, exercise: Exercise, functions, case: Case) -> Iterator[tuple[Any, dict, list[str]]]:
    """(Expression, inputs, wrt) whose gradient gives this case's reference. A plugin kind can
    provide its own `reference_formulas(exercise, functions, case)`; unknown kinds yield nothing."""
    from grader.expr import parse
    from grader.gradient_kind import GradientKind
    from grader.kinds import student_function_text
    from grader_plugins.chain_rule import ChainRuleKind, compose
    from grader_plugins.derivative import DerivativeKind

    own = getattr(kind, "reference_formulas", None)
    if own is not None:
        yield from own(exercise, functions, case)
        return
    values = dict(zip(case.arg_names, case.args))
    spec = exercise.spec
    if isinstance(kind, GradientKind):
        formula = kind.formula_for(exercise, functions, values)
        yield formula, {n: np.asarray(values[n], float) for n in formula.variables}, kind.wrt(exercise)
    elif isinstance(kind, DerivativeKind):
        function_arg, point = spec.get("function_arg"), spec.get("point_arg", "x")
        text = (student_function_text(str(values[function_arg]), functions) if function_arg
                else str(spec["function"]))
        formula = parse(text, registry=functions)
        if formula.variables:
            yield formula, {"x": values[point]}, ["x"]
    elif isinstance(kind, ChainRuleKind):
        if spec.get("chain_arg"):
            chain = [str(f) for f in values[spec["chain_arg"]]]
            yield parse(compose(chain), registry=functions), {"x": values[spec.get("point_arg", "x")]}, ["x"]
            return
        outer_var = spec.get("outer_var", "u")
        if case.arg_names == (outer_var,):
            yield parse(str(spec["outer"]), registry=functions), {outer_var: case.args[0]}, [outer_var]
        else:
            whole = re.sub(rf"\b{re.escape(outer_var)}\b", f"({spec['inner']})", str(spec["outer"]))
            for text in (str(spec["inner"]), whole):
                formula = parse(text, registry=functions)
                if formula.variables:
                    yield formula, {"x": case.args[0]}, ["x"]


def check_differentiable(exercise: Exercise, cases: list[Case], plugins) -> list[Problem]:
    """A case whose input sits on a kink or singularity grades a correct student wrong."""
    from grader.kinks import kink_hits

    kind = plugins.kinds.get(exercise.kind)
    problems, seen = [], set()
    for case in cases:
        try:
            formulas = list(reference_formulas(kind, exercise, plugins.functions, case))
        except GraderError:
            continue  # the loader already judged the formulas; nothing more to learn here
        for formula, values, wrt in formulas:
            for hit in kink_hits(formula, values, wrt):
                label = case.label.split(":")[0]
                if (label, hit.part, hit.function) in seen:
                    continue
                seen.add((label, hit.part, hit.function))
                key = "random" if label.startswith("random") else "cases"
                problems.append(Problem(
                    exercise.path, exercise.line_of(key), _case_field(label),
                    f"{label}: not differentiable there: {hit.describe()}; the reference takes one side's "
                    f"derivative and a student's central difference straddles the point",
                    f"move this input at least {1e-3:g} away from {hit.point:g} "
                    f"(or change the seed of the random cases)"))
    return problems


def _case_field(label: str) -> str:
    match = re.fullmatch(r"case (\d+)", label)
    return f"cases[{int(match.group(1)) - 1}]" if match else "random"


# ---- discrimination: model and mutants -----------------------------------------------------------

def _each(change: Callable[[np.ndarray], np.ndarray], applies=lambda part: True) -> Callable:
    def mutate(got, case, rng):
        parts = got if isinstance(got, tuple) else (got,)
        if not any(applies(np.asarray(part)) for part in parts):
            return None
        return tuple(change(part) for part in got) if isinstance(got, tuple) else change(got)
    return mutate


def _noise(got, case, rng):
    def change(part):  # every element off by exactly 0.2%, in a random direction
        return part * (1 + 0.002 * rng.choice([-1.0, 1.0], size=np.shape(part)))
    return _each(change)(got, case, rng)


_FACTOR = re.compile(r"without the factor|factor .* is missing|derivative of \w+ is missing")


def _drop_last_factor(got, case, rng):
    """The answer without the chain's last factor, from the kind's own alternatives (Case.context)."""
    named = [value for description, value in (case.context.get("alternatives") or {}).items()
             if _FACTOR.search(description)]
    return np.asarray(named[-1], dtype=np.float64) if named and not isinstance(got, tuple) else None


# name -> (what it returns, mutate(answer, case, rng) -> mutated answer, or None where it cannot apply)
MUTATIONS: dict[str, tuple[str, Callable]] = {
    "transpose": ("the transpose of the model's answer", _each(np.transpose, lambda a: a.ndim >= 2)),
    "negate": ("the model's answer with the sign flipped", _each(np.negative)),
    "scale-by-2": ("twice the model's answer", _each(lambda a: 2.0 * a)),
    "drop-last-factor": ("the chain rule without its last factor", _drop_last_factor),
    "noise-0.2%": ("the model's answer with 0.2% relative noise", _noise),
    "wrong-shape": ("the model's answer with an extra leading axis", _each(lambda a: np.asarray(a)[np.newaxis])),
}


def _mutant_passes(exercise, cases, answers, mutate, plugins) -> bool | None:
    """Grade one built-in mutation in this process: True when it passes every case it applies to,
    None when it applies to none (e.g. the transpose of 1-D answers). A mutation that happens to
    leave an answer unchanged (the transpose of a symmetric matrix) passes that case: rightly so,
    since such a case cannot catch the mistake."""
    from grader.engine import check_case  # the engine's own per-case verdict, so nothing is re-implemented
    from grader.sandbox.client import CallOutcome

    rng = np.random.default_rng(0)
    applied, passed = False, True
    for case, got in zip(cases, answers):
        mutated = mutate(got, case, rng)
        if mutated is None:
            continue
        applied = True
        if check_case(exercise, case, CallOutcome("ok", value=mutated), plugins, None, None).status != "passed":
            passed = False
    return passed if applied else None


def _mutant_entries(data: LineDict) -> list[tuple[str, str]]:
    return [(item["file"], item.get("expect", "fail")) if isinstance(item, dict) else (item, "fail")
            for item in data.get("mutants") or []]


def check_discrimination(exercise: Exercise, data: LineDict, plugins, sandbox, validation: Validation) -> list[Problem]:
    from grader.engine import grade_submission, prepare

    base = Path(exercise.path).parent
    model = _near(base, str(data["model"]))
    problems = []
    line = exercise.line_of("model")
    if not model.is_file():
        return [Problem(exercise.path, line, "model", f"no model solution at {model}",
                        "create it, or correct the path (it is relative to this exercise file)")]
    mutants = []
    for index, (name, expect) in enumerate(_mutant_entries(data)):
        path = _near(base, name)
        if not path.is_file():
            problems.append(Problem(exercise.path, exercise.line_of("mutants"), f"mutants[{index}]",
                                    f"no mutant file at {path}", "create it, or correct the path"))
        else:
            mutants.append((index, path, expect))
    (prepared,) = prepare([exercise], plugins)
    report = grade_submission(model, [prepared], plugins, sandbox)
    validation.models_run += 1
    result = report.exercises[0]
    if result.status != "passed":
        failing: dict[str, list] = {}  # one problem per distinct message (a crash fails every case alike)
        for check in result.checks:
            if check.status != "passed":
                failing.setdefault(check.message, []).append(check)
        for message, checks in failing.items():
            more = f" (and {len(checks) - 1} more case(s) alike)" if len(checks) > 1 else ""
            problems.append(Problem(
                exercise.path, line, "model",
                f"the model solution and the reference disagree at {checks[0].case} "
                f"({checks[0].inputs}){more}: {message}",
                "fix the model, or the formula/cases if the reference is what is wrong"))
        return problems
    answers = [check.got_value for check in result.checks]
    tolerance_line = exercise.line_of("tolerance") or exercise.line_of("cases") or exercise.line_of("random")
    for name, (description, mutate) in MUTATIONS.items():
        passes = _mutant_passes(exercise, prepared.cases, answers, mutate, plugins)
        if passes is None:
            continue
        validation.mutants_run += 1
        validation.mutants_killed += not passes
        if passes:
            problems.append(Problem(
                exercise.path, tolerance_line, "tolerance" if exercise.line_of("tolerance") else "cases",
                f"built-in mutant '{name}' ({description}) passes every case: the exercise cannot tell it "
                f"from a right answer", _loose_fix(name, exercise)))
    for index, path, expect in mutants:
        field_name = f"mutants[{index}]"
        report = grade_submission(path, [prepared], plugins, sandbox)
        validation.mutants_run += 1
        got = report.exercises[0]
        validation.mutants_killed += got.status == "failed" and expect == "fail"
        if expect == "fail" and got.status == "passed":
            problems.append(Problem(exercise.path, exercise.line_of("mutants"), field_name,
                                    f"the wrong solution {path.name} passes every case",
                                    "add cases where it goes wrong, or tighten the tolerance"))
        elif expect == "fail" and got.status != "failed":
            problems.append(Problem(exercise.path, exercise.line_of("mutants"), field_name,
                                    f"the wrong solution {path.name} did not run ({got.status}): "
                                    f"{_first_message(got)}",
                                    "a mutant must return a wrong answer, not crash"))
        elif expect == "pass" and got.status != "passed":
            problems.append(Problem(exercise.path, exercise.line_of("mutants"), field_name,
                                    f"{path.name} is marked 'expect: pass' but {got.status}: {_first_message(got)}",
                                    "fix it, or loosen the tolerance if it is an acceptable answer"))
    return problems


def _near(base: Path, relative: str) -> Path:
    """A path relative to the exercise file, shown without '..' detours."""
    import os
    return Path(os.path.normpath(base / relative))


def _first_message(result) -> str:
    return next((c.message for c in result.checks if c.status != "passed"), "")


def _loose_fix(name: str, exercise: Exercise) -> str:
    if name == "noise-0.2%":
        return f"tighten the tolerance (now {exercise.tolerance}) below 2e-3 relative"
    if name == "transpose":
        return "add a case with a non-square, non-symmetric answer"
    if name == "drop-last-factor":
        return "add cases where that factor is not 1 (e.g. inputs away from where the derivative is 1)"
    if name == "wrong-shape":
        return "the comparison accepted a different shape: check the plugins' grader_compare"
    return "add cases whose answer is not zero, or tighten the tolerance"


# ---- all files ---------------------------------------------------------------------------------------

def _files(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    found, problems = [], []
    for path in paths:
        path = Path(path)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += exercise_files(path)
        else:
            problems.append(Problem(str(path), None, None, "no such file or directory",
                                    "give an exercise directory or a .yaml file"))
    return found, problems


def validate(paths: Iterable[Path] | None, plugins, sandbox=None, *, require_model: bool = False) -> Validation:
    """Check every exercise file under `paths` (default: the bundled bank). Without a sandbox
    nothing is run: models and mutants are only checked when one is given."""
    files, problems = _files(list(paths or [bundled_exercises_dir()]))
    validation = Validation(problems=problems, files=len(files))
    loaded: list[tuple[Exercise, LineDict]] = []
    seen: dict[str, str] = {}
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            validation.problems.append(Problem(str(path), None, None, f"cannot read the file: {exc}",
                                               "save it as UTF-8 text"))
            continue
        exercise, data, found = check_definition(text, str(path), plugins)
        validation.problems += found
        if isinstance(data, LineDict) and isinstance(data.get("id"), str) and data["id"] in seen:
            validation.problems.append(Problem(str(path), data.lines.get("id"), "id",
                                               f"duplicate id '{data['id']}', also used in {seen[data['id']]}",
                                               "give every exercise its own id"))
        elif isinstance(data, LineDict) and isinstance(data.get("id"), str):
            seen[data["id"]] = str(path)
        if exercise is not None:
            loaded.append((exercise, data, not found))
    from grader.engine import prepare
    for exercise, data, clean in loaded:
        validation.exercises.append(exercise)
        (prepared,) = prepare([exercise], plugins)
        found = check_differentiable(exercise, prepared.cases, plugins)
        validation.problems += found
        if "model" not in data:
            validation.without_model.append(exercise.id)
            if require_model:
                validation.problems.append(Problem(exercise.path, data.line, "model", "no model solution",
                                                   "add 'model: path/to/model.py' (kept out of what students receive)"))
            continue
        if sandbox is not None and clean and not found:
            validation.problems += check_discrimination(exercise, data, plugins, sandbox, validation)
    validation.problems.sort(key=lambda p: (p.file, p.line or 0))
    return validation


def render(validation: Validation) -> str:
    lines = [str(problem) for problem in validation.problems]
    summary = (f"{len(validation.exercises)} exercise(s) in {validation.files} file(s); "
               f"{validation.models_run} model solution(s) run, "
               f"{validation.mutants_killed} of {validation.mutants_run} mutants caught")
    if validation.without_model:
        summary += f"; no model (discrimination not checked): {', '.join(validation.without_model)}"
    verdict = f"{len(validation.problems)} problem(s)" if validation.problems else "OK"
    return "\n".join(lines + ([""] if lines else []) + [summary, verdict]) + "\n"
