"""In-distribution suite: strict pairwise accuracy on held-out pairs from the training distribution.

On world v2 it also scores the ``shortcut_reversed`` pairs and says what the RM learned (``world_diagnostics``):
accuracy by pair kind (outcomes differ / same), on shortcut-conflict and shortcut-aligned pairs and per family of
the outcome-differs pairs (metrics ``accuracy@<group>=<value>``, ``harness.metric_keys.group_metric``), and beside
it the null baselines of ``harness.null_baselines`` (longer-wins, shorter-wins, style-only), overall and by group.
"""
from __future__ import annotations

import numpy as np

from harness import suites
from harness.data import read_pair_source, training_pairs, world_splits
from harness.data.formats import source_stem
from harness.data.io import safe_name
from harness.errors import ConfigError
from harness.metric_keys import group_metric, null_metric
from harness.metrics import mean_estimate, pairwise_accuracy, proportion
from harness.null_baselines import StyleOnly, baseline_hits
from harness.scoring import score_pair_rows

COPIED_FIELDS = ("subset", "domain", "category", "label")  # copied into predictions: per-group metrics read them


def pair_metrics(suite: suites.Suite, ctx, rows: list[dict], dataset: str, split: str) -> suites.SuiteResult:
    """Accuracy (ties wrong), tie count and identical-after-truncation count, with per-example predictions."""
    identical, chosen, rejected = score_pair_rows(ctx, rows, f"{suite.name}: {dataset}/{split}")
    accuracy, ties = pairwise_accuracy(chosen, rejected)
    skipped = set(identical)
    kept = [(i, row) for i, row in enumerate(rows) if i not in skipped]
    predictions = [{"id": row.get("id", i), **{k: row[k] for k in COPIED_FIELDS if k in row},
                    "score_chosen": c, "score_rejected": r, "correct": c > r}
                   for (i, row), c, r in zip(kept, chosen.tolist(), rejected.tolist())]
    return suites.SuiteResult(
        metrics=[suite.row(dataset, split, "accuracy", accuracy),
                 suite.count(dataset, split, "ties", ties, accuracy.n),
                 suite.count(dataset, split, "identical_after_truncation", len(identical), len(rows))],
        predictions={f"{dataset}-{split}": predictions})


def pair_groups(rows: list[dict]) -> list[tuple[str, str, np.ndarray]]:
    """``(group, value, mask)`` of each non-empty group of world-v2 pairs (``harness.metric_keys.PAIR_GROUPS``)."""
    meta = [r["meta"] for r in rows]
    differ = np.array([m["pair_kind"] == "differ" for m in meta])
    out = [("kind", kind, np.array([m["pair_kind"] == kind for m in meta])) for kind in ("differ", "same")]
    out += [("shortcut", s, differ & np.array([m["shortcut"] == s for m in meta])) for s in ("aligned", "conflict")]
    out += [("differ_family", f, differ & np.array([m["family"] == f for m in meta]))
            for f in sorted({m["family"] for m in meta})]
    return [(g, v, mask) for g, v, mask in out if mask.any()]


def world_diagnostics(suite: suites.Suite, rows: list[dict], predictions: list[dict], dataset: str, split: str,
                      style) -> list:
    """Group accuracies of the RM and the null baselines' accuracies (overall and by group) on world-v2 pairs;
    pairs identical after truncation (absent from ``predictions``) are left out of all of them."""
    correct = {p["id"]: p["correct"] for p in predictions}
    kept = [r for r in rows if r["id"] in correct]
    if not kept or "pair_kind" not in kept[0].get("meta", {}):
        return []
    series = {"accuracy": np.array([correct[r["id"]] for r in kept], dtype=float)}
    series.update({null_metric(b): h for b, h in baseline_hits(kept, style).items()})
    groups = pair_groups(kept)
    out = []
    for metric, hits in series.items():
        estimate = proportion if metric == "accuracy" else mean_estimate  # baselines score 1/2 on a tie
        if metric != "accuracy":
            out.append(suite.row(dataset, split, metric, estimate(hits)))
        out += [suite.row(dataset, split, group_metric(metric, g, v), estimate(hits[mask])) for g, v, mask in groups]
    return out


def in_distribution_rows(ctx) -> tuple[list[dict], str]:
    """The in-distribution pairs and their dataset name: ``--data`` (named by its file stem as a safe file name, so
    predictions land in ``predictions/id/<name>-id.jsonl`` of the run, never beside the data), else the world's
    ``id`` split."""
    if ctx.data:
        if len(ctx.data) > 1:
            raise ConfigError(f"the id suite scores one pairs file, got --data {len(ctx.data)} times")
        return read_pair_source(ctx.data[0], "--data"), safe_name(source_stem(ctx.data[0]))
    if not ctx.on_world:
        raise ConfigError("the id suite needs --data PATH (held-out pairs) when training data is not the world")
    return world_splits(ctx.config.data.world)["id"], "world"


@suites.register
class InDistribution(suites.Suite):
    name = "id"
    version = "3"  # 2: a --data file is named by its safe file stem, not its path; 3: world v2's diagnostics
    summary = ("Strict pairwise accuracy (ties wrong) on in-distribution held-out pairs; on world v2 also "
               "shortcut_reversed, accuracy by pair kind / shortcut / family and the null baselines.")
    requires = frozenset({"held_out_pairs"})  # in_distribution_rows: --data, or the world's id split

    def run(self, ctx) -> suites.SuiteResult:
        rows, dataset = in_distribution_rows(ctx)
        result = pair_metrics(self, ctx, rows, dataset, "id")
        if ctx.data or not ctx.on_world or ctx.config.data.world.version == 1:
            return result
        style = StyleOnly(training_pairs(ctx.config.data, ctx.config.seed)[0])
        result.metrics += world_diagnostics(self, rows, result.predictions[f"{dataset}-id"], dataset, "id", style)
        reversed_rows = world_splits(ctx.config.data.world)["shortcut_reversed"]
        extra = pair_metrics(self, ctx, reversed_rows, dataset, "shortcut_reversed")
        result.metrics += extra.metrics + world_diagnostics(
            self, reversed_rows, extra.predictions[f"{dataset}-shortcut_reversed"], dataset, "shortcut_reversed",
            style)
        result.predictions.update(extra.predictions)
        return result
