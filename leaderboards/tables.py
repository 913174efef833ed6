"""Paper-style layouts: one row per experiment (method + config), columns are measurements, cells mean ± std over
seeds.

Layouts (``LAYOUTS``): ``main`` (APLOT Table 1: in-distribution accuracy, OOD datasets, RewardBench sections; with
RewardBench 2 results, its subsets and score; with RMB results, its pairwise and best-of-N accuracy),
``noise`` (APLOT Table 4: in-domain accuracy per training label-noise rate), ``splits`` (BSR Table 5: in-domain
accuracy, prompt- / response- / mutual-OOD Kendall tau), ``bon`` (best-of-N gold score per n), ``rl`` (PPO / RLOO /
GRPO: gold and proxy reward after RL, their change, KL, lm-eval changes), ``shortcut`` (world v2: what the RM
learned — accuracy by pair kind, shortcut-aligned / -conflict and per family, beside the null baselines) and
``overopt`` (Gao et al.'s fitted α, β and residual per RM, best-of-N and RL).

The metric-row keys the layouts, claims and plots read mirror the suites: ``harness/suites/ood.py`` (RewardBench:
dataset ``rewardbench[-<file>]``, split = section or ``overall``, metric ``score``; RewardBench 2: dataset
``rewardbench2[-<file>]``, split = subset or ``overall``, metric ``score``; RMB: split ``pairwise`` / ``bon``, metric
``accuracy``; other datasets: split ``all``, metric ``accuracy``), ``harness/suites/splits.py``; the keys that carry
a parameter (label-noise splits, best-of-n metrics, RL algorithm splits and before / after / change metrics) are
built and parsed by :mod:`harness.metric_keys`, which the noise, bon and RL suites build them with.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from harness.coerce import flatten
from harness.metric_keys import (FIT_PARAMETERS, FIT_SCORES, NULL_BASELINES, bon_metric, bon_n, fit_metric,
                                 group_metric, noise_rate, null_metric, parse_group_metric, rl_change, rl_changed,
                                 rl_metric, rl_split)
from harness.metrics import REWARDBENCH2_SUBSETS
from leaderboards.queries import facts
from leaderboards.render import Grid, mean_std, rounded

OOD_SUITE, NOISE_SUITE, BON_SUITE, RL_SUITE = "ood", "noise", "bon", "rl"
REWARDBENCH, REWARDBENCH2, RMBENCH, RMB = "rewardbench", "rewardbench2", "rmbench", "rmb"
RMB_SETS = {"pairwise": "pairwise", "BoN": "bon"}
"""Column suffix → split of the RMB ``accuracy`` rows."""
REWARDBENCH_SECTIONS = {"Chat": "Chat", "Chat-Hard": "Chat Hard", "Safety": "Safety", "Reasoning": "Reasoning",
                        "Score": "overall"}
"""Column title → split of the RewardBench ``score`` rows."""
_EXCLUDED_KEYS = ("method", "seed", "suites")  # not part of an experiment's settings


def is_dataset(name: str, family: str) -> bool:
    """``name`` is ``family`` or a source of that ``--data`` format (``family-<file stem>``, as the ood suite names
    it, or ``family:<file>``)."""
    return name == family or name.startswith((family + "-", family + ":"))


@dataclass(frozen=True)
class Column:
    """A measurement: the metric rows matching every non-None key (``dataset`` as in :func:`is_dataset`; datasets
    of the ``exclude`` families never match). Several matching rows of one run (e.g. several OOD datasets) count as
    their mean."""

    title: str
    metric: str
    suite: str | None = None
    dataset: str | None = None
    split: str | None = None
    exclude: tuple[str, ...] = ()

    def matches(self, fact: dict[str, Any]) -> bool:
        return (fact["metric"] == self.metric and (self.suite is None or fact["suite"] == self.suite)
                and (self.split is None or fact["split"] == self.split)
                and (self.dataset is None or is_dataset(fact["dataset"], self.dataset))
                and not any(is_dataset(fact["dataset"], family) for family in self.exclude))


ID_ACCURACY = Column("ID acc", "accuracy", "id", split="id")
OOD_ACCURACY = Column("OOD acc", "accuracy", OOD_SUITE, split="all", exclude=(REWARDBENCH,))
REWARDBENCH_COLUMNS = tuple(Column(f"RB {title}", "score", OOD_SUITE, REWARDBENCH, split)
                            for title, split in REWARDBENCH_SECTIONS.items())
REWARDBENCH2_COLUMNS = tuple(Column(f"RB2 {title}", "score", OOD_SUITE, REWARDBENCH2, split) for title, split in
                             (*((s, s) for s in REWARDBENCH2_SUBSETS), ("Score", "overall")))
SPLITS_COLUMNS = (Column("ID acc", "accuracy", "splits", split="id"),
                  *(Column(f"{name}-OOD τ", "kendall_tau_b", "splits", split=f"{name}_ood")
                    for name in ("prompt", "response", "mutual")))


@dataclass(frozen=True)
class Cell:
    """One column of one experiment over its seeds. ``stderr`` is the standard error of the mean: std / √n with
    ≥ 2 seeds, else the metric's own recorded stderr (None when not recorded)."""

    mean: float
    std: float | None
    n_seeds: int
    stderr: float | None
    higher_is_better: bool


