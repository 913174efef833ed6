"""Leaderboard queries: mean ± std of each metric over the seeds of an experiment."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from typing import Any

from sqlalchemy import Engine, select

from harness.coerce import flatten
from harness.metric_keys import stored_suite_names, suite_name
from leaderboards.schema import Metric, Run

_GROUP = ("method", "config_hash", "suite", "suite_version", "dataset", "split", "metric")
_FACT_COLUMNS = (Run.run_id, Run.method, Run.method_config, Run.config, Run.preset, Run.backbone, Run.data,
                 Run.recorded_at, Metric.config_hash, Metric.seed, Metric.suite, Metric.suite_version,
                 Metric.dataset, Metric.split, Metric.metric, Metric.value, Metric.stderr, Metric.n,
                 Metric.higher_is_better)


def facts(engine: Engine, suite: str | None = None, dataset: str | None = None, split: str | None = None,
          metric: str | None = None, backbone: str | None = None, preset: str | None = None,
          data: str | None = None) -> list[dict[str, Any]]:
    """Every recorded metric row (one per seed) joined with its run; ``None`` filters match anything.

    ``dataset`` filters the evaluation dataset of a metric row, ``data`` the training data of its run. Rows of a
    renamed suite are read under its current name (``harness.metric_keys.RENAMED_SUITES``), and ``suite`` matches
    them by either name.
    """
    filters = {Metric.dataset: dataset, Metric.split: split, Metric.metric: metric, Run.backbone: backbone,
               Run.preset: preset, Run.data: data}
    query = (select(*_FACT_COLUMNS).join(Run, Run.run_id == Metric.run_id)
             .where(*(column == value for column, value in filters.items() if value is not None)))
    if suite is not None:
        query = query.where(Metric.suite.in_(stored_suite_names(suite_name(suite))))
    with engine.connect() as conn:
        return [{**row, "suite": suite_name(row["suite"])} for row in conn.execute(query).mappings()]


def leaderboard(engine: Engine, **filters: str | None) -> list[dict]:
    """One row per (method, config_hash, suite, suite_version, dataset, split, metric), aggregated over seeds.

    ``filters`` are those of :func:`facts`. Each row has the group keys plus ``mean``, ``std`` (sample std; None
    with one seed), ``n_seeds``, ``backbone``, ``preset``, ``higher_is_better`` and ``settings`` (see
    :func:`experiment_settings`: the values of the grid axes that tell this experiment from the method's others).
    Rows are sorted by suite, dataset, split, metric, then best mean first.
    """
    groups: dict[tuple, list] = defaultdict(list)
    rows = facts(engine, **filters)
    for row in rows:
        groups[tuple(row[k] for k in _GROUP)].append(row)
    settings = experiment_settings(rows)
    board = [{**_aggregate(group), "settings": settings[group[0]["method"], group[0]["config_hash"]]}
             for group in groups.values()]
    board.sort(key=lambda r: (r["suite"], r["dataset"], r["split"], r["metric"], r["suite_version"],
                              -r["mean"] if r["higher_is_better"] else r["mean"], r["method"], r["config_hash"]))
    return board


_NOT_SETTINGS = ("seed", "suites", "sweep", "train.report_to", "method", "preset")  # not axes of an experiment


def experiment_settings(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(method, config_hash) → the config keys whose values differ among that method's experiments in ``rows``
    (the axes of a ``sweep --grid``, e.g. ``{"data.label_noise": 0.2}``), with this experiment's values.

    The seed, the suites and where or how a run executed (``sweep.*``, ``train.report_to``) are not settings."""
    configs: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if (row["method"], row["config_hash"]) not in configs:
            flat = flatten({**(row["config"] or {}), "method_config": row["method_config"]})  # with its defaults
            configs[row["method"], row["config_hash"]] = {
                k: v for k, v in flat.items() if not any(k == n or k.startswith(f"{n}.") for n in _NOT_SETTINGS)}
    by_method: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (method, _), flat in configs.items():
        by_method[method].append(flat)
    varying = {method: sorted(k for k in set().union(*flats)
                              if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flats}) > 1)
               for method, flats in by_method.items()}
    return {(method, h): {k: flat.get(k) for k in varying[method]} for (method, h), flat in configs.items()}


def _aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Collapse the per-seed rows of one group into a leaderboard row."""
    first, values = rows[0], [row["value"] for row in rows]
    return {**{k: first[k] for k in _GROUP}, "backbone": first["backbone"], "preset": first["preset"],
            "higher_is_better": first["higher_is_better"], "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None, "n_seeds": len(values)}


def recorded_suites(engine: Engine, config_hash: str, seed: int) -> set[str]:
    """The suites with at least one metric row recorded for this experiment and seed."""
    query = select(Metric.suite).where(Metric.config_hash == config_hash, Metric.seed == seed).distinct()
    with engine.connect() as conn:
        return set(conn.scalars(query))
