"""Grading one submission: cases from the kinds, a run in the sandbox, comparison in this process."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from grader.compare import AnswerError, Comparison, WrongStructure, to_array
from grader.errors import did_you_mean
from grader.exercise import Case, Exercise, exercise_rng, format_value
from grader.feedback import exercise_feedback
from grader.results import CheckResult, ExerciseResult, SubmissionReport
from grader.sandbox.client import CallOutcome, CallSpec, ExerciseRun, RunOutcome, Sandbox
from grader.transport import encode_input


@dataclass
class Prepared:
    exercise: Exercise
    cases: list[Case]

    @cached_property
    def calls(self) -> list[CallSpec]:
        """The calls as wire data, encoded once for every student (each child decodes fresh arrays)."""
        return [CallSpec(case.entry, [encode_input(arg) for arg in case.args]) for case in self.cases]


def prepare(exercises: list[Exercise], plugins, seed: int | None = None,
            student: str | None = None) -> list[Prepared]:
    """Cases and reference answers for every exercise (this process only, never a child).

    With `student`, exercises marked `variants` draw their random inputs for that student. The
    default cases were built once when the file was loaded (to validate it) and are reused."""
    prepared = []
    for ex in exercises:
        variant = student if ex.variants else None
        cases = ex.default_cases if seed is None and variant is None else None
        if cases is None:
            cases = plugins.kinds.get(ex.kind).build_cases(ex, plugins.functions, exercise_rng(ex, seed, variant))
        prepared.append(Prepared(ex, list(cases)))
    return prepared


def _exercise_run(item: Prepared, wall: float | None, memory: int | None,
                  limits: dict | None = None) -> ExerciseRun:
    return ExerciseRun(item.calls, item.exercise.limits.with_overrides(wall=wall, memory=memory, **(limits or {})))


@dataclass
class Ran:
    """What running one submission gave, before any verdict (see `settle_submission`)."""
    name: str
    outcome: RunOutcome
    seconds: float


def grade_submission(path: str | Path, prepared: list[Prepared], plugins, sandbox: Sandbox, *,
                     timeout: float | None = None, memory: int | None = None,
                     display_name: str | None = None,
                     hidden_paths: list[str | Path] | None = None,
                     limits: dict | None = None, diagnose: bool = True) -> SubmissionReport:
    """Grade one file: run it (`run_submission`), then decide every case (`settle_submission`)."""
    ran = run_submission(path, prepared, sandbox, timeout=timeout, memory=memory, display_name=display_name,
                         hidden_paths=hidden_paths, limits=limits)
    return settle_submission(ran, prepared, plugins, diagnose=diagnose)


def run_submission(path: str | Path, prepared: list[Prepared], sandbox: Sandbox, *,
                   timeout: float | None = None, memory: int | None = None,
                   display_name: str | None = None,
                   hidden_paths: list[str | Path] | None = None,
                   limits: dict | None = None, source: bytes | None = None) -> Ran:
    """Every call of a file in the sandbox, no verdict yet. `hidden_paths` are made unreadable to
    the student's code where the OS allows; by default the directories of the exercises and the
    submission's own directory (other students' files may sit beside it; the source itself is
    sent to the sandbox in memory). `source`: the file's bytes when the caller has read them."""
    started = time.perf_counter()
    name = display_name or str(path)
    try:
        source = (Path(path).read_bytes() if source is None else source).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = CallOutcome("error", error={"type": type(exc).__name__, "message": f"cannot read {name}: {exc}"})
        outcome = RunOutcome([[problem] * len(item.cases) for item in prepared], import_problem=problem)
        return Ran(name, outcome, time.perf_counter() - started)
    runs = [_exercise_run(item, timeout, memory, limits) for item in prepared]
    import_timeout = timeout or max([item.exercise.limits.wall for item in prepared] or [10.0])
    if hidden_paths is None:
        hidden_paths = {_folder_of(item.exercise.path) for item in prepared if item.exercise.path}
        hidden_paths.add(_folder_of(str(path)))
    outcome = _run(sandbox, source, str(Path(path).resolve()), prepared, runs, import_timeout,
                   sorted(str(p) for p in hidden_paths))
    return Ran(name, outcome, time.perf_counter() - started)


