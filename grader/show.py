"""`grader show ID`: the prompt, the signature to write and one example call with its answer."""
from __future__ import annotations

from typing import Any

import numpy as np

from grader.engine import prepare
from grader.exercise import Exercise
from grader.transport import FunctionRef


def readable(value: Any, limit: int = 24) -> str:
    """An input or answer as a student would type it: np.array([...]) in full when small,
    a function by its name, a list of functions as [square, sigmoid]."""
    if isinstance(value, FunctionRef):
        return str(value) if str(value).isidentifier() else f"lambda x: {value}"
    if isinstance(value, tuple):
        return "(" + ", ".join(readable(v, limit) for v in value) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(readable(v, limit) for v in value) + "]"
    if isinstance(value, np.ndarray) and value.ndim > 0:
        if value.size > limit:
            return f"<array of shape {value.shape}>"
        body = np.array2string(value, precision=4, separator=", ", suppress_small=True,
                               max_line_width=90, prefix="np.array(")
        return f"np.array({body})"
    if isinstance(value, (float, np.floating, np.ndarray)):
        return f"{float(value):.6g}"
    return repr(value)


def _call(case) -> list[str]:
    """The example call, one argument per line when a matrix spans several lines."""
    args = [(name, readable(arg)) for name, arg in zip(case.arg_names, case.args)]
    if not any("\n" in text for _, text in args):
        return [f"    {case.entry}({', '.join(f'{name}={text}' for name, text in args)})"]
    lines = [f"    {case.entry}("]
    for name, text in args:
        start = f"        {name}="
        lines.append(start + text.replace("\n", "\n" + " " * len(start)) + ",")
    return lines + ["    )"]


def render_exercise(exercise: Exercise, plugins) -> str:
    (item,) = prepare([exercise], plugins)
    lines = [f"{exercise.title}  [{exercise.id}, kind {exercise.kind}, {exercise.points:g} point(s)]", ""]
    if exercise.description:
        lines += [exercise.description.rstrip(), ""]
    lines.append("Write in your solution file:")
    shown = set()
    for case in item.cases:
        if case.entry not in shown:
            shown.add(case.entry)
            lines.append(f"    def {case.entry}({', '.join(case.arg_names)}): ...")
    visible = [case for case in item.cases if case.visibility == "visible"]
    for entry in dict.fromkeys(case.entry for case in visible):
        example = next(case for case in visible if case.entry == entry)
        lines += ["", "Example:" if len(shown) == 1 else f"Example for {entry}:", *_call(example),
                  "    -> " + readable(example.expected).replace("\n", "\n       ")]
    lines += ["", f"Graded on {len(item.cases)} cases; tolerance {exercise.tolerance}."]
    if exercise.hints:
        lines.append(f"{len(exercise.hints)} hint(s) are shown when a check fails.")
    return "\n".join(lines)
