"""Format `text`: the report a student reads in a terminal."""
from __future__ import annotations

from grader import hookimpl
from grader.results import SubmissionReport

_MARK = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "timeout": "TIMEOUT"}


class TextFormat:
    name = "text"
    description = "human-readable report (default)"

    def render(self, report: SubmissionReport) -> str:
        lines = [f"Grading {report.submission}", ""]
        width = max([len(e.id) for e in report.exercises] or [10])
        for result in report.exercises:
            lines.append(f"{_MARK[result.status]:<8}{result.id:<{width}}  {result.score:g}/{result.max_score:g}")
            if result.status != "passed":
                lines += ["        " + line for line in result.feedback.splitlines()]
        lines.append("")
        lines.append(f"Score: {report.score:g}/{report.max_score:g}  "
                     f"({sum(e.status == 'passed' for e in report.exercises)} of {len(report.exercises)} "
                     f"exercises passed)")
        if report.output:
            more = f" (+{report.output_truncated} bytes not kept)" if report.output_truncated else ""
            lines.append(f"Your code printed {len(report.output)} characters{more}; "
                         "see each case's output above or --format json.")
        if report.protections:
            lines.append("Isolation: " + ", ".join(report.protections))
        return "\n".join(lines) + "\n"


@hookimpl
def grader_register_formats(registry):
    registry.add(TextFormat())
