"""The grader's exception hierarchy: user-facing errors carry structured fields and readable text."""
from __future__ import annotations

import difflib
from typing import Iterable


class GraderError(Exception):
    """Root of every error the grader reports to a user (never shown with a traceback)."""


class DefinitionError(GraderError):
    """An exercise file (or a formula in it) is wrong: names the file, the line and the field."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        field = f"field '{self.field}': " if self.field else ""
        return f"{where}{field}{self.message}"


class PluginError(GraderError):
    """A plugin failed to load or registered something invalid; names the plugin."""


class UsageError(GraderError):
    """The command line asked for something that does not exist (exit code 2)."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest candidate, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
