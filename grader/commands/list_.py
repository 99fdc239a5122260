"""`grader list`: the exercises, as a table or JSON."""
from __future__ import annotations

import json

from grader.commands.common import EXIT_OK, add_exercises_option, load_plugins, load_selected

NAME, HELP = "list", "list the exercises"


def add_arguments(parser) -> None:
    add_exercises_option(parser)
    parser.add_argument("--format", choices=["text", "json"], default="text")


def run(args) -> int:
    exercises = load_selected(args, load_plugins())
    if args.format == "json":
        print(json.dumps([{"id": e.id, "kind": e.kind, "title": e.title, "entry": list(e.entries),
                           "points": e.points, "path": e.path} for e in exercises], indent=2))
        return EXIT_OK
    width = max([len(e.id) for e in exercises] or [2])
    for e in exercises:
        print(f"{e.id:<{width}}  {e.kind:<18}  {', '.join(e.entries):<32}  {e.title}")
    return EXIT_OK
