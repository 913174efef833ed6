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
from harness.metrics import (REWARDBENCH2_SUBSETS, TIES_SUBSET, Estimate, best_of_n_accuracy, best_of_n_result,
                             combine_estimates, judgebench_official, mean_estimate, pairwise_accuracy,
                             rewardbench2_overall, rewardbench2_ties, rewardbench_scores)
from harness.progress import console
from harness.scoring import score_response_lists
from harness.suites.id import pair_metrics
from harness.suites.splits import OOD_SPLITS
from harness.suites.style import style_metrics

FALLBACK = "world-fallback"


def _scored_subsets(suite: suites.Suite, ctx, rows: list[dict], dataset: str, split: str = "all",
                    key: str = "subset"):
    """Accuracy over all pairs (split ``split``) and, when rows carry ``key``, per value of it (ties wrong);
    returns the suite result and the per-group estimates."""
    result = pair_metrics(suite, ctx, rows, dataset, split)
    groups = defaultdict(list)
    for p in result.predictions[f"{dataset}-{split}"]:
        if key in p:
            groups[p[key]].append(p)
    accuracy_of = {}
    for group in sorted(groups):
        accuracy, ties = pairwise_accuracy([p["score_chosen"] for p in groups[group]],
                                           [p["score_rejected"] for p in groups[group]])
        accuracy_of[group] = accuracy
        result.metrics += [suite.row(dataset, group, "accuracy", accuracy),
                           suite.count(dataset, group, "ties", ties, accuracy.n)]
    return result, accuracy_of


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


def _scored_lists(suite: suites.Suite, ctx, rows: list[dict], dataset: str, split: str):
    """Rewards of each row's ``chosen + rejected`` responses, and the count row of the prompts where two of them
    are identical after truncation (scored all the same: equal rewards are a tie, as the official rules treat
    them)."""
    scores, identical = score_response_lists(ctx, [r["prompt"] for r in rows], [r["chosen"] + r["rejected"]
                                                                                for r in rows],
                                             f"{suite.name}: {dataset}/{split}", with_identical=True)
    return scores, suite.count(dataset, split, "identical_after_truncation", len(identical), len(rows))


def _top_tied(scores: list[float]) -> bool:
    return sum(s == max(scores) for s in scores) > 1


def rewardbench2_metrics(suite: suites.Suite, ctx, rows: list[dict], dataset: str) -> suites.SuiteResult:
    """RewardBench 2 as allenai/reward-bench ``scripts/run_v2.py`` scores it: per subset the mean of
    :func:`~harness.metrics.best_of_n_result` (the 1/k rule), the Ties subset by
    :func:`~harness.metrics.rewardbench2_ties` (``process_single_model``, its five terms reported too); split
    ``overall``: the unweighted mean of the subsets. ``ties`` counts the prompts whose top reward is shared."""
    scores, identical = _scored_lists(suite, ctx, rows, dataset, "all")
    by_subset = defaultdict(list)
    for row, s in zip(rows, scores):
        by_subset[row["subset"]].append((row, s))
    result, subset_score = suites.SuiteResult(metrics=[identical]), {}
    for subset in (s for s in REWARDBENCH2_SUBSETS if s in by_subset):
        items = by_subset[subset]
        if subset == TIES_SUBSET:
            parts = rewardbench2_ties([(row["id"], row["num_correct"], s) for row, s in items])
            subset_score[subset] = Estimate(parts.pop("score"), None, len(items))
            result.metrics += [suite.row(dataset, subset, name, Estimate(value, None, len(items)))
                               for name, value in parts.items()]
        else:
            subset_score[subset] = mean_estimate([best_of_n_result(s) for _, s in items])
        result.metrics += [suite.row(dataset, subset, "score", subset_score[subset]),
                           suite.count(dataset, subset, "ties", sum(_top_tied(s) for _, s in items), len(items))]
    result.metrics.append(suite.row(dataset, "overall", "score", rewardbench2_overall(subset_score)))
    result.predictions[f"{dataset}-all"] = [
        {"id": row["id"], "subset": row["subset"], "num_correct": row["num_correct"], "scores": s,
         "result": None if row["subset"] == TIES_SUBSET else best_of_n_result(s)} for row, s in zip(rows, scores)]
    return result


