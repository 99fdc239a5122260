"""The class report of `grader batch --html`: score histogram, pass rate and commonest mistake per exercise."""
from __future__ import annotations

from collections import Counter

from grader.plots import bar_chart_svg, e, html_page
from grader.results import SubmissionReport

BINS = 10


def score_histogram(fractions: list[float]) -> tuple[list[str], list[int]]:
    """Counts of scores (as fractions of the maximum) in ten bins, the last one including 100%."""
    counts = [0] * BINS
    for fraction in fractions:
        counts[min(int(max(fraction, 0.0) * BINS), BINS - 1)] += 1
    labels = [f"{100 * i // BINS}-{100 * (i + 1) // BINS}%" for i in range(BINS)]
    return labels, counts


def common_diagnoses(reports: dict[str, SubmissionReport], exercise_id: str) -> Counter:
    """How many students got each diagnosis on one exercise (a student counts once per diagnosis)."""
    counts: Counter = Counter()
    for report in reports.values():
        for result in report.exercises:
            if result.id == exercise_id:
                counts.update({text for check in result.checks if check.status != "passed"
                               for text in check.diagnosis[:1]})
    return counts


def render_class_report(reports: dict[str, SubmissionReport], title: str) -> str:
    """One self-contained page for a class: `reports` maps a student (or file) name to its report."""
    names = sorted(reports)
    fractions = [reports[n].score / reports[n].max_score if reports[n].max_score else 0.0 for n in names]
    labels, counts = score_histogram(fractions)
    body = [f"<h1>{e(title)}</h1>"]
    if not reports:
        body.append('<p class="note">No submissions were graded.</p>')
        return html_page(title, "\n".join(body))
    mean = 100 * sum(fractions) / len(fractions)
    body.append(f'<p class="summary">{len(reports)} submissions; mean score {mean:.1f}%; '
                f"{sum(reports[n].passed for n in names)} passed every exercise.</p>")
    body.append('<h2>Score distribution</h2><figure class="plot">'
                + bar_chart_svg(labels, counts, "score (% of the maximum)", "students")
                + "<figcaption>Number of students per score range.</figcaption></figure>")
    body.append(_exercise_table(reports))
    body.append(_student_table(reports, names))
    return html_page(title, "\n".join(body))


def _exercise_table(reports: dict[str, SubmissionReport]) -> str:
    order: dict[str, str] = {}
    for report in reports.values():
        for result in report.exercises:
            order.setdefault(result.id, result.title)
    rows = ['<h2>Exercises</h2><table class="exercises"><thead><tr><th>Exercise</th><th>Pass rate</th>'
            "<th>Most common diagnosis</th></tr></thead><tbody>"]
    for exercise_id, exercise_title in order.items():
        results = [r for report in reports.values() for r in report.exercises if r.id == exercise_id]
        passed = sum(r.status == "passed" for r in results)
        rate = 100 * passed / len(results)
        top = common_diagnoses(reports, exercise_id).most_common(1)
        diagnosis = (f"{e(top[0][0])} <small>({top[0][1]} student{'s' if top[0][1] != 1 else ''})</small>"
                     if top else '<span class="note">none</span>')
        rows.append(f"<tr><td>{e(exercise_id)}<br><small>{e(exercise_title)}</small></td>"
                    f'<td><span class="bar-track"><span class="bar" style="width:{rate:.0f}%"></span></span> '
                    f"{passed}/{len(results)} ({rate:.0f}%)</td><td>{diagnosis}</td></tr>")
    rows.append("</tbody></table>")
    return "".join(rows)


def _student_table(reports: dict[str, SubmissionReport], names: list[str]) -> str:
    rows = ['<h2>Students</h2><table class="students"><thead><tr><th>Submission</th><th>Score</th>'
            "<th>Not passed</th></tr></thead><tbody>"]
    for name in names:
        report = reports[name]
        missing = ", ".join(r.id for r in report.exercises if r.status != "passed")
        rows.append(f"<tr><td>{e(name)}</td><td>{round(report.score, 2):g} / {report.max_score:g}</td>"
                    f"<td>{e(missing) or '&mdash;'}</td></tr>")
    rows.append("</tbody></table>")
    return "".join(rows)
