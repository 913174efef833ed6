"""Every view of the results by name: the flat leaderboard, the paper layouts and the claims table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from harness.errors import UnknownNameError
from leaderboards.claims import claims_table
from leaderboards.queries import leaderboard
from leaderboards.tables import LAYOUTS, table

VIEWS = ("flat", *LAYOUTS, "claims")


def view(engine: Engine, name: str = "flat", runs_dir: str | Path | None = None, **filters: str | None) -> Any:
    """The view ``name`` (one of :data:`VIEWS`) over the rows matching ``filters``, ready for ``render``; the claims
    read the runs' predictions under ``runs_dir`` (evaluation noise vs seed)."""
    if name == "flat":
        return leaderboard(engine, **filters)
    if name == "claims":
        return claims_table(engine, runs_dir=runs_dir, **filters)
    if name not in LAYOUTS:
        raise UnknownNameError(f"unknown layout {name!r}; choose one of {', '.join(VIEWS)}")
    return table(engine, name, **filters)
