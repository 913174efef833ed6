"""Generalisation splits (Hong et al. 2025, BSR Table 5): in-domain accuracy and, for prompt-, response- and
mutual-OOD, Kendall tau-b between RM scores and gold scores of the 4 responses per prompt, averaged over prompts."""
from __future__ import annotations

from harness import suites
from harness.data import world_splits
from harness.metrics import kendall_tau_b, mean_over_prompts
from harness.scoring import score_response_lists
from harness.suites.id import in_distribution_rows, pair_metrics

OOD_SPLITS = ("prompt_ood", "response_ood", "mutual_ood")


@suites.register
class GeneralisationSplits(suites.Suite):
    name = "splits"
    version = "2"  # 2: a --data file is named by its safe file stem, not its path
    summary = "In-domain accuracy + prompt/response/mutual-OOD Kendall tau-b against the gold reward."
    requires = frozenset({"held_out_pairs"})  # in_distribution_rows: --data, or the world's id split

    def run(self, ctx) -> suites.SuiteResult:
        rows, dataset = in_distribution_rows(ctx)
        result = pair_metrics(self, ctx, rows, dataset, "id")
        splits = world_splits(ctx.config.data.world)
        for split in OOD_SPLITS:
            ranking = splits[split]
            scores = score_response_lists(ctx, [r["prompt"] for r in ranking], [r["responses"] for r in ranking],
                                          f"splits: {split}")
            taus = [kendall_tau_b(s, r["gold_scores"]) for s, r in zip(scores, ranking)]
            tau, undefined = mean_over_prompts(taus)
            result.metrics += [self.row("world", split, "kendall_tau_b", tau),
                               self.count("world", split, "tau_undefined_prompts", undefined, len(ranking))]
            result.predictions[f"world-{split}"] = [
                {"id": r["id"], "scores": s, "gold_scores": r["gold_scores"], "kendall_tau_b": t if t == t else None}
                for r, s, t in zip(ranking, scores, taus)]
        return result
