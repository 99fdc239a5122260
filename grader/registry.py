"""A name-keyed registry passed into registration hooks; reports unknown and duplicate names."""
from __future__ import annotations

from typing import Generic, Iterator, TypeVar

from grader.errors import PluginError, UsageError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Holds what plugins register under a name (`kind`, `format`), with who registered it."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}
        self._owner: dict[str, str] = {}
        self.current_plugin = "?"

    def add(self, item: T) -> None:
        name = getattr(item, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin '{self.current_plugin}' registered a {self.what} without a name")
        if name in self._items:
            raise PluginError(f"plugin '{self.current_plugin}' registered {self.what} '{name}', "
                              f"already registered by plugin '{self._owner[name]}'")
        self._items[name] = item
        self._owner[name] = self.current_plugin

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise UsageError(f"unknown {self.what} '{name}'{did_you_mean(name, self._items)}; "
                             f"known: {known}") from None

    def owner(self, name: str) -> str:
        return self._owner[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
