"""Exercise grader for the calculus of deep learning; exposes the pluggy hookimpl marker."""
import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("grader")
