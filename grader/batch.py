"""Grading a whole class: find the students, grade them on worker sandboxes, journal each result
so a rerun resumes, and write the gradebook, the JSON reports and the summary."""
from __future__ import annotations

import dataclasses
import gc
import json
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, TextIO

from grader.engine import Prepared, Ran, prepare, run_submission, settle_submission
from grader.exercise import Exercise
from grader.executor import Executor, ThreadExecutor
from grader.gradebook import gradebook_csv, summarize
from grader.journal import JOURNAL_VERSION, Journal, config_hash, student_key, write_atomic
from grader.results import CheckResult, ExerciseResult, SubmissionReport
from grader.roster import Student, discover_students
from grader.sandbox.pool import SandboxPool, servers_for

# ---- grading -------------------------------------------------------------------------------------

@dataclass
class BatchOptions:
    directory: Path
    exercises: list[Exercise]
    out: Path
    jobs: int
    filename: str | None = None
    seed: int | None = None
    timeout: float | None = None
    memory: int | None = None
    limits: dict = field(default_factory=dict)      # cpu, processes, file_size, open_files
    variants: bool = False
    json_path: Path | None = None
    html_path: Path | None = None
    journal_path: Path | None = None
    title: str = ""


@dataclass
class Graded:
    student: Student
    report: SubmissionReport | None     # kept only for --html (the record holds the rest)
    record: dict                    # what the journal holds: student, key, report dict
    resumed: bool = False
    journaled: bool = True          # False for rows decided without running code


@dataclass
class BatchResult:
    graded: list[Graded]
    exercise_ids: list[str]
    max_score: float
    seconds: float
    resumed: int
    interrupted: bool = False
    summary: dict = field(default_factory=dict)


@dataclass
class StudentRun:
    """A student's submission run in a worker, waiting for its verdicts (`Grader.settle`)."""
    student: Student
    key: str
    prepared: list[Prepared]
    ran: Ran | None
    problem: str = ""               # why the sandbox could not run it (the grader's failure)


class Grader:
    """Runs one student at a time on the calling thread's sandbox (`__call__`, in a worker), then
    decides the verdicts (`settle`, in the batch's own thread, while the worker already runs the
    next student). Never raises for a student."""

    def __init__(self, options: BatchOptions, plugins, pool: SandboxPool, config: str) -> None:
        self.options, self.plugins, self.pool, self.config = options, plugins, pool, config
        self.full_reports = needs_full_reports(options)
        exercises = options.exercises
        if options.variants:
            exercises = [dataclasses.replace(e, variants=True) for e in exercises]
        self.exercises = exercises
        # references once for the whole class; only exercises with variants are prepared per student
        self.shared: dict[str, Prepared] = {p.exercise.id: p for p in
                                            prepare([e for e in exercises if not e.variants], plugins, options.seed)}

    def prepared_for(self, student: str) -> list[Prepared]:
        per_student = {p.exercise.id: p for p in
                       prepare([e for e in self.exercises if e.variants], self.plugins, self.options.seed,
                               student=student)}
        return [self.shared.get(e.id) or per_student[e.id] for e in self.exercises]

    def __call__(self, job: tuple[Student, str, bytes]) -> StudentRun:
        student, key, source = job
        prepared = self.prepared_for(student.name)
        try:
            sandbox = self.pool.get()
            sandbox.wait_ready()    # a booting fork server is not this student's time
            ran = run_submission(student.path, prepared, sandbox, timeout=self.options.timeout,
                                 memory=self.options.memory, limits=self.options.limits,
                                 display_name=student.label, source=source)
        except Exception as exc:   # the sandbox failed, not the student: retried on the next run
            return StudentRun(student, key, prepared, None,
                              f"the grader could not run this submission: {type(exc).__name__}: {exc}")
        return StudentRun(student, key, prepared, ran)

    def settle(self, run: StudentRun) -> Graded:
        student, key = run.student, run.key
        report, problem = None, run.problem
        if run.ran is not None:
            try:
                # diagnoses are for a student reading a report: the gradebook and the journal
                # hold grades only, unless --json or --html
                report = settle_submission(run.ran, run.prepared, self.plugins, diagnose=self.full_reports)
            except Exception as exc:   # a plugin's bug: not the student's grade
                problem = f"the grader could not decide this submission: {type(exc).__name__}: {exc}"
        if report is None:
            report = problem_report(student.label, self.exercises, problem)
            return Graded(student, report, _record(student, key, report, True), journaled=False)
        # a grader-side failure is not the student's grade: keep it out of the journal so a rerun
        # grades this student again. The report object is kept only where it is rendered: a class
        # holds hundreds of them, which the garbage collector would walk again and again
        return Graded(student, report if self.options.html_path else None,
                      _record(student, key, report, self.full_reports), journaled=not run.ran.outcome.sandbox_failed)


