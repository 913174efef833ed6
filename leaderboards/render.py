"""Rendering leaderboard rows (from :func:`leaderboards.queries.leaderboard`) as table, Markdown, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from harness.errors import UnknownNameError

FORMATS = ("table", "md", "csv", "json")
NO_RESULTS = "No results."
_HEADER = ("method", "preset", "suite", "data", "metric", "mean ± std", "seeds")
_FIELDS = ("method", "config_hash", "preset", "backbone", "suite", "suite_version", "dataset", "split", "metric",
           "mean", "std", "n_seeds", "higher_is_better")


def render(rows: Sequence[dict[str, Any]], fmt: str) -> Table | Text | str:
    """``table`` gives a rich renderable; ``md``, ``csv`` and ``json`` give strings. Values have 4 decimals.

    With no rows, ``table`` and ``md`` say "No results."; ``csv`` is the header alone and ``json`` is ``[]``,
    so machine-readable output stays parseable.
    """
    if fmt not in FORMATS:
        raise UnknownNameError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return {"table": _table, "md": _markdown, "csv": _csv, "json": _json}[fmt](rows)


def _mean_std(row: dict[str, Any]) -> str:
    return f"{row['mean']:.4f}" if row["std"] is None else f"{row['mean']:.4f} ± {row['std']:.4f}"


def _cells(row: dict[str, Any]) -> list[str]:
    """The human-readable cells of one row, in :data:`_HEADER` order (the backbone shown when not the preset's
    own name)."""
    preset = row["preset"] if row["backbone"] == row["preset"] else f"{row['preset']} ({row['backbone']})"
    return [row["method"], preset, row["suite"], f"{row['dataset']}/{row['split']}", row["metric"], _mean_std(row),
            str(row["n_seeds"])]


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    """The machine-readable fields of one row, numbers rounded to 4 decimals."""
    return {k: round(row[k], 4) if k in ("mean", "std") and row[k] is not None else row[k] for k in _FIELDS}


def _table(rows: Sequence[dict[str, Any]]) -> Table | Text:
    if not rows:
        return Text(NO_RESULTS, style="yellow")
    table = Table(*_HEADER, title="Leaderboard")
    for column in table.columns[-2:]:
        column.justify = "right"
    for row in rows:
        table.add_row(*_cells(row))
    return table


def _markdown(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return NO_RESULTS + "\n"
    lines = [_HEADER, ("---",) * 5 + ("---:",) * 2, *map(_cells, rows)]
    return "".join("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |\n" for line in lines)


def _csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_rounded(row) for row in rows)
    return out.getvalue()


def _json(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps([_rounded(row) for row in rows], indent=2, ensure_ascii=False)
