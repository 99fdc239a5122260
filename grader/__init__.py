"""Exercise grader for the calculus of deep learning; exposes the pluggy hookimpl marker."""
__version__ = "0.1.0"


def __getattr__(name: str):
    # `grader.hookimpl` imports pluggy on first use: `grader check` and `grader batch` start their
    # fork server before loading any plugin, and that start should not wait for pluggy
    if name == "hookimpl":
        import pluggy
        global hookimpl
        hookimpl = pluggy.HookimplMarker("grader")
        return hookimpl
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
