"""Results of grading: one CheckResult per case, one ExerciseResult per exercise, one report."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# comparison messages: the grader's words and the answer's shape only, safe to show for any case
_OWN_WORDING = ("values differ", "wrong shape", "NaN or inf", "did not finish within")


def json_safe(value: Any) -> Any:
    """Non-finite floats become the strings 'nan', 'inf', '-inf' so the report stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


@dataclass
class CheckResult:
    case: str
    entry: str
    status: str                              # passed | failed | error | timeout
    message: str = ""
    inputs: str = ""
    expected_shape: list[int] | None = None
    got_shape: list[int] | None = None
    tolerance: str = ""
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    mismatched: int = 0
    total: int = 0
    worst: list[dict] = field(default_factory=list)
    diagnosis: list[str] = field(default_factory=list)
    traceback: list[str] = field(default_factory=list)
    output: str = ""
    seconds: float = 0.0
    visibility: str = "visible"
    # kept for renderers that plot (never serialised): the answer and the reference as arrays
    got_value: Any = field(default=None, repr=False)
    expected_value: Any = field(default=None, repr=False)
    arguments: dict | None = field(default=None, repr=False)   # the case's raw inputs by name, for plots
    tolerance_value: Any = field(default=None, repr=False)      # the Tolerance, to mark wrong elements

    @property
    def hidden(self) -> bool:
        """A case the student may not see: its verdict shows, its inputs and values do not."""
        return self.visibility != "visible"

    @property
    def public_message(self) -> str:
        """The message a student may see: for a hidden case, only the grader's own wording (an
        exception's text or a description of the answer could spell out the hidden inputs)."""
        if not self.hidden or self.message.startswith(_OWN_WORDING):
            return self.message
        return {"failed": "wrong answer", "timeout": "time limit exceeded"}.get(
            self.status, "an error (the details of hidden cases are withheld)")

    def to_dict(self) -> dict:
        data = {name: getattr(self, name) for name in _CHECK_FIELDS}
        if self.hidden:
            data.update(inputs="", worst=[], output="", traceback=[], message=self.public_message)
        return json_safe(data)


_RENDER_ONLY = ("got_value", "expected_value", "arguments", "tolerance_value")
_CHECK_FIELDS = [name for name in CheckResult.__dataclass_fields__ if name not in _RENDER_ONLY]


@dataclass
class ExerciseResult:
    id: str
    title: str
    kind: str
    status: str
    score: float
    max_score: float
    feedback: str
    checks: list[CheckResult]
    entries: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    visibility: str = "visible"
    path: str = ""

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "kind": self.kind, "status": self.status,
                "score": self.score, "max_score": self.max_score, "feedback": self.feedback,
                "entries": self.entries, "hints": self.hints, "visibility": self.visibility,
                "checks": [check.to_dict() for check in self.checks]}


@dataclass
class SubmissionReport:
    submission: str
    exercises: list[ExerciseResult]
    output: str = ""
    output_truncated: int = 0
    protections: list[str] = field(default_factory=list)
    inactive_protections: dict[str, str] = field(default_factory=dict)   # protection -> why not
    seconds: float = 0.0
    functions: list[str] | None = None

    @property
    def score(self) -> float:
        return round(sum(e.score for e in self.exercises), 6)

    @property
    def max_score(self) -> float:
        return round(sum(e.max_score for e in self.exercises), 6)

    @property
    def passed(self) -> bool:
        return all(e.status == "passed" for e in self.exercises)

    def to_dict(self) -> dict:
        return {"submission": self.submission, "score": self.score, "max_score": self.max_score,
                "exercises": [e.to_dict() for e in self.exercises],
                "isolation": {"protections": self.protections, "inactive": self.inactive_protections},
                "output": self.output, "output_truncated_bytes": self.output_truncated,
                "seconds": round(self.seconds, 4)}
