"""Functions of the expression language (`Function`) and the registry plugins add them to."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Literal

import numpy as np

from grader.errors import PluginError
from grader.registry import Registry

ELEMENTWISE = "elementwise"
REDUCTION = "reduction"


@dataclass(frozen=True)
class Function:
    """One function of the expression language: its numpy value and its derivative rule.

    - `value(x)`: numpy implementation on a float64 array (or complex128 when `analytic`, for
      complex-step cross-checks: branch on `np.real(x)`, never on `abs`/`maximum` of a complex).
    - `derivative(x)`: for an elementwise function f'(x) elementwise; for a reduction (scalar
      result) the gradient of f at x, shaped like x. Reverse mode multiplies it by the incoming
      gradient, so it must be numerically stable on its own (e.g. sigmoid' without 1 - sigmoid).
    - `kind`: "elementwise" (result shaped like x) or "reduction" (0-d result).
    - `analytic`: `value` accepts complex input and continues f analytically off the real axis
      (piecewise, away from kinks such as relu's 0), so complex step gives f' to rounding.
    - `linear`: f is linear (sum, mean), so `derivative` reads only the shape of x; gradients
      then skip computing the argument's value when nothing else needs it.
    """

    name: str
    doc: str
    value: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    kind: Literal["elementwise", "reduction"] = ELEMENTWISE
    analytic: bool = True
    linear: bool = False

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name.startswith("_"):
            raise PluginError(f"function name '{self.name}' must be an identifier not starting with '_'")
        if self.kind not in (ELEMENTWISE, REDUCTION):
            raise PluginError(f"function '{self.name}': kind must be '{ELEMENTWISE}' or "
                              f"'{REDUCTION}', not '{self.kind}'")
        if not (callable(self.value) and callable(self.derivative)):
            raise PluginError(f"function '{self.name}': value and derivative must be callables")


def _as_input(x: object) -> np.ndarray:
    """A float64 (or complex128) copy of what a caller passed: never the caller's own array."""
    dtype = np.complex128 if np.iscomplexobj(x) else np.float64
    return np.array(x, dtype=dtype)


class FunctionRegistry(Registry[Function]):
    """The registered functions by name, with the plugin that added each."""

    def __init__(self) -> None:
        super().__init__("function")
        self._callables: dict[str, Callable] = {}

    def add(self, fn: Function) -> None:
        if not isinstance(fn, Function):
            raise PluginError(f"plugin '{self.current_plugin}' registered {fn!r}, "
                              "not a grader.functions.Function")
        super().add(fn)

    def callable(self, name: str) -> Callable:
        """The plain numpy function handed to student code: arrays in, arrays out; float in, float out.

        Input is copied to float64 (complex stays complex), so float32 or int arguments and lists
        work and the caller's array is never touched.
        """
        if name not in self._callables:
            value = self.get(name).value

            def student_function(x):
                return value(_as_input(x))[()]  # [()] turns a 0-d result into a numpy float

            student_function.__name__ = student_function.__qualname__ = name
            student_function.__doc__ = self.get(name).doc
            self._callables[name] = student_function
        return self._callables[name]

    def describe(self, name: str) -> str:
        fn = self.get(name)
        return f"{name} ({fn.kind}, from plugin '{self.owner(name)}'): {fn.doc}"


@lru_cache(maxsize=1)
def builtin_registry() -> FunctionRegistry:
    """Only the built-in functions (plugins/functions.py), without loading any other plugin."""
    from grader_plugins import functions as builtin

    registry = FunctionRegistry()
    registry.current_plugin = "functions"
    builtin.grader_register_functions(registry=registry)
    return registry


@lru_cache(maxsize=1)
def default_registry() -> FunctionRegistry:
    """The functions of every loaded plugin; the built-ins alone if the plugin system cannot load."""
    try:
        from grader.plugin_manager import get_plugins

        registry = get_plugins().functions
    except Exception:  # the plugin layer is optional for the core: formulas still work
        return builtin_registry()
    return registry if "sigmoid" in registry else builtin_registry()
