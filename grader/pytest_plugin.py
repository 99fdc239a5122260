"""pytest plugin (entry point `pytest11`): exercise YAML files become test items.

`pytest exercises/ --submission solution.py` grades the submission with the same engine and sandbox
as `grader check`, one item per exercise; without `--submission` each item checks the exercise
itself (a valid definition, a finite reference on every case). The plugin is loaded in every pytest
run of anyone who installs the package, so it only looks at a YAML file when `--submission` is
given or when paths were named on the command line, and only at files that are exercises.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

_YAML_SUFFIXES = (".yaml", ".yml")


class ExerciseNotPassed(Exception):
    """An item's verdict: the text is the grader's feedback, shown instead of a traceback."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("grader", "calculus-grader: exercise YAML files as test items")
    group.addoption("--submission", metavar="FILE", default=None,
                    help="grade this solution file against the exercise files collected "
                         "(without it, the exercises themselves are checked)")
    group.addoption("--grader-timeout", type=float, metavar="S", default=None,
                    help="seconds per exercise for the submission's code (default: each exercise's own)")
    group.addoption("--grader-seed", type=int, metavar="N", default=None,
                    help="change the random cases (same N, same cases)")


class GradingSession:
    """Per pytest run: the plugins, the exercises seen, one sandbox and one graded report."""

    def __init__(self, config: pytest.Config) -> None:
        submission = config.getoption("submission")
        self.submission = Path(submission) if submission else None
        self.timeout: float | None = config.getoption("grader_timeout")
        self.seed: int | None = config.getoption("grader_seed")
        self.explicit_paths = bool(config.getoption("file_or_dir"))
        self.ids: dict[str, str] = {}          # exercise id -> file that defined it first
        self._plugins = None
        self._sandbox = None
        self._results: dict[str, Any] | None = None
        self._report = None
        self._failure: str | None = None

    def collects(self, path: Path) -> bool:
        if path.suffix not in _YAML_SUFFIXES:
            return False
        if self.submission is None and not self.explicit_paths:
            return False                       # a bare `pytest` run (testpaths, rootdir): hands off
        from grader.loader import is_exercise_file
        return is_exercise_file(path)

    @property
    def plugins(self):
        if self._plugins is None:
            from grader.commands.common import load_plugins
            self._plugins = load_plugins()
        return self._plugins

    def load(self, path: Path):
        """The exercise in `path`; a DefinitionError names file, line and field."""
        from grader.errors import DefinitionError
        from grader.loader import load_exercise
        exercise = load_exercise(path, self.plugins)
        first = self.ids.setdefault(exercise.id, str(path))
        if first != str(path):
            raise DefinitionError(f"duplicate id '{exercise.id}', also used in {first}", file=str(path),
                                  line=exercise.line_of("id"), field="id")
        return exercise

    def check_definition(self, exercise) -> str:
        """Build the cases as grading would; a reference that is not finite is a DefinitionError."""
        import numpy as np
        from grader.engine import prepare
        from grader.errors import DefinitionError
        [prepared] = prepare([exercise], self.plugins, self.seed)
        for case in prepared.cases:
            parts = case.expected if isinstance(case.expected, tuple) else (case.expected,)
            if not all(np.all(np.isfinite(part)) for part in parts):
                raise DefinitionError(f"{case.label}: the reference is not finite ({case.entry})",
                                      file=exercise.path, line=exercise.line_of("function"))
        return f"{len(prepared.cases)} cases, every reference finite"

    def result_for(self, item: "ExerciseItem"):
        """The item's ExerciseResult; the first call grades every selected exercise in one run."""
        if self._failure is not None:
            raise ExerciseNotPassed(self._failure)
        if self._results is None or item.exercise.id not in self._results:
            selected = [other.exercise for other in item.session.items
                        if isinstance(other, ExerciseItem) and (self._results is None
                                                                or other.exercise.id not in self._results)]
            if item.exercise not in selected:
                selected.append(item.exercise)
            self._grade(selected)
        return self._results[item.exercise.id]

    def _grade(self, exercises: list) -> None:
        from grader.engine import grade_submission, prepare
        from grader.errors import GraderError
        try:
            prepared = prepare(exercises, self.plugins, self.seed)
            if self._sandbox is None:
                from grader.sandbox.client import Sandbox
                self._sandbox = Sandbox()      # a fresh interpreter: it never sees a reference value
            report = grade_submission(self.submission, prepared, self.plugins, self._sandbox,
                                      timeout=self.timeout, display_name=str(self.submission))
        except GraderError as exc:
            self._failure = f"grader: error: {exc}"
            raise ExerciseNotPassed(self._failure) from None
        self._report = report
        self._results = {**(self._results or {}), **{result.id: result for result in report.exercises}}

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None


