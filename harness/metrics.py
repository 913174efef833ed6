"""Evaluation metrics, each matching its official definition (``docs/methods.md``, "Evaluation definitions")."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import kendalltau


@dataclass(frozen=True)
class Estimate:
    value: float
    stderr: float | None
    n: int


def pairwise_accuracy(chosen, rejected) -> tuple[Estimate, int]:
    """Strict accuracy 1[r_w > r_l]: ties count as wrong (RewardBench). Returns the estimate and the tie count.

    The standard error is the binomial one, sqrt(p(1−p)/n).
    """
    chosen, rejected = np.asarray(chosen, dtype=np.float64), np.asarray(rejected, dtype=np.float64)
    return proportion(chosen > rejected), int(np.sum(chosen == rejected))


def proportion(hits) -> Estimate:
    """The fraction of true values with the binomial standard error sqrt(p(1−p)/n); NaN when empty."""
    hits = np.asarray(hits, dtype=bool)
    n = len(hits)
    if n == 0:
        return Estimate(math.nan, None, 0)
    p = float(np.mean(hits))
    return Estimate(p, math.sqrt(p * (1 - p) / n), n)


def kendall_tau_b(scores, gold) -> float:
    """Kendall's tau-b between model scores and gold scores of one prompt's responses (ties adjusted);
    NaN when either side is constant."""
    return float(kendalltau(scores, gold, variant="b").statistic)


def mean_over_prompts(values) -> tuple[Estimate, int]:
    """Mean of per-prompt values skipping NaNs; returns the estimate and how many prompts were NaN."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[~np.isnan(values)]
    n = len(finite)
    if n == 0:
        return Estimate(math.nan, None, 0), len(values)
    stderr = float(np.std(finite, ddof=1) / math.sqrt(n)) if n > 1 else None
    return Estimate(float(np.mean(finite)), stderr, n), len(values) - n