def needs_full_reports(options: BatchOptions) -> bool:
    return bool(options.json_path or options.html_path)


def _record(student: Student, key: str, report: SubmissionReport, full: bool) -> dict:
    """The journal line: the grades always; the full report only when an output needs it, because
    serialising every check is the largest cost of the batch after grading itself."""
    grades = {"score": report.score, "seconds": round(report.seconds, 4),
              "exercises": [{"id": e.id, "status": e.status, "score": e.score, "reason": _reason(e)}
                            for e in report.exercises]}
    record = {"journal": JOURNAL_VERSION, "student": student.name, "key": key, "grades": grades}
    if full:
        record["report"] = report.to_dict()
    return record


def _reason(exercise: ExerciseResult) -> str:
    """Why an exercise errored or timed out: its first such check's message, or its feedback."""
    if exercise.status not in ("error", "timeout"):
        return ""
    message = next((c.message for c in exercise.checks if c.status in ("error", "timeout") and c.message),
                   exercise.feedback)
    return message.splitlines()[0][:200] if message else ""


def problem_report(label: str, exercises: list[Exercise], reason: str) -> SubmissionReport:
    """A report that gives every exercise status `error` with the reason (nothing was run)."""
    results = []
    for exercise in exercises:
        result = ExerciseResult(id=exercise.id, title=exercise.title, kind=exercise.kind, status="error",
                                score=0.0, max_score=exercise.points, feedback="", checks=[],
                                entries=list(exercise.entries), hints=[], visibility=exercise.visibility,
                                path=exercise.path)
        result.feedback = reason
        results.append(result)
    return SubmissionReport(label, results)


def report_from_dict(data: dict) -> SubmissionReport:
    """A report back from its JSON form (a journal line), for renderers that take objects."""
    check_fields = {f.name for f in dataclasses.fields(CheckResult)}
    exercises = []
    for item in data.get("exercises", []):
        checks = [CheckResult(**{k: v for k, v in check.items() if k in check_fields})
                  for check in item.get("checks", [])]
        exercises.append(ExerciseResult(
            id=item["id"], title=item.get("title", ""), kind=item.get("kind", ""), status=item["status"],
            score=item["score"], max_score=item["max_score"], feedback=item.get("feedback", ""),
            checks=checks, entries=list(item.get("entries", [])), hints=list(item.get("hints", [])),
            visibility=item.get("visibility", "visible")))
    return SubmissionReport(data.get("submission", ""), exercises, output=data.get("output", ""),
                            output_truncated=data.get("output_truncated_bytes", 0),
                            protections=list(data.get("isolation", {}).get("protections", [])),
                            seconds=data.get("seconds", 0.0))


# ---- progress ------------------------------------------------------------------------------------

