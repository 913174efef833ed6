"""In-distribution suite: strict pairwise accuracy on held-out pairs from the training distribution."""
from __future__ import annotations

from harness import suites
from harness.data import read_pair_source, world_splits
from harness.data.formats import source_stem
from harness.data.io import safe_name
from harness.errors import ConfigError
from harness.metrics import pairwise_accuracy
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
    version = "2"  # 2: a --data file is named by its safe file stem, not its path
    summary = "Strict pairwise accuracy (ties wrong) on in-distribution held-out pairs."
    requires = frozenset({"held_out_pairs"})  # in_distribution_rows: --data, or the world's id split

    def run(self, ctx) -> suites.SuiteResult:
        rows, dataset = in_distribution_rows(ctx)
        return pair_metrics(self, ctx, rows, dataset, "id")
