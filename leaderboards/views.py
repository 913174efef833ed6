"""Every view of the results by name: the flat leaderboard, the paper layouts and the claims table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from harness.errors import UnknownNameError
from leaderboards.claims import claims_table
from leaderboards.queries import leaderboard
from leaderboards.tables import LAYOUTS, table

VIEWS = ("flat", *LAYOUTS, "claims")


def view(engine: Engine, name: str = "flat", **filters: str | None) -> Any:
    """The view ``name`` (one of :data:`VIEWS`) over the rows matching ``filters``, ready for ``render``."""
    if name == "flat":
        return leaderboard(engine, **filters)
    if name == "claims":
        return claims_table(engine, **filters)
    if name not in LAYOUTS:
        raise UnknownNameError(f"unknown layout {name!r}; choose one of {', '.join(VIEWS)}")
    return table(engine, name, **filters)