def settle_submission(ran: Ran, prepared: list[Prepared], plugins, diagnose: bool = True) -> SubmissionReport:
    """The verdicts on what the sandbox sent back (this process only, never a child). `diagnose=False`
    leaves out the diagnoses of wrong answers (a gradebook that no student reads): the verdicts
    and scores are the same."""
    started = time.perf_counter()
    outcome = ran.outcome
    results = [_settle(item, outcomes, plugins, outcome.functions, outcome.import_problem, diagnose)
               for item, outcomes in zip(prepared, outcome.outcomes)]
    return SubmissionReport(ran.name, results, output=outcome.output, output_truncated=outcome.output_dropped,
                            protections=outcome.protections, inactive_protections=outcome.inactive,
                            seconds=ran.seconds + time.perf_counter() - started,
                            functions=outcome.functions)


def _run(sandbox: Sandbox, source: str, filename: str, prepared: list[Prepared], runs: list[ExerciseRun],
         import_timeout: float, hidden_paths: list[str]) -> RunOutcome:
    """Visible and hidden cases run in separate processes: nothing a hidden case handed to the
    student's code (its inputs) can reach a process whose output, errors or answers the student
    sees, whatever the code keeps in globals. What the hidden process printed is not reported."""
    hidden = [[case.visibility != "visible" for case in item.cases] for item in prepared]
    if not any(any(flags) for flags in hidden):
        return sandbox.run(source, filename, runs, import_timeout=import_timeout, hidden_paths=hidden_paths)

    def part(want_hidden: bool) -> RunOutcome:
        subset = [ExerciseRun([call for call, flag in zip(run.calls, flags) if flag == want_hidden], run.limits)
                  for run, flags in zip(runs, hidden)]
        return sandbox.run(source, filename, subset, import_timeout=import_timeout, hidden_paths=hidden_paths)

    seen, unseen = part(False), part(True)
    merged = []
    for flags, mine, theirs in zip(hidden, seen.outcomes, unseen.outcomes):
        visible_iter, hidden_iter = iter(mine), iter(theirs)
        merged.append([next(hidden_iter) if flag else next(visible_iter) for flag in flags])
    seen.outcomes = merged
    seen.functions = seen.functions if seen.functions is not None else unseen.functions
    seen.import_problem = seen.import_problem or unseen.import_problem
    seen.sandbox_failed = seen.sandbox_failed or unseen.sandbox_failed
    return seen


@lru_cache(maxsize=4096)
def _folder_of(path: str) -> str:
    """The real directory of a file (cached: the exercises' folders are asked for every student)."""
    return os.path.dirname(os.path.realpath(path))


def _settle(item: Prepared, outcomes: list[CallOutcome], plugins, functions: list[str] | None,
            import_problem: CallOutcome | None, diagnose: bool = True) -> ExerciseResult:
    exercise = item.exercise
    checks = [check_case(exercise, case, outcome, plugins, functions, import_problem, diagnose)
              for case, outcome in zip(item.cases, outcomes)]
    passed = sum(check.status == "passed" for check in checks)
    statuses = {check.status for check in checks}
    status = ("passed" if statuses == {"passed"} else "timeout" if "timeout" in statuses
              else "error" if "error" in statuses else "failed")
    score = round(exercise.points * passed / len(checks), 6) if checks else 0.0
    result = ExerciseResult(id=exercise.id, title=exercise.title, kind=exercise.kind, status=status,
                            score=score, max_score=exercise.points, feedback="", checks=checks,
                            entries=list(exercise.entries), hints=list(exercise.hints),
                            visibility=exercise.visibility, path=exercise.path)
    result.feedback = exercise_feedback(result)
    return result


