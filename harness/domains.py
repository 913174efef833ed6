"""The domain of a setting, declared next to its dataclass field: ``lr: float = setting(1e-4, gt=0)``.

A domain is field metadata, so the run config, the world's config, every method's ``Config`` and every suite's
``Options`` declare theirs the same way and one validator reads them all: :func:`harness.config.from_dict`, which
builds every one of those dataclasses from YAML / ``--set`` values (choices are ``Literal`` types, checked there too).
Dataclasses with metadata rather than pydantic: the configs are already dataclasses, their ``asdict`` is the run
identity (:func:`harness.config.config_hash`), and a bound check is a few lines; a second model layer would have to
reproduce that identity exactly. This module imports nothing of the project, so every layer may use it.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

_KEY = "rmbench.domain"


@dataclass(frozen=True)
class Domain:
    """An interval of numbers: ``gt`` < x, ``ge`` ≤ x, x < ``lt``, x ≤ ``le`` (each bound optional)."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def describe(self) -> str:
        lower = f"> {self.gt}" if self.gt is not None else f"≥ {self.ge}" if self.ge is not None else ""
        upper = f"< {self.lt}" if self.lt is not None else f"≤ {self.le}" if self.le is not None else ""
        return " and ".join(p for p in (lower, upper) if p)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` lies in the domain (None, the 'unset' of an optional setting, always does; NaN never)."""
        if value is None:
            return True
        if isinstance(value, float) and math.isnan(value):
            return False
        return ((self.gt is None or value > self.gt) and (self.ge is None or value >= self.ge)
                and (self.lt is None or value < self.lt) and (self.le is None or value <= self.le))


def setting(default: Any = dataclasses.MISSING, *, gt: float | None = None, ge: float | None = None,
            lt: float | None = None, le: float | None = None, default_factory: Any = dataclasses.MISSING):
    """A dataclass field whose value must lie in the given bounds (see :class:`Domain`)."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={_KEY: Domain(gt=gt, ge=ge, lt=lt, le=le)})


def domain_of(f: dataclasses.Field) -> Domain | None:
    """The domain declared on field ``f`` with :func:`setting`, None when it has none."""
    return f.metadata.get(_KEY)
