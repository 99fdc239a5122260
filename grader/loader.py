"""Loading and validating exercise files: YAML through a safe loader, strict keys, errors that name
the file, the line and the field, and duplicate ids across files."""
from __future__ import annotations

import re
import zlib
from importlib import resources
from pathlib import Path
from typing import Iterable

import yaml

from grader.errors import DefinitionError, did_you_mean
from grader.exercise import Exercise, Tolerance, exercise_rng
from grader.kinds import VISIBILITIES
from grader.sandbox.limits import Limits, parse_limits, parse_memory
from grader.yaml_lines import LineDict, load_yaml

COMMON_KEYS = {
    "id": "unique kebab-case identifier",
    "kind": "the exercise kind (grader plugins lists them)",
    "title": "a short title",
    "entry": "the student function name, or a list of names",
    "description": "the prompt shown by `grader show`",
    "points": "points for the exercise (default 1), split over its cases",
    "tolerance": "{rtol, atol} (defaults 1e-3 and 1e-4)",
    "seed": "seed of the random cases (default: derived from the id)",
    "timeout": "seconds per run of the student's functions (default 10)",
    "memory": "memory limit for the student's code, e.g. 512M (default 1G)",
    "limits": "more limits for the student's code: {cpu, processes, file_size, open_files, output}",
    "hints": "list of hints revealed after a failed attempt",
    "visibility": "visible, hidden, after_due_date or after_published (Gradescope)",
    "variants": "true: every student gets their own random inputs (seeded by the student id)",
    "model": "model solution (path relative to this file, kept out of what students receive); "
             "`grader validate` runs it",
    "mutants": "wrong solutions `grader validate` expects to fail: paths, or {file: path, expect: fail|pass}",
}
REQUIRED = ("id", "kind", "title", "entry")
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def bundled_exercises_dir() -> Path:
    """The bank that ships with the package (package data `grader.bank`); when `grader` is imported
    from a source checkout (`python -m grader` in the repository), the checkout's `exercises/`."""
    try:
        return Path(str(resources.files("grader.bank")))
    except ModuleNotFoundError:
        checkout = Path(__file__).resolve().parent.parent / "exercises"
        if checkout.is_dir():
            return checkout
        raise DefinitionError("the bundled exercises are missing: reinstall the package") from None


def _error(path: str, data: LineDict | None, field: str, message: str) -> DefinitionError:
    line = data.lines.get(field.split(".")[0]) if isinstance(data, LineDict) else None
    return DefinitionError(message, file=path, line=line, field=field)