_SESSION = pytest.StashKey[GradingSession]()


def pytest_configure(config: pytest.Config) -> None:
    session = GradingSession(config)
    if session.submission is not None and not session.submission.is_file():
        raise pytest.UsageError(f"--submission: no such file: {session.submission}")
    config.stash[_SESSION] = session
    config.add_cleanup(session.close)


def pytest_report_header(config: pytest.Config) -> str | None:
    session = config.stash.get(_SESSION, None)
    if session is not None and session.submission is not None:
        return f"grader: grading {session.submission} against the exercise files collected"
    return None


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix not in _YAML_SUFFIXES:
        return None                            # the common case, decided before any import
    session = parent.config.stash.get(_SESSION, None)
    if session is None or not session.collects(file_path):
        return None
    return ExerciseFile.from_parent(parent, path=file_path)


def _guess_id(path: Path) -> str:
    """A name for a file that does not load: its `id:` line if it has one, else the file name."""
    try:
        found = re.search(r"(?m)^id:\s*['\"]?([\w-]+)", path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        found = None
    return found.group(1) if found else path.stem


class ExerciseFile(pytest.File):
    """One exercise YAML file: one item, or one failing item when the file does not load."""

    def collect(self):
        from grader.errors import GraderError
        session = self.config.stash[_SESSION]
        try:
            exercise = session.load(self.path)
        except GraderError as exc:
            yield BrokenExercise.from_parent(self, name=_guess_id(self.path), message=str(exc),
                                             line=getattr(exc, "line", None))
            return
        yield ExerciseItem.from_parent(self, name=exercise.id, exercise=exercise)


class ExerciseItem(pytest.Item):
    """One exercise: graded against --submission, or checked on its own."""

    def __init__(self, *, exercise, **kwargs) -> None:
        super().__init__(**kwargs)
        self.exercise = exercise

    def runtest(self) -> None:
        session = self.config.stash[_SESSION]
        if session.submission is None:
            from grader.errors import GraderError
            try:
                self.user_properties.append(("cases", session.check_definition(self.exercise)))
            except GraderError as exc:
                raise ExerciseNotPassed(str(exc)) from None
            return
        result = session.result_for(self)
        passed = sum(check.status == "passed" for check in result.checks)
        self.user_properties += [("score", f"{result.score:g}/{result.max_score:g}"),
                                 ("cases", f"{passed} of {len(result.checks)} passed")]
        if result.status != "passed":
            marker = {"failed": "FAIL", "error": "ERROR", "timeout": "TIMEOUT"}[result.status]
            raise ExerciseNotPassed(f"{result.id}: {marker} {result.score:g}/{result.max_score:g} "
                                    f"({session.submission})\n{result.feedback}")

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ExerciseNotPassed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)   # a bug in the grader: keep the traceback

    def reportinfo(self):
        line = self.exercise.line_of("id")
        return self.path, (line - 1 if line else 0), f"exercise {self.exercise.id}"


class BrokenExercise(pytest.Item):
    """An exercise file that does not load: fails with the file, line and field, never a crash."""

    def __init__(self, *, message: str, line: int | None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.message = message
        self.line = line

    def runtest(self) -> None:
        raise ExerciseNotPassed(self.message)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ExerciseNotPassed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, (self.line - 1 if self.line else 0), f"exercise file {self.path.name}"
