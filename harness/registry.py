"""A generic name → object registry with did-you-mean errors and entry-point plugins."""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from importlib.metadata import entry_points
from typing import Callable, Generic, Iterator, TypeVar

from harness.errors import UnknownNameError

T = TypeVar("T")


def close_matches(name: str, candidates: list[str]) -> str:
    """A ``"; did you mean …?"`` suffix for error messages (empty when nothing is close)."""
    near = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    shown = near or sorted(candidates)
    label = "did you mean" if near else "choose from"
    return f"; {label}: {', '.join(shown)}" if shown else ""


class Registry(Generic[T]):
    """Objects registered by name in code, plus those advertised in an entry-point group (loaded on first use)."""

    def __init__(self, kind: str, entry_point_group: str | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._items: dict[str, T] = {}
        self._plugins_loaded = entry_point_group is None

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return add

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.entry_point_group):
            obj = ep.load()
            self._items.setdefault(ep.name, obj)

    def get(self, name: str) -> T:
        self._load_plugins()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(f"unknown {self.kind} {name!r}{close_matches(name, self.names())}") from None

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        self._load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def import_submodules(package: str, path) -> None:
    """Import every public module of a plugin package so that each registers itself."""
    for module in pkgutil.iter_modules(path):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package}.{module.name}")