def _number(path, data, field, value, *, minimum=0.0, strict=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _error(path, data, field, f"expected a number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        raise _error(path, data, field, f"must be {'>' if strict else '>='} {minimum:g}, got {value}")
    return float(value)


def parse_exercise(text: str, path: str, plugins) -> Exercise:
    """One exercise from YAML text; raises DefinitionError naming file, line and field."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DefinitionError(f"invalid YAML: {problem}", file=path,
                              line=mark.line + 1 if mark else None) from None
    if not isinstance(data, LineDict):
        raise DefinitionError("an exercise file must be a YAML mapping (key: value lines)", file=path, line=1)
    for key in REQUIRED:
        if key not in data:
            raise DefinitionError(f"missing required key '{key}' ({COMMON_KEYS[key]})", file=path,
                                  line=data.line, field=key)
    kind_name = data["kind"]
    if not isinstance(kind_name, str) or kind_name not in plugins.kinds:
        known = list(plugins.kinds)
        raise _error(path, data, "kind", f"unknown kind {kind_name!r}{did_you_mean(str(kind_name), known)}; "
                     f"known kinds: {', '.join(known)}")
    kind = plugins.kinds.get(kind_name)
    allowed = set(COMMON_KEYS) | set(kind.keys)
    for key in data:
        if key not in allowed:
            hint = did_you_mean(str(key), allowed) or f"; allowed keys: {', '.join(sorted(allowed))}"
            raise _error(path, data, str(key), f"unknown key '{key}'{hint}")
    exercise_id = data["id"]
    if not isinstance(exercise_id, str) or not _ID.match(exercise_id):
        raise _error(path, data, "id", f"{exercise_id!r} is not kebab-case (e.g. sigmoid-derivative)")
    if not isinstance(data["title"], str) or not data["title"].strip():
        raise _error(path, data, "title", "a non-empty string")
    entries = data["entry"]
    entries = [entries] if isinstance(entries, str) else entries
    if (not isinstance(entries, list) or not entries
            or not all(isinstance(e, str) and e.isidentifier() for e in entries)):
        raise _error(path, data, "entry", "a Python function name, or a list of them")
    if len(entries) != len(set(entries)):
        raise _error(path, data, "entry", "the same function is named twice")
    if len(entries) > 1 and not getattr(kind, "multiple_entries", False):
        raise _error(path, data, "entry", f"the {kind_name} kind takes one entry function")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _error(path, data, "description", "a string")
    points = _number(path, data, "points", data.get("points", 1))
    tolerance = _tolerance(path, data)
    seed = data.get("seed", zlib.crc32(exercise_id.encode()))
    if type(seed) is not int or seed < 0:
        raise _error(path, data, "seed", "a non-negative integer")
    limits = Limits()
    if "timeout" in data:
        limits = limits.with_overrides(wall=_number(path, data, "timeout", data["timeout"], strict=True))
    if "memory" in data:
        try:
            limits = limits.with_overrides(memory=parse_memory(data["memory"]))
        except ValueError as exc:
            raise _error(path, data, "memory", str(exc)) from None
    if "limits" in data:
        try:
            limits = limits.with_overrides(**parse_limits(data["limits"]))
        except ValueError as exc:
            raise _error(path, data, "limits", str(exc)) from None
    hints = data.get("hints", [])
    hints = [hints] if isinstance(hints, str) else hints
    if not isinstance(hints, list) or not all(isinstance(h, str) for h in hints):
        raise _error(path, data, "hints", "a list of strings")
    visibility = data.get("visibility", "visible")
    if visibility not in VISIBILITIES:
        raise _error(path, data, "visibility", f"one of {', '.join(VISIBILITIES)}{did_you_mean(str(visibility), VISIBILITIES)}")
    variants = data.get("variants", False)
    if type(variants) is not bool:
        raise _error(path, data, "variants", "true or false")
    _check_model_keys(path, data)  # paths only: nothing is resolved or run at load time
    spec = {key: value for key, value in data.items() if key in kind.keys}
    exercise = Exercise(id=exercise_id, kind=kind_name, title=data["title"].strip(), entries=tuple(entries),
                        spec=spec, description=description.strip(), points=points, tolerance=tolerance,
                        seed=seed, limits=limits, hints=tuple(hints), visibility=visibility, path=path,
                        lines=dict(data.lines), variants=variants)
    try:
        kind.validate(exercise, plugins.functions)
        # building the cases once proves every input resolves and every reference is finite
        exercise.remember_default_cases(
            kind.build_cases(exercise, plugins.functions, exercise_rng(exercise)))
    except DefinitionError as exc:
        if exc.file is None:
            raise DefinitionError(getattr(exc, "message", str(exc)), file=path, field=exc.field,
                                  line=exc.line or data.lines.get(exc.field)) from None
        raise
    return exercise


def _check_model_keys(path: str, data: LineDict) -> None:
    if "model" in data and (not isinstance(data["model"], str) or not data["model"].strip()):
        raise _error(path, data, "model", "a path to a Python file, relative to this exercise file")
    mutants = data.get("mutants", [])
    if not isinstance(mutants, list):
        raise _error(path, data, "mutants", "a list of paths, or of {file: path, expect: fail|pass}")
    for index, item in enumerate(mutants):
        if isinstance(item, dict):
            for key in item:
                if key not in ("file", "expect"):
                    raise _error(path, data, f"mutants[{index}].{key}",
                                 f"unknown key '{key}'{did_you_mean(str(key), ['file', 'expect'])}")
            if item.get("expect", "fail") not in ("fail", "pass"):
                raise _error(path, data, f"mutants[{index}].expect", "fail or pass")
            item = item.get("file")
        if not isinstance(item, str) or not item.strip():
            raise _error(path, data, f"mutants[{index}]", "a path to a Python file, relative to this exercise file")


def _tolerance(path: str, data: LineDict) -> Tolerance:
    raw = data.get("tolerance", {})
    if not isinstance(raw, dict):
        raise _error(path, data, "tolerance", "a mapping such as {rtol: 1e-3, atol: 1e-4}")
    for key in raw:
        if key not in ("rtol", "atol"):
            raise _error(path, data, f"tolerance.{key}", f"unknown key '{key}'{did_you_mean(str(key), ['rtol', 'atol'])}")
    default = Tolerance()
    rtol = _number(path, data, "tolerance.rtol", raw.get("rtol", default.rtol))
    atol = _number(path, data, "tolerance.atol", raw.get("atol", default.atol))
    if rtol >= 1 or atol >= 1:
        raise _error(path, data, "tolerance", "rtol and atol must be below 1: such a tolerance accepts anything")
    return Tolerance(rtol, atol)


def exercise_files(directory: Path) -> list[Path]:
    """Exercise files in a directory tree: *.yaml / *.yml holding a `kind:` key at top level."""
    found = []
    for path in sorted(directory.rglob("*")):
        if path.suffix in (".yaml", ".yml") and path.is_file() and is_exercise_file(path):
            found.append(path)
    return found


def is_exercise_file(path: Path) -> bool:
    """Cheap test that a YAML file is an exercise (CI configs and the like are never touched)."""
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:20000]
    except OSError:
        return False
    return bool(re.search(r"(?m)^kind:\s*\S", head)) and bool(re.search(r"(?m)^entry:", head))


def load_exercise(path: Path, plugins) -> Exercise:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"cannot read the file: {exc}", file=str(path)) from None
    return parse_exercise(text, str(path), plugins)


def load_exercises(directories: Iterable[Path] | None, plugins) -> list[Exercise]:
    """Every exercise in the directories (default: the bundled bank), ids unique across files."""
    paths: list[Path] = []
    for directory in directories or [bundled_exercises_dir()]:
        directory = Path(directory)
        if directory.is_file():
            paths.append(directory)
        elif directory.is_dir():
            found = exercise_files(directory)
            if not found:
                raise DefinitionError("no exercise files here (YAML files with top-level 'kind:' and "
                                      "'entry:' keys)", file=str(directory))
            paths += found
        else:
            raise DefinitionError("no such file or directory", file=str(directory))
    exercises: list[Exercise] = []
    seen: dict[str, str] = {}
    for path in paths:
        exercise = load_exercise(path, plugins)
        if exercise.id in seen:
            raise DefinitionError(f"duplicate id '{exercise.id}', also used in {seen[exercise.id]}",
                                  file=str(path), line=exercise.line_of("id"), field="id")
        seen[exercise.id] = str(path)
        exercises.append(exercise)
    return exercises
