"""GitHub Actions: a Markdown step summary and `::error` annotations at the student's functions."""
from __future__ import annotations

import ast
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import TextIO

from grader.feedback import describe_check
from grader.results import CheckResult, ExerciseResult, SubmissionReport

_MARK = {"passed": "✅ PASS", "failed": "❌ FAIL", "error": "💥 ERROR", "timeout": "⏱️ TIMEOUT"}
_FEEDBACK_WIDTH = 200


@lru_cache(maxsize=32)
def _definition_lines(path: str, mtime: float) -> tuple[dict[str, int], int | None]:
    """Top-level names the file defines, with their lines; plus the line of a syntax error.

    The file is parsed, never executed: this runs in the grader's own process."""
    try:
        source = Path(path).read_bytes()
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        return {}, exc.lineno
    except (OSError, ValueError):
        return {}, None
    found: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.setdefault(node.name, node.lineno)
        elif isinstance(node, ast.Assign):        # e.g. `deriv = central_difference`
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, node.lineno)
    return found, None


def definition_line(path: str | Path, entry: str) -> int | None:
    """The line of `def entry` in the submission (a syntax error's line when it does not parse)."""
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return None
    names, syntax_error_line = _definition_lines(str(path), mtime)
    return names.get(entry, syntax_error_line)


def _first_not_passed(result: ExerciseResult, visible_only: bool) -> CheckResult | None:
    for check in result.checks:
        if check.status != "passed" and (check.visibility == "visible" or not visible_only):
            return check
    return None


def one_line_feedback(result: ExerciseResult) -> str:
    """`3 of 7 cases passed; case 1: values differ ...`: never a hidden case's inputs or message."""
    passed = sum(check.status == "passed" for check in result.checks)
    text = f"{passed} of {len(result.checks)} cases passed"
    if result.status != "passed":
        check = _first_not_passed(result, visible_only=True)
        if check is None:
            text += "; the cases not passed are hidden"
        else:
            text += f"; {check.case}: {check.message.splitlines()[0] if check.message else check.status}"
            if check.diagnosis:
                text += f" ({check.diagnosis[0]})"
    return text if len(text) <= _FEEDBACK_WIDTH else text[:_FEEDBACK_WIDTH - 3] + "..."


def _cell(text: str) -> str:
    """Text for one Markdown table cell: no line breaks, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def step_summary(report: SubmissionReport) -> str:
    """A Markdown section: heading with the total, then exercise | status | score | feedback."""
    passed = sum(result.status == "passed" for result in report.exercises)
    lines = [f"### Grading `{_cell(report.submission)}`: {report.score:g}/{report.max_score:g} points "
             f"({passed} of {len(report.exercises)} exercises passed)", "",
             "| Exercise | Status | Score | Feedback |", "|---|---|---|---|"]
    for result in report.exercises:
        lines.append(f"| `{result.id}` | {_MARK.get(result.status, result.status)} | "
                     f"{result.score:g}/{result.max_score:g} | {_cell(one_line_feedback(result))} |")
    return "\n".join(lines) + "\n\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _workspace_path(path: Path) -> str:
    """The file as GitHub names it: relative to the checkout (GITHUB_WORKSPACE) where possible."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    resolved = path.resolve()
    for base in filter(None, (workspace, os.getcwd())):
        try:
            return resolved.relative_to(Path(base).resolve()).as_posix()
        except ValueError:
            continue
    return path.as_posix()


def annotations(report: SubmissionReport, submission: Path) -> list[str]:
    """One `::error file=...,line=...,title=...::message` line per exercise that did not pass."""
    lines = []
    file = _workspace_path(submission)
    for result in report.exercises:
        if result.status == "passed":
            continue
        check = _first_not_passed(result, visible_only=True)
        entry = check.entry if check else (result.entries[0] if result.entries else "")
        line = definition_line(submission, entry) if entry else None
        passed = sum(c.status == "passed" for c in result.checks)
        message = [f"{passed} of {len(result.checks)} cases passed"]
        message += describe_check(check) if check is not None else ["the cases not passed are hidden"]
        if result.hints:
            message.append("hint: " + result.hints[0])
        title = f"{result.id}: {_MARK[result.status].split()[-1]} {result.score:g}/{result.max_score:g}"
        where = f"file={_escape_property(file)},line={line or 1}"
        lines.append(f"::error {where},title={_escape_property(title)}::{_escape_data(chr(10).join(message))}")
    return lines


def report_to_github(report: SubmissionReport, submission: Path, *, stdout_is_report: bool,
                     environ: dict[str, str] | None = None, stdout: TextIO | None = None,
                     stderr: TextIO | None = None) -> None:
    """Append the step summary (GITHUB_STEP_SUMMARY) and print annotations (GITHUB_ACTIONS=true).

    Annotations go to stdout, where GitHub documents workflow commands, unless stdout carries a
    machine-readable report (`--format json` etc. without --output): then to stderr, which the
    Actions runner scans for workflow commands as well."""
    environ = os.environ if environ is None else environ
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    summary_file = environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        try:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(step_summary(report))
        except OSError as exc:
            print(f"grader: warning: cannot write the step summary to {summary_file}: {exc}", file=stderr)
    if environ.get("GITHUB_ACTIONS") == "true":
        stream = stderr if stdout_is_report else stdout
        for line in annotations(report, submission):
            print(line, file=stream)
        stream.flush()
