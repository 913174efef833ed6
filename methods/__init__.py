"""RM training methods as plugins: every module in this package registers one ``RewardMethod``.

>>> import methods
>>> m = methods.get("bt")()
"""
from __future__ import annotations


from harness.method import RewardMethod
from harness.registry import Registry, import_submodules

_registry: Registry[type[RewardMethod]] = Registry("method", entry_point_group="rmbench.methods")


def register(cls: type[RewardMethod]) -> type[RewardMethod]:
    """Class decorator: register a method under its ``name``."""
    return _registry.register(cls.name)(cls)


def get(name: str) -> type[RewardMethod]:
    """The method class called ``name``; an unknown name raises ``UnknownNameError`` listing close matches."""
    return _registry.get(name)


def names() -> list[str]:
    return _registry.names()


import_submodules(__name__, __path__)
