"""`grader new KIND ID`: write a commented exercise file for a kind and a model solution stub."""
from __future__ import annotations

import sys
from pathlib import Path

from grader.commands.common import EXIT_OK, load_plugins

NAME, HELP = "new", "write a new exercise file (ID.yaml) and a model solution stub for a kind"


def add_arguments(parser) -> None:
    parser.add_argument("kind", help="the exercise kind (grader plugins lists them)")
    parser.add_argument("id", help="the new exercise's kebab-case id")
    parser.add_argument("--dir", type=Path, default=Path("."), help="where to write ID.yaml (default: here)")
    parser.add_argument("--solutions", type=Path, metavar="DIR",
                        help="where to write the model stub (default: DIR/../solutions, outside what students get)")


def run(args) -> int:
    from grader.templates import write_exercise
    written = write_exercise(args.kind, args.id, args.dir, load_plugins(), solutions=args.solutions)
    for path in written:
        print(f"wrote {path}")
    print(f"next: fill in {written[-1].name}, then run: grader validate {written[0]}", file=sys.stderr)
    return EXIT_OK