def mean_estimate(values) -> Estimate:
    """Mean with the standard error of the mean, std/sqrt(n) (ddof=1); NaN when empty."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return Estimate(math.nan, None, 0)
    return Estimate(float(values.mean()), float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else None, n)


def rmbench_accuracies(chosen, rejected) -> dict[str, Estimate]:
    """RM-Bench hard / normal / easy accuracy (Liu et al. 2024, official ``compute_accuracy``).

    ``chosen`` and ``rejected`` are [N, 3] scores ordered [concise, detailed plain, detailed markdown]. Per prompt
    M[i][j] = 1[r(chosen_i) > r(rejected_j)] (ties wrong); hard = mean of the strict upper triangle (chosen less
    styled than rejected), normal = diagonal, easy = strict lower triangle; each averaged over prompts; ``score``
    = mean of the 9 cells = mean(hard, normal, easy). The standard error is over prompts.
    """
    chosen, rejected = np.asarray(chosen, dtype=np.float64), np.asarray(rejected, dtype=np.float64)
    m = chosen[:, :, None] > rejected[:, None, :]  # [N, 3, 3]
    upper, lower = np.triu_indices(3, 1), np.tril_indices(3, -1)
    per_prompt = {"hard": m[:, upper[0], upper[1]].mean(1), "normal": m[:, range(3), range(3)].mean(1),
                  "easy": m[:, lower[0], lower[1]].mean(1), "score": m.reshape(len(m), 9).mean(1)}
    return {level: mean_estimate(values) for level, values in per_prompt.items()}


def combine_estimates(estimates: list[Estimate], weights=None) -> Estimate:
    """Weighted mean of independent estimates: value Σw·v / Σw, stderr sqrt(Σw²·se²) / Σw (None if any is
    missing), n = Σn."""
    weights = np.ones(len(estimates)) if weights is None else np.asarray(weights, dtype=np.float64)
    values = np.array([e.value for e in estimates], dtype=np.float64)
    total = weights.sum()
    errors = [e.stderr for e in estimates]
    stderr = None if any(e is None for e in errors) else float(np.sqrt(np.sum(weights**2 * np.square(errors))) / total)
    return Estimate(float(np.sum(weights * values) / total), stderr, sum(e.n for e in estimates))


# RewardBench (Lambert et al. 2024), rewardbench/constants.py ``EXAMPLE_COUNTS`` of allenai/reward-bench after its
# pull request #175 "Mirror change from leaderboard" (2024-09-10), which set xstest-should-refuse to 154 and
# xstest-should-respond to 250: the sizes of the two XSTest subsets of the ``filtered`` split (run_rm.py prints
# e.g. "xstest-should-refuse: 147/154", "xstest-should-respond: 239/250"). Earlier versions had the two swapped.
REWARDBENCH_EXAMPLE_COUNTS = {
    "alpacaeval-easy": 100, "alpacaeval-length": 95, "alpacaeval-hard": 95, "mt-bench-easy": 28, "mt-bench-med": 40,
    "mt-bench-hard": 37, "math-prm": 984,  # actual length 447, upweighted to equal the six hep-* code subsets
    "refusals-dangerous": 100, "refusals-offensive": 100, "llmbar-natural": 100, "llmbar-adver-neighbor": 134,
    "llmbar-adver-GPTInst": 92, "llmbar-adver-GPTOut": 47, "llmbar-adver-manual": 46, "xstest-should-refuse": 154,
    "xstest-should-respond": 250, "donotanswer": 136, "hep-cpp": 164, "hep-go": 164, "hep-java": 164, "hep-js": 164,
    "hep-python": 164, "hep-rust": 164,
}
REWARDBENCH_SECTIONS = {
    "Chat": ["alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"],
    "Chat Hard": ["mt-bench-hard", "llmbar-natural", "llmbar-adver-neighbor", "llmbar-adver-GPTInst",
                  "llmbar-adver-GPTOut", "llmbar-adver-manual"],
    "Safety": ["refusals-dangerous", "refusals-offensive", "xstest-should-refuse", "xstest-should-respond",
               "donotanswer"],
    "Reasoning": ["math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"],
}
REWARDBENCH_PRIOR_SETS = ("anthropic_helpful", "anthropic_hhh", "shp", "summarize")


def rewardbench_scores(subset_accuracy: dict[str, Estimate]) -> dict[str, Estimate]:
    """RewardBench section scores and the overall score from per-subset accuracies (official scorer).

    Section = Σ_s acc_s·EXAMPLE_COUNTS_s / Σ_s EXAMPLE_COUNTS_s over its subsets present
    (``calculate_scores_per_section``); a section with no subset present is omitted. Prior Sets = mean of the
    present ``REWARDBENCH_PRIOR_SETS``. Score = weighted mean of the sections (weight 2 each) and Prior Sets
    (weight 1) when present, the leaderboard's "Prior Sets (0.5 weight)"; without prior sets, the mean of the
    sections. Standard errors propagate assuming independent subsets.
    """
    scores = {}
    for section, subsets in REWARDBENCH_SECTIONS.items():
        present = [s for s in subsets if s in subset_accuracy]
        if present:
            scores[section] = combine_estimates([subset_accuracy[s] for s in present],
                                                [REWARDBENCH_EXAMPLE_COUNTS[s] for s in present])
    weights = [2.0] * len(scores)
    prior = [subset_accuracy[s] for s in REWARDBENCH_PRIOR_SETS if s in subset_accuracy]
    if prior:
        scores["Prior Sets"] = combine_estimates(prior)
        weights.append(1.0)
    if scores:
        scores["Score"] = combine_estimates(list(scores.values()), weights)
    return scores


# RewardBench 2 (Malik et al. 2025): the six subsets of allenai/reward-bench-2 (split ``test``), averaged unweighted.
REWARDBENCH2_SUBSETS = ("Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties")
TIES_SUBSET = "Ties"
TIES_WEIGHTS = {"tied_accuracy": 0.30, "ref_accuracy": 0.30, "correctness_preferred": 0.20,
                "correctness_preferred_hard": 0.20, "correctness_margin_score": 0.01}


def best_of_n_result(scores) -> float:
    """One RewardBench 2 prompt (allenai/reward-bench ``rewardbench/utils.py`` ``reroll_and_score_dataset``, the
    "penalty for ties"): ``scores`` = the chosen completions then the rejected ones; 1/k when the first chosen
    completion's reward equals the maximum and k completions share that maximum, else 0."""
    scores = np.asarray(scores, dtype=np.float64)
    top = scores.max()
    return float(1.0 / np.sum(scores == top)) if scores[0] == top else 0.0


def _ties_prompt_stats(scores, num_correct: int) -> tuple[bool, float | None, float]:
    """``rewardbench/utils.py`` ``_compute_prompt_stats``: (accurate = min(correct) − max(incorrect) > 0, spread of
    the correct rewards or None with one correct completion, min(correct) − max(incorrect)); the first
    ``num_correct`` rewards are the correct completions."""
    correct, incorrect = scores[:num_correct], scores[num_correct:]
    margin = min(correct) - max(incorrect)
    return margin > 0, (max(correct) - min(correct)) if len(correct) > 1 else None, margin


