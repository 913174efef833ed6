"""Out-of-distribution suite: real benchmarks, each scored as its official scorer does (formats in
``harness.data.formats``), given with ``--data FORMAT:PATH_OR_HUB_ID`` (repeatable or comma-separated).

Without ``--data`` it falls back to the world's OOD splits (dataset ``world-fallback``, with a printed note):
pairwise accuracy over every pair of a ranking's responses whose gold scores differ.
"""
from __future__ import annotations

from collections import defaultdict
from itertools import combinations

from harness import suites
from harness.data import formats, world_splits
from harness.metrics import pairwise_accuracy, rewardbench_scores
from harness.suites.id import pair_metrics
from harness.suites.splits import OOD_SPLITS
from harness.suites.style import style_metrics

FALLBACK = "world-fallback"


def _scored_subsets(suite: suites.Suite, ctx, rows: list[dict], dataset: str):
    """Accuracy over all pairs (split ``all``) and, when rows carry a ``subset``, per subset (ties wrong);
    returns the suite result and the per-subset estimates."""
    result = pair_metrics(suite, ctx, rows, dataset, "all")
    groups = defaultdict(list)
    for p in result.predictions[f"{dataset}-all"]:
        if "subset" in p:
            groups[p["subset"]].append(p)
    subset_accuracy = {}
    for subset in sorted(groups):
        accuracy, ties = pairwise_accuracy([p["score_chosen"] for p in groups[subset]],
                                           [p["score_rejected"] for p in groups[subset]])
        subset_accuracy[subset] = accuracy
        result.metrics += [suite.row(dataset, subset, "accuracy", accuracy),
                           suite.count(dataset, subset, "ties", ties, accuracy.n)]
    return result, subset_accuracy


def subset_pair_metrics(suite: suites.Suite, ctx, rows: list[dict], dataset: str) -> suites.SuiteResult:
    """Pairwise accuracy, overall and per subset (HHH-Alignment subsets; MT-Bench, Unified-Feedback, Skywork,
    HH-RLHF and generic data have none)."""
    return _scored_subsets(suite, ctx, rows, dataset)[0]


def rewardbench_metrics(suite: suites.Suite, ctx, rows: list[dict], dataset: str) -> suites.SuiteResult:
    """Per-subset accuracy, then section scores (Chat, Chat Hard, Safety, Reasoning[, Prior Sets]) and Score."""
    result, subset_accuracy = _scored_subsets(suite, ctx, rows, dataset)
    result.metrics += [suite.row(dataset, "overall" if name == "Score" else name, "score", estimate)
                       for name, estimate in rewardbench_scores(subset_accuracy).items()]
    return result


SCORERS = {"pairs": subset_pair_metrics, "rewardbench": rewardbench_metrics, "rmbench": style_metrics}


def ranking_pairs(rankings: list[dict]) -> list[dict]:
    """Every pair of a ranking's responses with distinct gold scores; chosen = the higher gold score."""
    rows = []
    for r in rankings:
        for i, j in combinations(range(len(r["responses"])), 2):
            if r["gold_scores"][i] != r["gold_scores"][j]:
                hi, lo = (i, j) if r["gold_scores"][i] > r["gold_scores"][j] else (j, i)
                rows.append({"id": f"{r['id']}-{hi}-{lo}", "prompt": r["prompt"], "chosen": r["responses"][hi],
                             "rejected": r["responses"][lo]})
    return rows


@suites.register
class OutOfDistribution(suites.Suite):
    name = "ood"
    summary = ("Real OOD benchmarks via --data FORMAT:PATH_OR_HUB_ID (RewardBench, RM-Bench, HHH, MT-Bench, "
               "Unified-Feedback, Skywork, HH-RLHF, generic); the world's OOD splits without it.")

    def run(self, ctx) -> suites.SuiteResult:
        if not ctx.data:
            return self.world_fallback(ctx)
        result = suites.SuiteResult()
        for spec in formats.parse_specs(ctx.data):
            loaded = formats.load(spec)
            part = SCORERS[formats.get(spec.format).kind](self, ctx, loaded.rows, spec.label)
            part.metrics += [self.count(spec.label, "all", name, count, count + len(loaded.rows))
                             for name, count in loaded.excluded.items()]
            result.metrics += part.metrics
            result.predictions.update(part.predictions)
        return result

    def world_fallback(self, ctx) -> suites.SuiteResult:
        from harness.progress import console

        console.print(f"[yellow]ood: no --data given: scoring the world's OOD splits as dataset {FALLBACK!r} "
                      f"(pass --data FORMAT:PATH for real benchmarks: {', '.join(formats.names())})",
                      markup=True, highlight=False)
        result = suites.SuiteResult()
        splits = world_splits(ctx.config.data.world)
        for split in OOD_SPLITS:
            part = pair_metrics(self, ctx, ranking_pairs(splits[split]), FALLBACK, split)
            result.metrics += part.metrics
            result.predictions.update(part.predictions)
        return result
