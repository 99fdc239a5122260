"""What the grader and the sandbox say to each other about one submission: the calls to make,
and what came of them (plain data only)."""
from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any

from grader.errors import GraderError
from grader.sandbox.limits import Limits


class SandboxError(GraderError):
    """The sandbox itself could not run (not the student's fault)."""


@dataclass
class CallSpec:
    entry: str
    args: list                     # encoded with transport.encode_input


@dataclass
class ExerciseRun:
    calls: list[CallSpec]
    limits: Limits


@dataclass
class CallOutcome:
    status: str                    # ok | error | timeout | crashed | not_run
    value: Any = None              # decoded plain data (status ok)
    error: dict | None = None      # {"type", "message", "traceback"} or a sandbox explanation
    output: str = ""
    seconds: float = 0.0


@dataclass
class RunOutcome:
    outcomes: list[list[CallOutcome]]
    functions: list[str] | None = None     # callables the submission defines (None: never imported)
    import_problem: CallOutcome | None = None
    output: str = ""
    output_dropped: int = 0
    protections: list[str] = field(default_factory=list)
    inactive: dict[str, str] = field(default_factory=dict)    # protection -> why it was not active
    not_hidden: dict[str, str] = field(default_factory=dict)  # hidden path -> why it could not be
    sandbox_failed: bool = False    # the child could not harden itself (the grader's failure)


def describe_exit(status: int | None, limits: Limits) -> str:
    if status is None:
        return "the process stopped answering"
    if status < 0:
        sig = -status
        if sig == signal.SIGXCPU:
            return f"CPU time limit exceeded ({limits.cpu or limits.wall:g} s)"
        if sig == signal.SIGXFSZ:
            return f"file size limit exceeded ({limits.file_size} bytes)"
        if sig == signal.SIGKILL:
            return "the process was killed (SIGKILL): a resource limit was hit"
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        detail = {"SIGSEGV": "segmentation fault", "SIGABRT": "aborted", "SIGBUS": "bus error",
                  "SIGFPE": "floating-point exception"}.get(name, "")
        return f"the process crashed ({name}{': ' + detail if detail else ''})"
    return f"the process exited with code {status} before answering (os._exit or a crash)"
