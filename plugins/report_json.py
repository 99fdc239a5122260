"""Format `json`: one JSON object, DESIGN.md's contract plus extra fields."""
from __future__ import annotations

import json

from grader import hookimpl
from grader.results import SubmissionReport


class JsonFormat:
    name = "json"
    description = "one JSON object: submission, score, max_score, exercises[...]"

    def render(self, report: SubmissionReport) -> str:
        return json.dumps(report.to_dict(), indent=2, allow_nan=False, default=_plain) + "\n"


def _plain(value):
    return str(value)


@hookimpl
def grader_register_formats(registry):
    registry.add(JsonFormat())
