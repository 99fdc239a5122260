"""`grader schema`: print the JSON Schema of exercise files (the built-in kinds and any plugin's)."""
from __future__ import annotations

import json
import sys

from grader.commands.common import EXIT_OK, load_plugins

NAME, HELP = "schema", "print the JSON Schema of exercise files (for editors)"


def add_arguments(parser) -> None:
    parser.add_argument("--shipped", action="store_true",
                        help="print the schema file shipped with the package (built-in kinds only)")
    parser.add_argument("--builtin", action="store_true",
                        help="build it for the built-in kinds only (regenerates the shipped file: "
                             "grader schema --builtin > grader/exercise.schema.json)")


def run(args) -> int:
    from grader.plugin_manager import Plugins, build_plugin_manager
    from grader.templates import build_schema, shipped_schema
    if args.shipped:
        schema = shipped_schema()
    elif args.builtin:
        schema = build_schema(Plugins(*build_plugin_manager(entry_points=False)))
    else:
        schema = build_schema(load_plugins())
    sys.stdout.write(json.dumps(schema, indent=2) + "\n")
    return EXIT_OK
