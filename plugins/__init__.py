"""Built-in plugins of the grader (installed as `grader_plugins`): kinds, functions, comparison, formats."""
