"""The `grader` command: list, show, check, plugins (and the subcommands plugins of the core add)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grader.errors import GraderError, UsageError, did_you_mean

EXIT_OK, EXIT_NOT_PASSED, EXIT_USAGE = 0, 1, 2


def _add_exercises_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exercises", action="append", type=Path, metavar="DIR",
                        help="exercise directory or file (repeatable; default: the bundled bank)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description="Grade calculus-of-deep-learning exercises.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("list", help="list the exercises")
    _add_exercises_option(p)
    p.add_argument("--format", choices=["text", "json"], default="text")

    p = sub.add_parser("show", help="show one exercise's prompt, signature and an example")
    p.add_argument("id")
    _add_exercises_option(p)

    p = sub.add_parser("check", help="grade a solution file")
    p.add_argument("file", type=Path)
    p.add_argument("--exercise", action="append", metavar="ID", help="grade only this exercise (repeatable)")
    _add_exercises_option(p)
    p.add_argument("--format", default="text", help="text, json, or another registered format")
    p.add_argument("--output", type=Path, metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--timeout", type=float, metavar="S", help="seconds per exercise (default 10)")
    p.add_argument("--memory", metavar="SIZE", help="memory limit for student code, e.g. 512M (default 1G)")
    p.add_argument("--seed", type=int, metavar="N", help="change the random cases (same N, same cases)")

    sub.add_parser("plugins", help="list plugins, kinds, functions and formats")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except GraderError as exc:
        print(f"grader: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130


def _plugins():
    from grader.plugin_manager import get_plugins
    plugins = get_plugins()
    plugins.kinds, plugins.functions, plugins.formats  # build registries; failures are recorded
    for failure in plugins.failures:
        print(f"grader: warning: plugin '{failure.name}' failed to load: {failure.message}", file=sys.stderr)
    return plugins


def _exercises(args, plugins):
    from grader.loader import load_exercises
    return load_exercises(args.exercises, plugins)


def _select(exercises, wanted: list[str] | None):
    if not wanted:
        return exercises
    by_id = {e.id: e for e in exercises}
    for exercise_id in wanted:
        if exercise_id not in by_id:
            raise UsageError(f"no exercise '{exercise_id}'{did_you_mean(exercise_id, by_id)}")
    return [by_id[i] for i in dict.fromkeys(wanted)]


def cmd_list(args) -> int:
    plugins = _plugins()
    exercises = _exercises(args, plugins)
    if args.format == "json":
        print(json.dumps([{"id": e.id, "kind": e.kind, "title": e.title, "entry": list(e.entries),
                           "points": e.points, "path": e.path} for e in exercises], indent=2))
        return EXIT_OK
    width = max([len(e.id) for e in exercises] or [2])
    for e in exercises:
        print(f"{e.id:<{width}}  {e.kind:<18}  {', '.join(e.entries):<32}  {e.title}")
    return EXIT_OK


def cmd_show(args) -> int:
    from grader.show import render_exercise
    plugins = _plugins()
    (exercise,) = _select(_exercises(args, plugins), [args.id])
    print(render_exercise(exercise, plugins))
    return EXIT_OK


def cmd_check(args) -> int:
    from grader.sandbox.client import Sandbox
    from grader.sandbox.limits import parse_memory
    if not args.file.is_file():
        raise UsageError(f"no such file: {args.file}")
    memory = None
    if args.memory:
        try:
            memory = parse_memory(args.memory)
        except ValueError as exc:
            raise UsageError(f"--memory: {exc}") from None
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    sandbox = Sandbox()        # boots in parallel with loading; it never sees a reference value
    try:
        plugins = _plugins()
        fmt = plugins.formats.get(args.format)
        from grader.engine import grade_submission, prepare
        exercises = _select(_exercises(args, plugins), args.exercise)
        prepared = prepare(exercises, plugins, args.seed)
        report = grade_submission(args.file, prepared, plugins, sandbox, timeout=args.timeout,
                                  memory=memory, display_name=str(args.file))
    finally:
        sandbox.close()
    text = fmt.render(report)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK if report.passed else EXIT_NOT_PASSED


def cmd_plugins(args) -> int:
    plugins = _plugins()
    print("plugins:")
    for name in plugins.names():
        print(f"  {name}")
    for failure in plugins.failures:
        print(f"  {failure.name}  FAILED: {failure.message}")
    print("kinds:")
    for name in plugins.kinds:
        print(f"  {name:<20} {plugins.kinds.get(name).description}  [{plugins.kinds.owner(name)}]")
    print("functions:")
    for name in plugins.functions:
        print(f"  {plugins.functions.describe(name)}")
    print("formats:")
    for name in plugins.formats:
        print(f"  {name:<12} {plugins.formats.get(name).description}  [{plugins.formats.owner(name)}]")
    return EXIT_OK


COMMANDS = {"list": cmd_list, "show": cmd_show, "check": cmd_check, "plugins": cmd_plugins}