@dataclass
class Experiment:
    """The runs of one config hash: method, flattened ``settings`` (dotted keys, the method config under
    ``method_config.``, with their values made hashable by :func:`frozen`) and, per seed, the metric rows."""

    config_hash: str
    method: str
    settings: dict[str, Any]
    recorded_at: str = ""
    run_ids: set[str] = field(default_factory=set)
    seeds: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    @property
    def context(self) -> tuple:
        """Every setting but the method's own: experiments of two methods are comparable when these are equal."""
        return tuple(sorted((k, v) for k, v in self.settings.items() if not k.startswith("method_config.")))

    def cell(self, column: Column) -> Cell | None:
        """``column`` aggregated over seeds; None when no seed has a matching row."""
        per_seed = [mean_of(rows) for rows in ([f for f in fs if column.matches(f)] for fs in self.seeds.values())
                    if rows]
        if not per_seed:
            return None
        values = [value for value, _, _ in per_seed]
        std = statistics.stdev(values) if len(values) > 1 else None
        stderr = per_seed[0][1] if std is None else std / math.sqrt(len(values))
        return Cell(statistics.fmean(values), std, len(values), stderr, per_seed[0][2])


def mean_of(rows: list[dict[str, Any]]) -> tuple[float, float | None, bool]:
    """Mean value, its stderr (None unless every row has one) and direction of the rows of one seed."""
    errors = [row["stderr"] for row in rows]
    stderr = None if None in errors else math.sqrt(sum(e * e for e in errors)) / len(rows)
    return statistics.fmean(row["value"] for row in rows), stderr, rows[0]["higher_is_better"]


def frozen(value: Any) -> Any:
    """A setting's value, hashable: lists as tuples, mappings as sorted (key, value) tuples; scalars as they are
    (so ``0`` and ``0.0`` are one setting, as they are one run config)."""
    if isinstance(value, (list, tuple)):
        return tuple(frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, frozen(v)) for k, v in value.items()))
    return value


