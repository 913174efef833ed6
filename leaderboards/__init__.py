"""Results database and leaderboards: record ``result.json`` files, query mean ± std over seeds, render."""

from leaderboards.queries import leaderboard
from leaderboards.render import render
from leaderboards.store import DEFAULT_URL, engine_for, rebuild, record

__all__ = ["DEFAULT_URL", "engine_for", "leaderboard", "rebuild", "record", "render"]