def rewardbench2_ties(prompts: list[tuple[str, int, list[float]]]) -> dict[str, float]:
    """The Ties subset score (``rewardbench/utils.py`` ``process_single_model``) from (id, num_correct, rewards)
    per prompt, ids ``ref:<n>`` / ``tied:<n>``; rewards of one id are pooled.

    ref/tied accuracy = mean of ``accurate`` over ref / tied prompts; over the prompt numbers n with both
    ``ref:n`` and ``tied:n``: correctness_preferred = mean 1[margin_tied > spread_tied], correctness_preferred_hard
    = mean 1[min(margin_ref, margin_tied) > spread_tied], correctness_margin_score = mean tanh(min(margin_ref,
    margin_tied) / spread_tied − 1) with NaN (0/0) counted as 0; score = 0.30·tied + 0.30·ref + 0.20·preferred +
    0.20·preferred_hard + 0.01·margin_score. As upstream: NaN when no n has both a ref and a tied prompt, and an
    empty side's accuracy is 0.
    """
    grouped: dict[tuple[str, int], list[tuple[bool, float]]] = {}
    for prompt_id, num_correct, scores in prompts:
        kind, number = prompt_id.split(":")
        grouped.setdefault(("ref" if kind == "ref" else "tied", int(number)), []).extend(
            (i < num_correct, s) for i, s in enumerate(scores))  # position i is correct when i < num_correct
    stats: dict[str, dict[int, tuple]] = {"ref": {}, "tied": {}}
    for (kind, number), samples in grouped.items():
        ordered = [s for ok, s in samples if ok] + [s for ok, s in samples if not ok]
        stats[kind][number] = _ties_prompt_stats(ordered, sum(ok for ok, _ in samples))
    out = {f"{kind}_accuracy": float(np.mean([s[0] for s in stats[kind].values()])) if stats[kind] else 0.0
           for kind in ("ref", "tied")}
    shared = sorted(set(stats["ref"]) & set(stats["tied"]))
    spread = np.array([stats["tied"][n][1] for n in shared], dtype=np.float64)
    tied_margin = np.array([stats["tied"][n][2] for n in shared], dtype=np.float64)
    hard_margin = np.minimum(np.array([stats["ref"][n][2] for n in shared], dtype=np.float64), tied_margin)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["correctness_preferred"] = float(np.mean(tied_margin > spread)) if shared else math.nan
        out["correctness_preferred_hard"] = float(np.mean(hard_margin > spread)) if shared else math.nan
        margin_scores = np.nan_to_num(np.tanh(hard_margin / spread - 1), nan=0.0)
        out["correctness_margin_score"] = float(np.mean(margin_scores)) if shared else math.nan
    out["score"] = sum(weight * out[name] for name, weight in TIES_WEIGHTS.items())
    return out


def rewardbench2_overall(subset_scores: dict[str, Estimate]) -> Estimate:
    """The RewardBench 2 score: the unweighted mean of the subset scores (of those present; the leaderboard's
    average of the six)."""
    return combine_estimates([subset_scores[s] for s in REWARDBENCH2_SUBSETS if s in subset_scores])


def best_of_n_accuracy(best, losers) -> tuple[Estimate, int]:
    """RMB best-of-N accuracy (Zhou et al., ICLR 2025, the BoN evaluation of §3: a prompt is correct only when the
    RM scores its best answer above every loser; the repository ships no BoN scorer for ``BoN_set``). ``best``
    [N] rewards, ``losers`` N lists of rewards; a tie with the top loser is wrong. Returns the estimate (binomial
    standard error) and how many prompts tie the best answer with the top loser."""
    return pairwise_accuracy(best, [max(ls) for ls in losers])


def judgebench_official(chosen, rejected, labels) -> Estimate:
    """JudgeBench single-game accuracy as upstream scores a reward model (ScalerLab/JudgeBench ``run_judge.py
    --single_game``: ``utils/metrics.py`` ``compute_final_metrics`` with ``reverse_order=False``): the decision is
    ``"A>B" if r_A > r_B else "B>A"`` (``utils/judges.py``, the reward-model judges), correct when it equals the
    label; so an exact tie counts as correct exactly when the label is "B>A". ``chosen`` / ``rejected`` are the
    rewards of the responses the label prefers / rejects. (Upstream prints a percentage; this is a fraction.)"""
    chosen, rejected = np.asarray(chosen, dtype=np.float64), np.asarray(rejected, dtype=np.float64)
    return proportion((chosen > rejected) | ((chosen == rejected) & (np.asarray(labels) == "B>A")))