def _flatten(tree: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys → hashable leaf values (:func:`frozen`)."""
    return {key: frozen(value) for key, value in flatten(tree).items()}


def experiments(rows: Iterable[dict[str, Any]]) -> list[Experiment]:
    """Group :func:`leaderboards.queries.facts` rows by config hash, sorted by method then config hash."""
    out: dict[str, Experiment] = {}
    for row in rows:
        exp = out.get(row["config_hash"])
        if exp is None:
            config = {k: v for k, v in row["config"].items() if k not in _EXCLUDED_KEYS}
            config["method_config"] = row["method_config"]  # the resolved method config, defaults included
            exp = out[row["config_hash"]] = Experiment(row["config_hash"], row["method"], _flatten(config))
        exp.recorded_at = max(exp.recorded_at, row["recorded_at"])
        exp.run_ids.add(row["run_id"])
        exp.seeds[row["seed"]].append(row)
    return sorted(out.values(), key=lambda e: (e.method, e.config_hash))


def labels(exps: list[Experiment], max_keys: int = 3) -> dict[str, str]:
    """config hash → the method name, plus ``(key=value, …)`` for the settings that differ between experiments of
    the same method (method-config keys first, at most ``max_keys`` shown)."""
    by_method: dict[str, list[Experiment]] = defaultdict(list)
    for exp in exps:
        by_method[exp.method].append(exp)
    out = {}
    for method, group in by_method.items():
        keys = sorted({k for e in group for k in e.settings}, key=lambda k: (not k.startswith("method_config."), k))
        named = {"model.backbone"} if method == "external" else set()  # an external model's name is its backbone
        differing = [k for k in keys if k not in named and len({e.settings.get(k) for e in group}) > 1]
        for exp in group:
            shown = [f"{k.removeprefix('method_config.')}={exp.settings.get(k)}"
                     for k in differing[:max_keys]]
            more = f", +{len(differing) - max_keys} more" if len(differing) > max_keys else ""
            name = method if method != "external" else f"external: {exp.settings['model.backbone']}"
            out[exp.config_hash] = name + (f" ({', '.join(shown)}{more})" if shown else "")
    return out


@dataclass(frozen=True)
class Row:
    label: str
    method: str
    config_hash: str
    cells: tuple[Cell | None, ...]


@dataclass(frozen=True)
class PaperTable:
    name: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]

    def grid(self) -> Grid:
        """Cells "mean ± std (n=seeds)", the best mean of each column in bold, "—" where nothing is recorded."""
        tops = [_best_mean([row.cells[i] for row in self.rows]) for i in range(len(self.columns))]
        text_rows, records = [], []
        for row in self.rows:
            text, record = [row.label], {"row": row.label, "method": row.method, "config_hash": row.config_hash}
            for column, cell, top in zip(self.columns, row.cells, tops):
                text.append(_cell_text(cell, top))
                record.update({column.title: rounded(cell and cell.mean), f"{column.title} std": rounded(
                    cell and cell.std), f"{column.title} seeds": cell.n_seeds if cell else 0})
            text_rows.append(tuple(text))
            records.append(record)
        fields = ("row", "method", "config_hash",
                  *(f"{c.title}{suffix}" for c in self.columns for suffix in ("", " std", " seeds")))
        return Grid(self.title, ("method", *(c.title for c in self.columns)), text_rows, fields, records,
                    "l" + "r" * len(self.columns))


def _best_mean(cells: list[Cell | None]) -> float | None:
    present = [c for c in cells if c is not None]
    if len(present) < 2:
        return None
    return (max if present[0].higher_is_better else min)(c.mean for c in present)


def _cell_text(cell: Cell | None, top: float | None) -> str:
    if cell is None:
        return "—"
    text = f"{mean_std(cell.mean, cell.std)} (n={cell.n_seeds})"
    return f"**{text}**" if cell.mean == top else text


def _main_columns(rows: list[dict[str, Any]]) -> tuple[Column, ...]:
    """ID accuracy; per OOD dataset its overall (split ``all``) accuracy, or per split when it has no ``all``
    (the world fallback); RM-Bench overall score and RMB pairwise / best-of-N accuracy when present; the
    RewardBench sections; the RewardBench 2 subsets and score when present."""
    ood: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if r["suite"] == OOD_SUITE and r["metric"] == "accuracy" and not any(
                is_dataset(r["dataset"], family) for family in (REWARDBENCH, REWARDBENCH2, RMB)):
            ood[r["dataset"]].add(r["split"])
    columns = [ID_ACCURACY]
    for dataset, splits in sorted(ood.items()):
        columns += ([Column(dataset, "accuracy", OOD_SUITE, dataset, "all")] if "all" in splits else
                    [Column(f"{dataset} {s}", "accuracy", OOD_SUITE, dataset, s) for s in sorted(splits)])
    ood_datasets = {r["dataset"] for r in rows if r["suite"] == OOD_SUITE}
    columns += [Column(f"{d} score", "score", OOD_SUITE, d, "overall")
                for d in sorted(d for d in ood_datasets if is_dataset(d, RMBENCH))]
    columns += [Column(f"{d} {title}", "accuracy", OOD_SUITE, d, split)
                for d in sorted(d for d in ood_datasets if is_dataset(d, RMB)) for title, split in RMB_SETS.items()]
    rewardbench2 = any(is_dataset(d, REWARDBENCH2) for d in ood_datasets)
    return (*columns, *REWARDBENCH_COLUMNS, *(REWARDBENCH2_COLUMNS if rewardbench2 else ()))


def _noise_columns(rows: list[dict[str, Any]]) -> tuple[Column, ...]:
    splits = {r["split"]: rate for r in rows if r["suite"] == NOISE_SUITE and r["metric"] == "accuracy"
              and (rate := noise_rate(r["split"])) is not None}
    return tuple(Column(f"noise {rate:.0%}", "accuracy", NOISE_SUITE, split=split)
                 for split, rate in sorted(splits.items(), key=lambda item: item[1]))


def _bon_columns(rows: list[dict[str, Any]]) -> tuple[Column, ...]:
    """gold@n per n, per prompt set (split ``bon``: train templates, titled plainly; others prefixed)."""
    found = {(r["split"], n) for r in rows if r["suite"] == BON_SUITE and (n := bon_n(r["metric"])) is not None}
    return tuple(Column(f"{'' if split == BON_SUITE else split + ' '}gold@n={n}", bon_metric("gold_score", n),
                        BON_SUITE, split=split) for split, n in sorted(found))


def _rl_columns(rows: list[dict[str, Any]]) -> tuple[Column, ...]:
    """Per RL algorithm run (split): gold and proxy reward after RL and their change, final KL, lm-eval changes."""
    algos = sorted({r["split"] for r in rows if r["suite"] == RL_SUITE})
    tasks = sorted({r["dataset"] for r in rows if r["suite"] == RL_SUITE and r["dataset"] != "world"
                    and rl_changed(r["metric"])})
    columns = []
    for algo in algos:
        split = rl_split(algo)
        columns += [Column(f"{algo} gold", rl_metric("gold_reward", "after"), RL_SUITE, "world", split),
                    Column(f"{algo} Δgold", rl_change("gold_reward"), RL_SUITE, "world", split),
                    Column(f"{algo} Δproxy", rl_change("proxy_reward"), RL_SUITE, "world", split),
                    Column(f"{algo} KL", "kl", RL_SUITE, "world", split)]
        columns += [Column(f"{algo} Δ{rl_changed(metric)} {task}", metric, RL_SUITE, task, split)
                    for task in tasks for metric in sorted({r["metric"] for r in rows if r["suite"] == RL_SUITE
                                                            and r["dataset"] == task and r["split"] == split
                                                            and rl_changed(r["metric"])})]
    return tuple(columns)


def _shortcut_columns(rows: list[dict[str, Any]]) -> tuple[Column, ...]:
    """What the RM learned on world v2 (suite id): accuracy on outcome-differs / same-outcome pairs, on
    shortcut-aligned / shortcut-conflict pairs and on ``shortcut_reversed``; beside it the null baselines'
    accuracy (overall and on conflict pairs) on the id split; then the RM's outcome-differs accuracy per family."""
    def acc(title: str, metric: str, split: str = "id") -> Column:
        return Column(title, metric, "id", "world", split)

    columns = [acc("ID acc", "accuracy"), acc("differ", group_metric("accuracy", "kind", "differ")),
               acc("same", group_metric("accuracy", "kind", "same")),
               acc("aligned", group_metric("accuracy", "shortcut", "aligned")),
               acc("conflict", group_metric("accuracy", "shortcut", "conflict")),
               acc("reversed", "accuracy", "shortcut_reversed")]
    for baseline in NULL_BASELINES:
        columns += [acc(f"{baseline}", null_metric(baseline)),
                    acc(f"{baseline} conflict", group_metric(null_metric(baseline), "shortcut", "conflict"))]
    families = sorted({parsed[2] for r in rows if r["suite"] == "id" and r["split"] == "id"
                       and (parsed := parse_group_metric(r["metric"])) and parsed[:2] == ("accuracy", "differ_family")})
    columns += [acc(f"{f} differ", group_metric("accuracy", "differ_family", f)) for f in families]
    return tuple(columns)


FIT_TITLES = {"alpha": "α", "beta": "β", "rmse": "rmse"}  # fit parameter → column title


def _overopt_columns(rows: list[dict[str, Any]]) -> tuple[Column, ...]:
    """Gao et al. (2023) fits per downstream suite split (best-of-N prompt set, RL algorithm): α, β and the fit's
    residual of the gold and the proxy curve (rows ``{gold,proxy}_fit_{alpha,beta,rmse}``)."""
    found = sorted({(r["suite"], r["split"]) for r in rows if r["suite"] in (BON_SUITE, RL_SUITE)
                    and r["metric"] == fit_metric("gold", "alpha")})
    return tuple(Column(f"{split} {score} {FIT_TITLES[p]}", fit_metric(score, p), suite, split=split)
                 for suite, split in found for score in FIT_SCORES for p in FIT_PARAMETERS)


LAYOUTS: dict[str, tuple[str, Callable[[list[dict[str, Any]]], tuple[Column, ...]]]] = {
    "main": ("In-distribution, OOD, RewardBench (APLOT Table 1) and RewardBench 2", _main_columns),
    "noise": ("In-domain accuracy after training with label noise (APLOT Table 4)", _noise_columns),
    "splits": ("Generalisation splits (BSR Table 5)", lambda _: SPLITS_COLUMNS),
    "bon": ("Best-of-N: expected gold score of the proxy-argmax of n samples", _bon_columns),
    "rl": ("RL against the RM (suite rl): gold / proxy reward after RL, changes from the start, KL", _rl_columns),
    "shortcut": ("World v2: accuracy by pair kind and shortcut, beside the null baselines (longer-wins, "
                 "shorter-wins, style-only); outcome-differs accuracy per family", _shortcut_columns),
    "overopt": ("Over-optimisation fits (Gao et al. 2023): best-of-N R(d) = d(α − βd), RL R(d) = d(α − β ln d), "
                "d = sqrt(KL)", _overopt_columns),
}


def table(engine: Engine, layout: str, **filters: str | None) -> PaperTable:
    """The ``layout`` table (a key of :data:`LAYOUTS`) over the rows matching ``filters`` (those of
    :func:`leaderboards.queries.facts`). One row per experiment with a value in at least one column, labelled by
    :func:`labels` among those rows."""
    title, columns_of = LAYOUTS[layout]
    rows = facts(engine, **filters)
    columns = columns_of(rows)
    shown = [(exp, cells) for exp in experiments(rows) if any(cells := tuple(map(exp.cell, columns)))]
    names = labels([exp for exp, _ in shown])
    out = [Row(names[exp.config_hash], exp.method, exp.config_hash, cells) for exp, cells in shown]
    return PaperTable(layout, title, columns, tuple(sorted(out, key=lambda r: r.label)))