class Progress:
    """On a terminal, a tqdm bar (it fits the terminal's width, shows the rate and the time left);
    on a pipe or a log, a plain line every 10% or 5 seconds."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, every: float = 5.0) -> None:
        self.total, self.stream, self.every = total, stream, every
        self.done = 0
        self.started = time.monotonic()
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last_draw = self.started
        self._next_fraction = 0.1
        self._bar = None
        if self.tty and total:
            from tqdm import tqdm       # only on a terminal: a batch in CI never imports it
            tqdm.monitor_interval = 0   # no monitor thread beside the workers
            self._bar = tqdm(total=total, file=stream, unit="student", dynamic_ncols=True,
                             mininterval=0.1, smoothing=0.1, leave=True)

    def advance(self, student: str) -> None:
        self.done += 1
        if self.stream is None:
            return
        try:
            self._draw(student)
        except (OSError, ValueError):   # a closed pipe (`| head`) must not cost the gradebook
            self.stream = None

    def _draw(self, student: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(student[:24], refresh=False)
            self._bar.update(1)
            if self.done == self.total:
                self.close()
            return
        now = time.monotonic()
        if (self.done / max(self.total, 1) >= self._next_fraction or now - self._last_draw >= self.every
                or self.done == self.total):
            rate = self.done / max(now - self.started, 1e-9)
            self.stream.write(f"grader: graded {self.done}/{self.total} students ({rate:.1f}/s)\n")
            self.stream.flush()
            self._last_draw = now
            while self._next_fraction <= self.done / max(self.total, 1):
                self._next_fraction += 0.1

    def close(self) -> None:
        """The bar stays as it stopped (finished or interrupted), the cursor on the next line."""
        if self._bar is not None and self.stream is not None:
            try:
                self._bar.close()
            except (OSError, ValueError):
                pass
        self._bar = None


class _StopOnSignal:
    """Ctrl-C or SIGTERM stop the executor instead of raising mid-write; a second Ctrl-C forces."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.signalled = False
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        self.signalled = True
        self.executor.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __enter__(self) -> "_StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class _QuietCollector:
    """While a class is graded, the garbage collector leaves alone what lives for the whole batch
    (modules, exercises, references: frozen) and runs its young collections less often (a
    student's results are freed by reference counting; no cycles form per student). A full
    collection otherwise held the interpreter lock for tens of milliseconds, stalling every worker.

    Everything is restored when the last of overlapping batches ends. Unfreezing is all or
    nothing, so where the caller had frozen objects itself nothing more is frozen; where it had
    switched automatic collection off (threshold 0), it stays off."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: tuple[tuple[int, ...], bool] | None = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            self._users += 1
            if self._users == 1:
                thresholds, freeze = gc.get_threshold(), not gc.get_freeze_count()
                self._saved = (thresholds, freeze)
                if freeze:
                    gc.freeze()
                if thresholds[0]:
                    gc.set_threshold(max(thresholds[0], 20000), *thresholds[1:])
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._saved is not None:
                    thresholds, froze = self._saved
                    self._saved = None
                    gc.set_threshold(*thresholds)
                    if froze:
                        gc.unfreeze()


_fewer_collections = _QuietCollector()


# ---- the batch -----------------------------------------------------------------------------------

def run_batch(options: BatchOptions, plugins, *, progress_stream: TextIO = sys.stderr,
              executor: Executor | None = None, pool: SandboxPool | None = None,
              students: list[Student] | None = None) -> BatchResult:
    """Grade every student of `options.directory` (`students`: as the caller already found them);
    on Ctrl-C, return with `interrupted` set after journaling every finished student and writing
    no output file."""
    started = time.monotonic()
    if students is None:
        students = discover_students(options.directory, options.filename)
    config = config_hash(options.exercises, seed=options.seed, timeout=options.timeout, memory=options.memory,
                         variants=options.variants, limits=options.limits)
    journal = Journal(options.journal_path or options.out.with_name(options.out.name + ".journal"))
    journaled = journal.load()
    own_pool = pool is None
    if own_pool:
        pool = SandboxPool(servers_for(options.jobs, len(students)))
    executor = executor or ThreadExecutor(options.jobs)
    results: dict[str, Graded] = {}
    interrupted = False
    try:
        grader = Grader(options, plugins, pool, config)
        todo: list[tuple[Student, str, bytes]] = []
        for student in students:
            if student.path is None:
                report = problem_report(student.label, grader.exercises, student.problem)
                results[student.name] = Graded(student, report, _record(student, "", report, True), journaled=False)
                continue
            try:
                source = student.path.read_bytes()
            except OSError as exc:
                report = problem_report(student.label, grader.exercises,
                                        f"cannot read {student.label}: {exc.strerror or exc}")
                results[student.name] = Graded(student, report, _record(student, "", report, True), journaled=False)
                continue
            key = student_key(student, source, config)
            previous = journaled.get(student.name)
            if (previous is not None and previous.get("key") == key
                    and (isinstance(previous.get("report"), dict) or not needs_full_reports(options))):
                results[student.name] = Graded(student, None, previous, resumed=True)
            else:
                todo.append((student, key, source))   # graded as read here: what the key is of
        resumed = sum(g.resumed for g in results.values())
        progress = Progress(len(todo), progress_stream)
        try:
            with _StopOnSignal(executor) as stopper, _fewer_collections():
                for run in executor.map_unordered(grader, todo):
                    graded = grader.settle(run)
                    if graded.journaled:
                        journal.append(graded.record)
                    results[graded.student.name] = graded
                    progress.advance(graded.student.name)
        finally:
            progress.close()
        interrupted = stopper.signalled
    finally:
        journal.close()
        if own_pool:
            pool.close()
    ordered = [results[name] for name in sorted(results)]
    exercise_ids = [e.id for e in options.exercises]
    result = BatchResult(ordered, exercise_ids, max_score=round(sum(e.points for e in options.exercises), 6),
                         seconds=time.monotonic() - started, resumed=resumed, interrupted=interrupted)
    if interrupted:
        return result
    result.summary = summarize(result)
    journal.rewrite([g.record for g in ordered if g.journaled])
    write_atomic(options.out, gradebook_csv(result))
    if options.json_path:
        write_atomic(options.json_path, json.dumps(
            {"students": {g.student.name: g.record["report"] for g in ordered}, "summary": result.summary},
            indent=2, allow_nan=False, default=str) + "\n")
    if options.html_path:
        from grader.class_report import render_class_report
        reports = {g.student.name: g.report or report_from_dict(g.record["report"]) for g in ordered}
        write_atomic(options.html_path, render_class_report(reports, options.title or options.directory.name))
    return result
