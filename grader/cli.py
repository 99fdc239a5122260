"""The `grader` command: builds the parser from the subcommand modules and maps errors to exit codes."""
from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys

from grader.commands import COMMAND_MODULES
from grader.commands.common import EXIT_USAGE
from grader.errors import GraderError


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(prog="grader", description="Grade calculus-of-deep-learning exercises.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    commands = {}
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.add_arguments(sub.add_parser(module.NAME, help=module.HELP, description=module.HELP))
        commands[module.NAME] = module
    return parser, commands


def main(argv: list[str] | None = None) -> int:
    # the grader's own arrays are small: OpenBLAS's worker threads would only spin between them
    # (the user's own setting wins; it takes effect only if numpy is not imported yet)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    try:
        return commands[args.command].run(args)
    except GraderError as exc:
        print(f"grader: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The `grader` command: `main`, then exit without tearing the interpreter down. By then every
    file is written and closed; freeing a batch's objects one by one took 60-70 ms. atexit
    handlers still run, and stdout and stderr are flushed."""
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe (`grader ... | head`)
            pass
    os._exit(code if isinstance(code, int) else 1)
