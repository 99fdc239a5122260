"""`grader check FILE`: grade one solution file against the exercises."""
from __future__ import annotations

from pathlib import Path

from grader.commands.common import (EXIT_NOT_PASSED, EXIT_OK, add_exercises_option, add_limit_options,
                                    limit_options, load_plugins, load_selected, write_output)
from grader.errors import UsageError

NAME, HELP = "check", "grade a solution file"


def add_arguments(parser) -> None:
    parser.add_argument("file", type=Path)
    parser.add_argument("--exercise", action="append", metavar="ID", help="grade only this exercise (repeatable)")
    add_exercises_option(parser)
    parser.add_argument("--format", default="text", help="text, json, junit, gradescope, or another registered format")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the report here instead of stdout")
    add_limit_options(parser)
    parser.add_argument("--seed", type=int, metavar="N", help="change the random cases (same N, same cases)")
    parser.add_argument("--student", metavar="ID",
                        help="the inputs of student ID's variant (exercises with variants: true, as grader batch)")
    parser.add_argument("--variants", action="store_true",
                        help="with --student: every exercise is a variant (as grader batch --variants)")


def run(args) -> int:
    from grader.sandbox.client import Sandbox
    if not args.file.is_file():
        raise UsageError(f"no such file: {args.file}")
    timeout, memory, limits = limit_options(args)
    sandbox = Sandbox()        # boots in parallel with loading; it never sees a reference value
    try:
        plugins = load_plugins()
        fmt = plugins.formats.get(args.format)
        from grader.engine import grade_submission, prepare
        exercises = load_selected(args, plugins, args.exercise)
        if args.variants:
            import dataclasses
            exercises = [dataclasses.replace(e, variants=True) for e in exercises]
        prepared = prepare(exercises, plugins, args.seed, student=args.student)
        report = grade_submission(args.file, prepared, plugins, sandbox, timeout=timeout,
                                  memory=memory, display_name=str(args.file), limits=limits)
    finally:
        sandbox.close(wait=False)    # the command ends now; the fork server cleans up on its own
    write_output(fmt.render(report), args.output)
    from grader.github import report_to_github
    report_to_github(report, args.file, stdout_is_report=args.output is None and args.format != "text")
    return EXIT_OK if report.passed else EXIT_NOT_PASSED