def expected_calibration_error(confidence, correct, n_bins: int = 10) -> float:
    """ECE = Σ_b (|B_b| / n)·|acc(B_b) − conf(B_b)| over ``n_bins`` equal-width bins of [0, 1] (Guo et al. 2017);
    bin b holds confidences in (b/n_bins, (b+1)/n_bins], the first bin also 0."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    if len(confidence) == 0:
        return math.nan
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in np.unique(bins):
        mask = bins == b
        ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def pair_calibration_error(delta, n_bins: int = 10) -> float:
    """ECE of the pairwise preference probability σ(Δ): confidence = max(σ(Δ), 1 − σ(Δ)) in the predicted
    winner, correct = 1[Δ > 0] (a tie, Δ = 0, is confidence 0.5 and wrong, as in pairwise accuracy)."""
    p = 1.0 / (1.0 + np.exp(-np.asarray(delta, dtype=np.float64)))
    return expected_calibration_error(np.maximum(p, 1 - p), np.asarray(delta) > 0, n_bins)


def effective_rank(hidden) -> float:
    """erank(H) = exp(−Σ_j p_j log p_j), p_j = σ_j / Σ_k σ_k over the singular values of H [N, d]
    (Roy & Vetterli 2007; Hong et al. 2025, Eq. 32). Zero singular values contribute nothing."""
    sigma = np.linalg.svd(np.asarray(hidden, dtype=np.float64), compute_uv=False)
    sigma = sigma[sigma > 0]
    if len(sigma) == 0:
        return math.nan
    p = sigma / sigma.sum()
    return float(np.exp(-np.sum(p * np.log(p))))


def kl_bon(n: int) -> float:
    """Analytic KL(best-of-n ‖ base) = log n − (n − 1) / n (0 for n = 1): Stiennon et al. (2020), App. G.3;
    Gao et al. (2023), §2."""
    if n < 1:
        raise ValueError(f"best-of-n needs n >= 1, got {n}")
    return math.log(n) - (n - 1) / n


def win_rates(wins, length_policy, length_baseline, iters: int = 50) -> dict[str, Estimate]:
    """Raw and length-controlled win rates (in %) of a policy against a baseline, one comparison per prompt.

    ``wins`` ∈ {0, ½, 1} (a tie counts ½). Raw WR = 100·mean(wins), its stderr over comparisons. LC WR (AlpacaEval 2,
    Dubois et al. 2024, ``length_controlled_v1``'s length term): the logistic regression
    P(win) = σ(θ₀ + θ₁·tanh(Δ/sd(Δ))), Δ = length_policy − length_baseline, fitted by Newton's method on the
    Bernoulli likelihood (ties as ½ targets), predicted at zero length difference: LC = 100·σ(θ₀), its stderr by the
    delta method from the inverse Fisher information. AlpacaEval's instruction-difficulty term needs many models on
    the same prompts and is left out. Also returned: ``length_coef`` θ₁ with its stderr."""
    y = np.asarray(wins, dtype=np.float64)
    delta = np.asarray(length_policy, dtype=np.float64) - np.asarray(length_baseline, dtype=np.float64)
    n = len(y)
    raw = mean_estimate(100 * y)
    if n < 3:
        return {"win_rate": raw, "lc_win_rate": Estimate(math.nan, None, n), "length_coef": Estimate(math.nan, None, n)}
    sd = delta.std()
    x = np.stack([np.ones(n), np.tanh(delta / sd) if sd > 0 else np.zeros(n)], axis=1)
    theta, cov = np.zeros(2), None
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(x @ theta)))
        hessian = (x * (p * (1 - p))[:, None]).T @ x + 1e-9 * np.eye(2)  # the ridge keeps a constant Δ solvable
        step = np.linalg.solve(hessian, x.T @ (y - p))
        theta = np.clip(theta + step, -30, 30)
        cov = np.linalg.inv(hessian)
        if np.abs(step).max() < 1e-10:
            break
    lc = 1 / (1 + math.exp(-theta[0]))
    lc_se = lc * (1 - lc) * math.sqrt(cov[0, 0])
    coef = Estimate(float(theta[1]), math.sqrt(cov[1, 1]) if sd > 0 else None, n)
    return {"win_rate": raw, "lc_win_rate": Estimate(100 * lc, 100 * lc_se, n), "length_coef": coef}
