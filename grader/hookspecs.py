"""Every hook of the grader, grouped by phase. Plugins implement them with `@grader.hookimpl`.

Hooks are always called with keyword arguments; an implementation may accept any subset of a
spec's arguments. Registration hooks receive a registry object and call its `add` method; the
registry reports unknown and duplicate names with the plugin that caused them.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("grader")


# --- start-up: what the plugins provide ------------------------------------------------------

@hookspec
def grader_register_functions(registry):
    """Called once when the function registry is built, before any formula is parsed.

    Add functions of the expression language with `registry.add(Function(...))`: a name, a numpy
    value implementation and a derivative rule (see `grader.functions.Function`). The same entries
    give the plain numpy callables that exercises hand to student code (`func`, `chain`, `sigma`).
    Returns nothing.
    """


@hookspec
def grader_register_kinds(registry):
    """Called once when the kind registry is built, before any exercise file is loaded.

    Add exercise kinds with `registry.add(kind)`, where `kind` follows `grader.kinds.Kind`: a
    `name`, the extra YAML keys it accepts, a `validate` step, `build_cases` (inputs as plain data
    and the reference value for each student call) and, optionally, `diagnosis_context`.
    Returns nothing.
    """


@hookspec
def grader_register_formats(registry):
    """Called once when the report-format registry is built, before a report is rendered.

    Add output formats with `registry.add(fmt)`, where `fmt` has a `name`, a `description` and
    `render(report) -> str` taking a `grader.results.SubmissionReport`. Returns nothing.
    """


# --- grading: comparing and explaining ---------------------------------------------------------

@hookspec(firstresult=True)
def grader_compare(expected, got, tolerance):
    """Called for every student answer that arrived as valid numeric data.

    `expected` and `got` are float64 numpy arrays (never objects from student code), `tolerance`
    a `grader.compare.Tolerance`. Return a `grader.compare.Comparison` to decide the case, or None
    to let the next implementation (ultimately the built-in rule of DESIGN.md) decide. The first
    non-None result wins.
    """


@hookspec
def grader_diagnose(exercise, case, expected, got, tolerance):
    """Called for every failed case whose answer is numeric, after the comparison.

    `exercise` is the `Exercise`, `case` the `Case` (with `case.context["alternatives"]`, the
    kind's named wrong answers such as a missing chain factor), `expected`/`got` float64 arrays
    (their shapes may differ) or, where the exercise asks for several values (partial
    derivatives), tuples of float64 arrays; `tolerance` the case's `Tolerance`. Return a short explanation in the course's language ("you returned the
    transpose of dL/dX") only when it explains the answer within tolerance, else None. Every
    non-None result is shown to the student, in plugin registration order.
    """