def rmb_metrics(suite: suites.Suite, ctx, rows: list[dict], dataset: str) -> suites.SuiteResult:
    """RMB: pairwise accuracy (strict, as ``eval/scripts/my_run_rm.py``: 1[r_chosen > r_rejected], pooled) and
    best-of-N accuracy (:func:`~harness.metrics.best_of_n_accuracy`), each pooled over the set (split ``pairwise``
    / ``bon``, metric ``accuracy``), per ``category_path`` (split = the path) and as the unweighted mean over
    categories (``accuracy_macro``, as the paper's table averages its subsets)."""
    result = suites.SuiteResult()
    pairs, bon = ([r for r in rows if r["set"] == kind] for kind in ("pairwise", "bon"))
    if pairs:
        part, by_category = _scored_subsets(suite, ctx, pairs, dataset, "pairwise", key="category")
        part.metrics.append(suite.row(dataset, "pairwise", "accuracy_macro",
                                      combine_estimates(list(by_category.values()))))
        result.metrics += part.metrics
        result.predictions.update(part.predictions)
    if bon:
        scores, identical = _scored_lists(suite, ctx, bon, dataset, "bon")
        result.metrics.append(identical)
        by_category = defaultdict(list)
        for row, s in zip(bon, scores):
            by_category[row["category"]].append(s)
        accuracy_of = {}
        for split, group in [("bon", scores), *sorted(by_category.items())]:
            accuracy, ties = best_of_n_accuracy([s[0] for s in group], [s[1:] for s in group])
            accuracy_of[split] = accuracy
            result.metrics += [suite.row(dataset, split, "accuracy", accuracy),
                               suite.count(dataset, split, "ties", ties, accuracy.n)]
        result.metrics.append(suite.row(dataset, "bon", "accuracy_macro",
                                        combine_estimates([accuracy_of[c] for c in by_category])))
        result.predictions[f"{dataset}-bon"] = [
            {"id": row["id"], "category": row["category"], "score_best": s[0], "score_losers": s[1:],
             "correct": s[0] > max(s[1:])} for row, s in zip(bon, scores)]
    return result


def judgebench_metrics(suite: suites.Suite, ctx, rows: list[dict], dataset: str) -> suites.SuiteResult:
    """JudgeBench: single-game accuracy with ties wrong (``accuracy``) and counted (``ties``), and upstream's
    number with ties sent to B (``accuracy_official``, :func:`~harness.metrics.judgebench_official`); overall
    (split ``all``) and per category (knowledge, reasoning, math, coding)."""
    result, _ = _scored_subsets(suite, ctx, rows, dataset, "all", key="category")
    predictions = result.predictions[f"{dataset}-all"]
    groups = defaultdict(list)
    for p in predictions:
        groups["all"].append(p)
        groups[p["category"]].append(p)
    result.metrics += [suite.row(dataset, split, "accuracy_official", judgebench_official(
        [p["score_chosen"] for p in group], [p["score_rejected"] for p in group], [p["label"] for p in group]))
        for split, group in sorted(groups.items())]
    return result


SCORERS = {"pairs": subset_pair_metrics, "rewardbench": rewardbench_metrics, "rmbench": style_metrics,
           "rewardbench2": rewardbench2_metrics, "rmb": rmb_metrics, "judgebench": judgebench_metrics}


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
    # 2: RewardBench xstest weights 154 / 250; HH-RLHF empty turns skipped and counted; RewardBench 2, RMB, JudgeBench
    version = "2"
    summary = ("Real OOD benchmarks via --data FORMAT:PATH_OR_HUB_ID (RewardBench, RewardBench 2, RM-Bench, RMB, "
               "JudgeBench, HHH, MT-Bench, Unified-Feedback, Skywork, HH-RLHF, generic); the world's OOD splits "
               "without it.")

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
