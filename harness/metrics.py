"""Evaluation metrics, each matching its official definition (METHODS.md "Evaluation definitions")."""
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
    n = len(chosen)
    if n == 0:
        return Estimate(math.nan, None, 0), 0
    p = float(np.mean(chosen > rejected))
    return Estimate(p, math.sqrt(p * (1 - p) / n), n), int(np.sum(chosen == rejected))


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
