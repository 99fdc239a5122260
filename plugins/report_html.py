"""Format `html`: one self-contained page per submission, with plots of what went wrong.

A verdict table, then for each exercise not passed: the feedback, the diagnosis, the hints and a
plot of the first failed case (the student's values against the reference over the case's points
for elementwise answers, a heat map of the error per element for matrices). Plots need matplotlib
(the `report` extra); without it the page says how to get them.
"""
from __future__ import annotations

import numpy as np

from grader import hookimpl
from grader.plots import (INSTALL_HINT, anchor, e, elementwise_plot, error_heatmap, html_page, load_pyplot,
                          point_argument, side_by_side_heatmaps)
from grader.exercise import Tolerance
from grader.results import CheckResult, ExerciseResult, SubmissionReport
from grader.compare import mismatch_mask

_VERDICT = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "timeout": "TIMEOUT"}


class HtmlFormat:
    name = "html"
    description = "self-contained HTML page with plots of the failed cases (plots need the [report] extra)"

    def render(self, report: SubmissionReport) -> str:
        not_passed = [result for result in report.exercises if result.status != "passed"]
        plt = load_pyplot() if any(_plottable(result) for result in not_passed) else None
        passed = len(report.exercises) - len(not_passed)
        body = [f"<h1>Grading report: {e(report.submission)}</h1>",
                f'<p class="summary">Score <strong>{round(report.score, 2):g} / {report.max_score:g}</strong>; '
                f"{passed} of {len(report.exercises)} exercises passed.</p>",
                _verdict_table(report)]
        if not_passed and plt is None and any(_plottable(result) for result in not_passed):
            body.append(f'<p class="note no-plots">Plots of the failed cases need matplotlib: '
                        f"<code>{e(INSTALL_HINT)}</code></p>")
        for result in not_passed:
            body.append(_exercise_section(result, plt))
        if report.output:
            more = f" (+{report.output_truncated} bytes not kept)" if report.output_truncated else ""
            body.append(f"<h2>What your code printed{e(more)}</h2><pre>{e(report.output)}</pre>")
        if report.protections:
            body.append(f'<p class="note">Isolation: {e(", ".join(report.protections))}</p>')
        return html_page(f"Grading report: {report.submission}", "\n".join(body))


def _first_diagnosis(result: ExerciseResult) -> str:
    for check in result.checks:
        if check.status != "passed" and check.diagnosis:
            return check.diagnosis[0]
    return ""


def _verdict_table(report: SubmissionReport) -> str:
    rows = ["<table class=\"verdicts\"><thead><tr><th>Exercise</th><th>Verdict</th><th>Points</th>"
            "<th>Diagnosis</th></tr></thead><tbody>"]
    for result in report.exercises:
        name = (f'<a href="#{anchor(result.id)}">{e(result.id)}</a>' if result.status != "passed"
                else e(result.id))
        rows.append(f'<tr><td>{name}<br><small>{e(result.title)}</small></td>'
                    f'<td class="{e(result.status)}">{_VERDICT.get(result.status, e(result.status))}</td>'
                    f"<td>{round(result.score, 2):g} / {result.max_score:g}</td><td>{e(_first_diagnosis(result))}</td></tr>")
    rows.append("</tbody></table>")
    return "".join(rows)


def _failed_with_values(result: ExerciseResult) -> CheckResult | None:
    for check in result.checks:
        if (check.status == "failed" and not check.hidden and check.got_value is not None
                and check.expected_value is not None):
            return check
    return None


def _plottable(result: ExerciseResult) -> bool:
    return _failed_with_values(result) is not None


def _exercise_section(result: ExerciseResult, plt) -> str:
    parts = [f'<section id="{anchor(result.id)}"><h2>{e(result.id)}: {e(result.title)} '
             f'<span class="{e(result.status)}">{_VERDICT.get(result.status, "")}</span></h2>',
             f"<pre>{e(result.feedback)}</pre>"]
    for text in dict.fromkeys(text for check in result.checks for text in check.diagnosis):
        parts.append(f'<div class="diagnosis"><strong>Diagnosis:</strong> {e(text)}</div>')
    for hint in result.hints:
        parts.append(f'<div class="hint"><strong>Hint:</strong> {e(hint)}</div>')
    check = _failed_with_values(result)
    if check is not None and plt is not None:
        parts += _figures(result, check, plt)
    parts.append("</section>")
    return "\n".join(parts)


def _figures(result: ExerciseResult, check: CheckResult, plt) -> list[str]:
    expected, got = check.expected_value, check.got_value
    pairs = (list(zip(expected, got)) if isinstance(expected, tuple) and isinstance(got, tuple)
             else [(expected, got)])
    figures = []
    for index, (reference, answer) in enumerate(pairs):
        reference, answer = np.asarray(reference, dtype=float), np.asarray(answer, dtype=float)
        which = f", value {index + 1} of {len(pairs)}" if len(pairs) > 1 else ""
        caption = f"{check.case}{which}: {check.entry}({check.inputs})"
        if result.kind == "matrix_gradient" or (reference.ndim == 2 and point_argument(
                check.arguments, reference.shape) is None):
            if reference.shape == answer.shape:
                svg, caption = error_heatmap(plt, reference, answer), "Error per element. " + caption
            else:
                svg = side_by_side_heatmaps(plt, reference, answer)
                caption = "The reference and your answer (the shapes differ). " + caption
        elif reference.shape == answer.shape:
            point = point_argument(check.arguments, reference.shape)
            wrong = ~_within(reference, answer, check)
            svg = elementwise_plot(plt, point[1] if point else None, reference, answer, wrong,
                                   point[0] if point else "element index")
            caption = "Your answer against the reference. " + caption
        else:
            figures.append(f'<p class="note">No plot: your answer has shape {e(answer.shape)}, '
                           f"the reference {e(reference.shape)}.</p>")
            continue
        figures.append(f'<figure class="plot">{svg}<figcaption>{e(caption)}</figcaption></figure>')
    return figures


def _within(reference: np.ndarray, answer: np.ndarray, check: CheckResult) -> np.ndarray:
    tolerance = check.tolerance_value or Tolerance()
    return ~mismatch_mask(reference, answer, tolerance)


@hookimpl
def grader_register_formats(registry):
    registry.add(HtmlFormat())
