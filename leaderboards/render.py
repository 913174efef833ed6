"""Rendering as a Rich table, Markdown, CSV or JSON.

Everything renders through a :class:`Grid`: the flat leaderboard rows of :func:`leaderboards.queries.leaderboard`
are converted here; paper layouts and the claims table provide their own via a ``grid()`` method.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

from harness.errors import UnknownNameError

FORMATS = ("table", "md", "csv", "json")
NO_RESULTS = "No results."
_HEADER = ("method", "preset", "suite", "data", "metric", "mean ± std", "seeds")
_FIELDS = ("method", "config_hash", "preset", "backbone", "suite", "suite_version", "dataset", "split", "metric",
           "mean", "std", "n_seeds", "higher_is_better")


@dataclass(frozen=True)
class Grid:
    """A table ready to render: human-readable ``rows`` (``**x**`` marks a cell to emphasise) under ``header``,
    machine-readable ``records`` with keys ``fields`` for CSV / JSON, one ``align`` letter (l / r) per column,
    footnotes in ``notes``."""

    title: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    fields: tuple[str, ...]
    records: list[dict[str, Any]]
    align: str
    notes: tuple[str, ...] = ()


def render(data: Sequence[dict[str, Any]] | Any, fmt: str) -> Table | Text | str:
    """``table`` gives a rich renderable; ``md``, ``csv`` and ``json`` give strings. Values have 4 decimals.

    ``data`` is a list of flat leaderboard rows or an object with a ``grid()`` method (a paper layout, the claims).
    With no rows, ``table`` and ``md`` say "No results."; ``csv`` is the header alone and ``json`` is ``[]``,
    so machine-readable output stays parseable.
    """
    if fmt not in FORMATS:
        raise UnknownNameError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    grid = data.grid() if hasattr(data, "grid") else flat_grid(data)
    return {"table": _table, "md": _markdown, "csv": _csv, "json": _json}[fmt](grid)


def mean_std(mean: float, std: float | None) -> str:
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"


def rounded(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def flat_grid(rows: Sequence[dict[str, Any]]) -> Grid:
    """The flat leaderboard: one line per experiment × metric (the backbone shown when not the preset's name)."""
    def cells(row: dict[str, Any]) -> tuple[str, ...]:
        preset = row["preset"] if row["backbone"] == row["preset"] else f"{row['preset']} ({row['backbone']})"
        return (row["method"], preset, row["suite"], f"{row['dataset']}/{row['split']}", row["metric"],
                mean_std(row["mean"], row["std"]), str(row["n_seeds"]))

    if not any(row.get("settings") for row in rows):
        return Grid("Leaderboard", _HEADER, [cells(row) for row in rows], _FIELDS,
                    [{k: rounded(row[k]) for k in _FIELDS} for row in rows], "lllllrr")
    # a sweep over --grid axes: a column with the values that tell a method's experiments apart
    settings = [", ".join(f"{k}={v}" for k, v in row["settings"].items()) for row in rows]
    return Grid("Leaderboard", (*_HEADER[:1], "settings", *_HEADER[1:]),
                [(c[0], s, *c[1:]) for c, s in zip(map(cells, rows), settings)], (*_FIELDS, "settings"),
                [{**{k: rounded(row[k]) for k in _FIELDS}, "settings": s} for row, s in zip(rows, settings)],
                "llllllrr")


def _plain(cell: str) -> str:
    return cell[2:-2] if cell.startswith("**") and cell.endswith("**") else cell


def _table(grid: Grid) -> Table | Text:
    if not grid.rows:
        return Text(NO_RESULTS, style="yellow")
    table = Table(*grid.header, title=grid.title, caption="\n".join(grid.notes) or None)
    for column, align in zip(table.columns, grid.align):
        column.justify = "right" if align == "r" else "left"
    for row in grid.rows:
        table.add_row(*(Text(_plain(c), style="bold green") if c != _plain(c) else Text(c) for c in row))
    return table


def _markdown(grid: Grid) -> str:
    if not grid.rows:
        return NO_RESULTS + "\n"
    rule = tuple("---:" if align == "r" else "---" for align in grid.align)
    lines = [grid.header, rule, *grid.rows]
    text = "".join("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |\n" for line in lines)
    return text + "".join(f"\n{note}\n" for note in grid.notes)


def _csv(grid: Grid) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=grid.fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(grid.records)
    return out.getvalue()


def _json(grid: Grid) -> str:
    return json.dumps(grid.records, indent=2, ensure_ascii=False)
