"""Style-robustness suite (RM-Bench, Liu et al. 2024): hard / normal / easy accuracy of the 3×3 style matrix
on the world's style triplets, per domain and overall (mean over domains)."""
from __future__ import annotations

from collections import defaultdict

from harness import suites
from harness.data import world_splits
from harness.metrics import combine_estimates, rmbench_accuracies
from harness.scoring import score_response_lists

LEVELS = ("hard", "normal", "easy", "score")


def style_metrics(suite: suites.Suite, ctx, rows: list[dict], dataset: str) -> suites.SuiteResult:
    """RM-Bench metrics of style rows ``{prompt, chosen[3], rejected[3], domain}``.

    Per domain: ``hard_accuracy`` / ``normal_accuracy`` / ``easy_accuracy`` and ``score`` = their mean; split
    ``overall``: each of them averaged over domains (the official RM-Bench "Avg" is the mean of domain scores).
    """
    scores = score_response_lists(ctx, [r["prompt"] for r in rows], [r["chosen"] + r["rejected"] for r in rows],
                                  f"{suite.name}: {dataset}")
    by_domain = defaultdict(list)
    for row, s in zip(rows, scores):
        by_domain[row["domain"]].append(s)
    result = suites.SuiteResult()
    per_domain = {}
    for domain in sorted(by_domain):
        triples = by_domain[domain]
        per_domain[domain] = rmbench_accuracies([s[:3] for s in triples], [s[3:] for s in triples])
        result.metrics += [suite.row(dataset, domain, _metric(level), per_domain[domain][level]) for level in LEVELS]
    result.metrics += [suite.row(dataset, "overall", _metric(level),
                                 combine_estimates([per_domain[d][level] for d in per_domain])) for level in LEVELS]
    result.predictions[f"{dataset}-style"] = [
        {"id": row["id"], "domain": row["domain"], "score_chosen": s[:3], "score_rejected": s[3:]}
        for row, s in zip(rows, scores)]
    return result


def _metric(level: str) -> str:
    return level if level == "score" else f"{level}_accuracy"


@suites.register
class Style(suites.Suite):
    name = "style"
    summary = "RM-Bench hard/normal/easy accuracy on the world's concise/detailed/markdown style triplets."

    def run(self, ctx) -> suites.SuiteResult:
        return style_metrics(self, ctx, world_splits(ctx.config.data.world)["style"], "world")
