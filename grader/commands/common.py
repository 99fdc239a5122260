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
