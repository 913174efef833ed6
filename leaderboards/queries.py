"""Leaderboard queries: mean ± std of each metric over the seeds of an experiment."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from sqlalchemy import Engine, select

from leaderboards.schema import Metric, Run

_GROUP = ("method", "config_hash", "suite", "suite_version", "dataset", "split", "metric")


def leaderboard(engine: Engine, suite: str | None = None, dataset: str | None = None, split: str | None = None,
                metric: str | None = None, backbone: str | None = None, preset: str | None = None) -> list[dict]:
    """One row per (method, config_hash, suite, suite_version, dataset, split, metric), aggregated over seeds.

    Each row has the group keys plus ``mean``, ``std`` (sample std; None with one seed), ``n_seeds``, ``backbone``,
    ``preset`` and ``higher_is_better``. Rows are sorted by suite, dataset, split, metric, then best mean first.
    """
    filters = {Metric.suite: suite, Metric.dataset: dataset, Metric.split: split, Metric.metric: metric,
               Run.backbone: backbone, Run.preset: preset}
    query = (select(Run.method, Run.backbone, Run.preset, Metric.config_hash, Metric.suite, Metric.suite_version,
                    Metric.dataset, Metric.split, Metric.metric, Metric.higher_is_better, Metric.value)
             .join(Run, Run.run_id == Metric.run_id)
             .where(*(column == value for column, value in filters.items() if value is not None)))
    groups: dict[tuple, list] = defaultdict(list)
    with engine.connect() as conn:
        for row in conn.execute(query).mappings():
            groups[tuple(row[k] for k in _GROUP)].append(row)
    board = [_aggregate(rows) for rows in groups.values()]
    board.sort(key=lambda r: (r["suite"], r["dataset"], r["split"], r["metric"], r["suite_version"],
                              -r["mean"] if r["higher_is_better"] else r["mean"], r["method"], r["config_hash"]))
    return board


def _aggregate(rows: list[Any]) -> dict[str, Any]:
    """Collapse the per-seed rows of one group into a leaderboard row."""
    first, values = rows[0], [row["value"] for row in rows]
    return {**{k: first[k] for k in _GROUP}, "backbone": first["backbone"], "preset": first["preset"],
            "higher_is_better": first["higher_is_better"], "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None, "n_seeds": len(values)}
