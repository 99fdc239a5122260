"""What a batch writes for the instructor: the gradebook CSV and the summary of the class."""
from __future__ import annotations

import csv
import io
import statistics
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.batch import BatchResult


def format_points(value: float) -> str:
    """Points as the shortest exact-enough text: 9 -> '9', 2/3 -> '0.666667'."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _exercise_scores(record: dict) -> dict[str, dict]:
    return {e["id"]: e for e in record["grades"].get("exercises", [])}


def gradebook_csv(result: BatchResult) -> str:
    """student, score, max_score, then the points of every exercise; one row per student."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "score", "max_score", *result.exercise_ids])
    for graded in result.graded:
        by_id = _exercise_scores(graded.record)
        points = [by_id[i]["score"] if i in by_id else 0.0 for i in result.exercise_ids]
        writer.writerow([graded.student.name, format_points(sum(points)), format_points(result.max_score),
                         *(format_points(p) for p in points)])
    return buffer.getvalue()


def summarize(result: BatchResult, slowest: int = 5) -> dict:
    """Mean and median score, pass rate per exercise, students in trouble, the slowest runs."""
    scores = [g.record["grades"].get("score", 0.0) for g in result.graded]
    passes = {i: 0 for i in result.exercise_ids}
    trouble = []
    for graded in result.graded:
        by_id = _exercise_scores(graded.record)
        for exercise_id in result.exercise_ids:
            if by_id.get(exercise_id, {}).get("status") == "passed":
                passes[exercise_id] += 1
        bad = {i: e["status"] for i, e in by_id.items() if e["status"] in ("error", "timeout")}
        if bad:
            trouble.append({"student": graded.student.name, "exercises": bad,
                            "reason": next((e["reason"] for e in by_id.values() if e.get("reason")), "")})
    timed = sorted(((g.record["grades"].get("seconds", 0.0), g.student.name) for g in result.graded
                    if g.journaled), reverse=True)[:slowest]
    count = len(scores)
    return {"students": count, "max_score": result.max_score,
            "mean": round(statistics.fmean(scores), 6) if scores else 0.0,
            "median": round(statistics.median(scores), 6) if scores else 0.0,
            "pass_rate": {i: round(passes[i] / count, 6) if count else 0.0 for i in result.exercise_ids},
            "errors_or_timeouts": trouble,
            "slowest": [{"student": name, "seconds": round(seconds, 3)} for seconds, name in timed]}


def summary_text(result: BatchResult) -> str:
    summary = result.summary
    count, top = summary["students"], format_points(summary["max_score"])
    unusable = sum(g.student.path is None for g in result.graded)
    fresh = count - result.resumed - unusable
    lines = [f"graded {count} students ({fresh} now, {result.resumed} from the journal"
             + (f", {unusable} without a usable solution file" if unusable else "")
             + f") in {result.seconds:.1f} s ({fresh / max(result.seconds, 1e-9):.1f} students/s)",
             f"score: mean {format_points(summary['mean'])} / {top}, median {format_points(summary['median'])} / {top}",
             "pass rate per exercise:"]
    width = max((len(i) for i in summary["pass_rate"]), default=0)
    for exercise_id, rate in summary["pass_rate"].items():
        lines.append(f"  {exercise_id:<{width}}  {rate * 100:5.1f}%  ({round(rate * count)}/{count})")
    trouble = summary["errors_or_timeouts"]
    lines.append(f"timed out or crashed: {len(trouble) or 'none'}")
    for item in trouble:
        kinds = set(item["exercises"].values())
        if len(item["exercises"]) == len(result.exercise_ids) > 1 and len(kinds) == 1:
            statuses = f"all {len(result.exercise_ids)} exercises {kinds.pop()}"
        else:
            statuses = ", ".join(f"{i} {s}" for i, s in item["exercises"].items())
        lines.append(f"  {item['student']}: {statuses}" + (f" ({item['reason']})" if item["reason"] else ""))
    if summary["slowest"]:
        lines.append("slowest: " + ", ".join(f"{s['student']} {s['seconds']:.2f} s" for s in summary["slowest"]))
    return "\n".join(lines) + "\n"
