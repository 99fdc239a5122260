"""Builds the pluggy plugin manager and the typed facade (`Plugins`) the core calls.

Built-in plugins (the `grader_plugins` package) and third-party ones (entry-point group
`grader.plugins`) are registered through the same function; a plugin that fails to import or to
register is reported by name and skipped, never a traceback.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import pluggy

from grader import hookspecs
from grader.errors import GraderError, PluginError
from grader.registry import Registry

ENTRY_POINT_GROUP = "grader.plugins"

BUILTIN_PLUGINS = (
    "grader_plugins.functions",
    "grader_plugins.derivative",
    "grader_plugins.chain_rule",
    "grader_plugins.partial_derivative",
    "grader_plugins.matrix_gradient",
    "grader_plugins.compare",
    "grader_plugins.diagnoses",
    "grader_plugins.report_text",
    "grader_plugins.report_json",
    "grader_plugins.report_html",
    "grader_plugins.report_junit",
    "grader_plugins.report_gradescope",
)


@dataclass
class PluginFailure:
    name: str
    message: str


def _register(pm: pluggy.PluginManager, name: str, load: Any, failures: list[PluginFailure]) -> None:
    """Import one plugin (module name or entry point) and register it; record a failure by name."""
    try:
        module = importlib.import_module(load) if isinstance(load, str) else load.load()
        pm.register(module, name=name)
    except Exception as exc:  # a broken plugin must not take the grader down
        failures.append(PluginFailure(name, f"{type(exc).__name__}: {exc}"))


def build_plugin_manager(*, entry_points: bool = True,
                         extra: tuple[Any, ...] = ()) -> tuple[pluggy.PluginManager, list[PluginFailure]]:
    """A fresh manager with every built-in plugin, the installed third-party ones and `extra`."""
    pm = pluggy.PluginManager("grader")
    pm.add_hookspecs(hookspecs)
    failures: list[PluginFailure] = []
    for module_name in BUILTIN_PLUGINS:
        _register(pm, module_name.rsplit(".", 1)[1], module_name, failures)
    if entry_points:
        from grader.entry_points import entry_points as find_entry_points
        for ep in find_entry_points(ENTRY_POINT_GROUP):
            if pm.has_plugin(ep.name):
                failures.append(PluginFailure(ep.name, "a plugin of that name is already registered"))
                continue
            _register(pm, ep.name, ep, failures)
    for plugin in extra:
        pm.register(plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin '{getattr(exc.plugin, '__name__', exc.plugin)}': {exc}") from None
    return pm, failures


def _fill(pm: pluggy.PluginManager, hook_name: str, registry: Any,
          failures: list[PluginFailure]) -> Any:
    """Call one registration hook plugin by plugin, so the registry can say who added what."""
    for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
        registry.current_plugin = impl.plugin_name
        try:
            impl.function(**{arg: registry for arg in impl.argnames})
        except GraderError as exc:
            failures.append(PluginFailure(impl.plugin_name, str(exc)))
        except Exception as exc:
            failures.append(PluginFailure(impl.plugin_name, f"{hook_name} raised {type(exc).__name__}: {exc}"))
    registry.current_plugin = "?"
    return registry


@dataclass
class Plugins:
    """The facade over the plugin manager: registries built on first use, and typed hook calls."""

    pm: pluggy.PluginManager
    failures: list[PluginFailure] = field(default_factory=list)
    # the single grader_compare implementation and how to call it directly (see compare)
    _compare_impl: object = field(default=None, repr=False, compare=False)
    _compare_direct: object = field(default=None, repr=False, compare=False)

    @cached_property
    def functions(self):
        from grader.functions import FunctionRegistry
        return _fill(self.pm, "grader_register_functions", FunctionRegistry(), self.failures)

    @cached_property
    def kinds(self) -> Registry:
        return _fill(self.pm, "grader_register_kinds", Registry("exercise kind"), self.failures)

    @cached_property
    def formats(self) -> Registry:
        return _fill(self.pm, "grader_register_formats", Registry("format"), self.failures)

    def compare(self, expected, got, tolerance):
        hook = self.pm.hook.grader_compare
        implementations = hook.get_hookimpls()
        if len(implementations) == 1:
            only = implementations[0]
            if only is not self._compare_impl:
                self._compare_impl, self._compare_direct = only, _direct_call(only)
            if self._compare_direct is not None:
                # one plain implementation (the built-in rule): what pluggy would do, without its
                # dispatch, which costs as much as the comparison of a small array
                return self._compare_direct(expected, got, tolerance)
        return hook(expected=expected, got=got, tolerance=tolerance)

    def diagnose(self, exercise, case, expected, got, tolerance) -> list[str]:
        found = self.pm.hook.grader_diagnose(exercise=exercise, case=case, expected=expected,
                                             got=got, tolerance=tolerance)
        return [text for text in found if text]

    def names(self) -> list[str]:
        return [name for name, _ in self.pm.list_name_plugin()]


def _direct_call(implementation):
    """fn(expected, got, tolerance) calling a plain hook implementation as pluggy would, or None
    for a wrapper (pluggy must run those)."""
    if implementation.hookwrapper or getattr(implementation, "wrapper", False):
        return None
    function, names = implementation.function, tuple(implementation.argnames)
    if names == ("expected", "got", "tolerance"):
        return function

    def call(expected, got, tolerance):
        arguments = {"expected": expected, "got": got, "tolerance": tolerance}
        return function(*[arguments[name] for name in names])
    return call


@lru_cache(maxsize=1)
def get_plugins() -> Plugins:
    """The process-wide plugins: built on first call, never at import time."""
    pm, failures = build_plugin_manager()
    return Plugins(pm, failures)
