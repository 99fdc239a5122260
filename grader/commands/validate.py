"""`grader validate [DIR ...]`: every problem of every exercise file, models and mutants run."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from grader.commands.common import EXIT_OK, EXIT_USAGE, load_plugins

NAME, HELP = "validate", "check exercise files: definitions, differentiability, model solutions and mutants"


def add_arguments(parser) -> None:
    parser.add_argument("dirs", nargs="*", type=Path, metavar="DIR",
                        help="exercise directories or files (default: the bundled bank)")
    parser.add_argument("--no-run", action="store_true",
                        help="do not run model solutions and mutants (definitions only)")
    parser.add_argument("--require-model", action="store_true",
                        help="an exercise without a 'model' solution is a problem")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args) -> int:
    from grader.validate import render, validate
    sandbox = None
    if not args.no_run:
        from grader.sandbox.client import Sandbox
        sandbox = Sandbox()        # a fresh interpreter, started before any reference exists
    try:
        plugins = load_plugins()
        result = validate(args.dirs, plugins, sandbox, require_model=args.require_model)
    finally:
        if sandbox is not None:
            sandbox.close()
    if args.format == "json":
        sys.stdout.write(json.dumps({"ok": result.ok, "problems": [p.to_dict() for p in result.problems],
                                     "exercises": [e.id for e in result.exercises],
                                     "models_run": result.models_run, "mutants_run": result.mutants_run,
                                     "mutants_caught": result.mutants_killed,
                                     "without_model": result.without_model}, indent=2) + "\n")
    else:
        sys.stdout.write(render(result))
    return EXIT_OK if result.ok else EXIT_USAGE
