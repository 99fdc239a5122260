"""`grader show ID`: the prompt, the signature to write and one example call with its answer."""
from __future__ import annotations

from grader.engine import prepare
from grader.exercise import Exercise, format_value


def render_exercise(exercise: Exercise, plugins) -> str:
    (item,) = prepare([exercise], plugins)
    lines = [f"{exercise.title}  [{exercise.id}, kind {exercise.kind}, {exercise.points:g} point(s)]", ""]
    if exercise.description:
        lines += [exercise.description, ""]
    lines.append("Write in your solution file:")
    shown = set()
    for case in item.cases:
        if case.entry not in shown:
            shown.add(case.entry)
            lines.append(f"    def {case.entry}({', '.join(case.arg_names)}): ...")
    visible = [case for case in item.cases if case.visibility == "visible"]
    if visible:
        example = visible[0]
        args = ", ".join(format_value(arg) for arg in example.args)
        lines += ["", "Example:", f"    {example.entry}({args})", f"    -> {format_value(example.expected)}"]
    lines += ["", f"Graded on {len(item.cases)} cases; tolerance {exercise.tolerance}."]
    return "\n".join(lines)
