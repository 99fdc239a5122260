"""`grader show ID`: one exercise's prompt, signature and an example."""
from __future__ import annotations

from grader.commands.common import EXIT_OK, add_exercises_option, load_plugins, load_selected

NAME, HELP = "show", "show one exercise's prompt, signature and an example"


def add_arguments(parser) -> None:
    parser.add_argument("id")
    add_exercises_option(parser)


def run(args) -> int:
    from grader.show import render_exercise
    plugins = load_plugins()
    (exercise,) = load_selected(args, plugins, [args.id])
    print(render_exercise(exercise, plugins))
    return EXIT_OK
