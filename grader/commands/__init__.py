"""Subcommands of `grader`: each module has NAME, HELP, add_arguments(parser) and run(args) -> int."""
COMMAND_MODULES = (
    "grader.commands.list_",
    "grader.commands.show",
    "grader.commands.check",
    "grader.commands.plugins",
    "grader.commands.batch",
    "grader.commands.validate",
    "grader.commands.new",
    "grader.commands.schema",
)
