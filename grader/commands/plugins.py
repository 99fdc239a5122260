"""`grader plugins`: what is loaded: plugins, kinds, functions, formats, and failures by name."""
from __future__ import annotations

from grader.commands.common import EXIT_OK, load_plugins

NAME, HELP = "plugins", "list plugins, kinds, functions and formats"


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    plugins = load_plugins()
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
