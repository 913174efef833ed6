"""Results database and leaderboards: record ``result.json`` files, query mean ± std over seeds, lay results out
like the papers' tables, judge the papers' claims, render (terminal, Markdown, CSV, JSON, HTML report)."""

from leaderboards.claims import CLAIMS, claims_table
from leaderboards.queries import leaderboard
from leaderboards.render import render
from leaderboards.store import DEFAULT_URL, engine_for, rebuild, record
from leaderboards.tables import LAYOUTS, table
from leaderboards.views import VIEWS, view

__all__ = ["CLAIMS", "DEFAULT_URL", "LAYOUTS", "VIEWS", "claims_table", "engine_for", "leaderboard", "rebuild",
           "record", "render", "table", "view"]
