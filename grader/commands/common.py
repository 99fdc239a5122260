"""Helpers shared by the subcommands: plugins, exercise loading and selection, exit codes."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.errors import UsageError, did_you_mean

EXIT_OK, EXIT_NOT_PASSED, EXIT_USAGE = 0, 1, 2


def add_exercises_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exercises", action="append", type=Path, metavar="DIR",
                        help="exercise directory or file (repeatable; default: the bundled bank)")


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """The resource limits of student code, shared by `check` and `batch`."""
    from grader.sandbox.limits import LIMIT_KEYS
    parser.add_argument("--timeout", type=float, metavar="S", help="seconds per exercise (default 10)")
    parser.add_argument("--memory", metavar="SIZE", help="memory limit for student code, e.g. 512M (default 1G)")
    for key, flag, metavar in (("cpu", "--cpu", "S"), ("processes", "--processes", "N"),
                               ("file_size", "--file-size", "SIZE"), ("open_files", "--open-files", "N")):
        parser.add_argument(flag, dest=f"limit_{key}", metavar=metavar, help=f"limit: {LIMIT_KEYS[key]}")


def limit_options(args) -> tuple[float | None, int | None, dict]:
    """(timeout, memory, other limits) from the options of `add_limit_options`, validated."""
    from grader.sandbox.limits import LIMIT_KEYS, parse_limit, parse_memory
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    memory = None
    if args.memory:
        try:
            memory = parse_memory(args.memory)
        except ValueError as exc:
            raise UsageError(f"--memory: {exc}") from None
    limits = {}
    for key in LIMIT_KEYS:
        value = getattr(args, f"limit_{key}", None)
        if value is not None:
            try:
                limits[key] = parse_limit(key, value)
            except ValueError as exc:
                raise UsageError(f"--{key.replace('_', '-')}: {exc}") from None
    return args.timeout, memory, limits


def load_plugins():
    """The process's plugins with every registry built; a broken plugin is a warning by name."""
    from grader.plugin_manager import get_plugins
    plugins = get_plugins()
    plugins.kinds, plugins.functions, plugins.formats  # noqa: B018 - build; failures are recorded
    for failure in plugins.failures:
        print(f"grader: warning: plugin '{failure.name}' failed to load: {failure.message}", file=sys.stderr)
    return plugins


def load_selected(args, plugins, wanted: list[str] | None = None):
    from grader.loader import load_exercises
    exercises = load_exercises(args.exercises, plugins)
    if not wanted:
        return exercises
    by_id = {e.id: e for e in exercises}
    for exercise_id in wanted:
        if exercise_id not in by_id:
            raise UsageError(f"no exercise '{exercise_id}'{did_you_mean(exercise_id, by_id)}")
    return [by_id[i] for i in dict.fromkeys(wanted)]


def write_output(text: str, output: Path | None) -> None:
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
