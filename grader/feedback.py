"""Student-facing text for one check and one exercise: what failed, where, by how much, and why."""
from __future__ import annotations

from grader.results import CheckResult, ExerciseResult


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def describe_check(check: CheckResult, reveal_hidden: bool = False) -> list[str]:
    """The lines that explain one failed check (for a hidden case: its verdict, not its values,
    unless the caller controls who sees it, as Gradescope does for a hidden test)."""
    if check.hidden and not reveal_hidden:
        return [f"{check.case} (hidden case) -- {check.entry}", f"  {check.public_message}"] + \
               [f"  diagnosis: {text}" for text in check.diagnosis]
    lines = [f"{check.case} -- {check.entry}({check.inputs})" if check.inputs else f"{check.case} -- {check.entry}"]
    lines.append(f"  {check.message}")
    if check.status == "failed" and check.worst:
        for item in check.worst:
            index = "[" + ", ".join(map(str, item["index"])) + "]" if item["index"] else "value"
            lines.append(f"    at {index}: expected {item['expected']:.8g}, got {item['got']:.8g}")
        lines.append(f"  max abs error {_num(check.max_abs_error)}, max rel error {_num(check.max_rel_error)}; "
                     f"tolerance {check.tolerance}")
    for text in check.diagnosis:
        lines.append(f"  diagnosis: {text}")
    lines += ["  " + line for line in check.traceback]
    if check.output:
        shown = check.output if len(check.output) < 400 else check.output[:400] + "..."
        lines.append("  your output: " + shown.rstrip().replace("\n", "\n    "))
    return lines


def exercise_feedback(result: ExerciseResult, reveal_hidden: bool = False) -> str:
    total = len(result.checks)
    passed = sum(check.status == "passed" for check in result.checks)
    if result.status == "passed":
        return f"all {total} cases passed"
    # describe a visible case first: the student can reproduce it
    failing = sorted((check for check in result.checks if check.status != "passed"), key=lambda c: c.hidden)
    lines = [f"{passed} of {total} cases passed"]
    lines += describe_check(failing[0], reveal_hidden)
    if len(failing) > 1:
        others = sorted({check.case.split(":")[0] for check in failing[1:]})
        lines.append(f"also not passed: {', '.join(others[:8])}{' ...' if len(others) > 8 else ''}")
    if result.hints:
        lines.append("hint: " + result.hints[0])
    return "\n".join(lines)