def _error_message(outcome: CallOutcome, import_problem: CallOutcome | None) -> str:
    error = outcome.error or {}
    kind, message = error.get("type", "error"), error.get("message", "")
    if outcome is import_problem or (import_problem is not None and outcome.error == import_problem.error):
        if kind in ("timeout", "crashed"):
            return message
        return f"the file could not be imported: {kind}: {message}"
    if outcome.status in ("timeout", "crashed"):
        return message
    if kind == "MemoryError":
        return f"MemoryError: {message}"     # the sandbox's message names the memory limit in force
    if kind in ("SystemExit", "KeyboardInterrupt"):
        return f"your code raised {kind} ({message or 'sys.exit()'}); return a value instead of exiting"
    return f"raised {kind}: {message}" if message else f"raised {kind}"


def check_case(exercise: Exercise, case: Case, outcome: CallOutcome, plugins, functions: list[str] | None,
               import_problem: CallOutcome | None, diagnose: bool = True) -> CheckResult:
    """The verdict on one case from what the sandbox sent back (this process only)."""
    check = CheckResult(case=case.label, entry=case.entry, status="error", inputs=case.inputs_text,
                        expected_shape=list(case.expected_shape), tolerance=case.tolerance.text,
                        output=outcome.output, seconds=round(outcome.seconds, 6), visibility=case.visibility,
                        expected_value=case.expected, arguments=case.arguments,
                        tolerance_value=case.tolerance)
    if functions is not None and import_problem is None and case.entry not in functions:
        defined = ", ".join(functions) if functions else "no functions"
        check.message = (f"no function named '{case.entry}'{did_you_mean(case.entry, functions)}; "
                         f"the file defines: {defined}")
        return check
    if outcome.status != "ok":
        check.status = "timeout" if outcome.status == "timeout" else "error"
        check.message = _error_message(outcome, import_problem)
        check.traceback = list((outcome.error or {}).get("traceback") or [])
        return check
    try:
        got = _answer(outcome.value, case.expected)
    except AnswerError as exc:
        check.message = f"{case.entry} {exc}"
        if isinstance(exc, WrongStructure):
            check.status = "failed"
        return check
    check.got_value = got
    comparison, part = _compare(case, got, plugins)
    check.got_shape = list(got.shape) if isinstance(got, np.ndarray) else [len(got)]
    check.status = "passed" if comparison.passed else "failed"
    check.max_abs_error, check.max_rel_error = comparison.max_abs_error, comparison.max_rel_error
    check.mismatched, check.total, check.worst = comparison.mismatched, comparison.total, comparison.worst
    if not comparison.passed:
        check.message = (part + comparison.message) if part else comparison.message
        if not diagnose:
            return check
        try:
            # the whole answer, a tuple where the kind expects one: swapped partial derivatives
            # are visible only when both components are seen together
            check.diagnosis = plugins.diagnose(exercise, case, case.expected, got, case.tolerance)
        except Exception as exc:  # a diagnosis plugin's bug must not cost the verdict
            check.diagnosis = [f"(a diagnosis plugin failed: {type(exc).__name__}: {exc})"]
    return check


def _answer(value: Any, expected: Any):
    """The answer as float64 data: an array, or a tuple of arrays where a tuple is expected."""
    if isinstance(expected, tuple):
        if isinstance(value, (list, tuple)) and len(value) == len(expected):
            return tuple(to_array(part) for part in value)
        if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == len(expected):
            return tuple(to_array(part) for part in value)
        problem = WrongStructure if _is_numbers(value) else AnswerError
        raise problem(f"must return {len(expected)} values (a tuple, one per partial derivative), "
                          f"got {format_value(value) if not isinstance(value, str) else repr(value)[:40]}")
    return to_array(value)


def _is_numbers(value: Any) -> bool:
    try:
        to_array(value)
        return True
    except AnswerError:
        return False


def _compare(case: Case, got, plugins) -> tuple[Comparison, str]:
    """The comparison that decides the case and, for a tuple answer, which value it is about."""
    if not isinstance(case.expected, tuple):
        return plugins.compare(case.expected, got, case.tolerance), ""
    for index, (expected, part) in enumerate(zip(case.expected, got)):
        comparison = plugins.compare(expected, part, case.tolerance)
        if not comparison.passed:
            return comparison, f"value {index + 1} of {len(got)}: "
    # all parts right; the last comparison carries the error figures of a passing case
    return comparison, ""
