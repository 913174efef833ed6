"""How much of a paired difference's variance is evaluation noise and how much is seed (docs/leaderboards.md).

The paired runs of a claim score the same evaluation items, so their per-item results form a seeds × items matrix
X[s, i] = y_A[s, i] − y_B[s, i] (for pairwise accuracy y is 1 when the pair is ranked right, else 0). The two-way
crossed random-effects model of generalizability theory (Cronbach et al. 1972; Brennan 2001, *Generalizability
Theory*, ch. 3, the p × i design) writes it as

    X[s, i] = μ + a_s + b_i + e_si,   Var a = σ²_seed, Var b = σ²_item, Var e = σ²_res,

and estimates the components from the ANOVA mean squares (Brennan 2001, eq. 3.17–3.19):

    MS_seed = N · var_s(d_s),   MS_item = S · var_i(x̄_i),
    MS_res  = Σ (X − d_s − x̄_i + X̄)² / ((S − 1)(N − 1)),
    σ̂²_res = MS_res,   σ̂²_seed = (MS_seed − MS_res) / N,   σ̂²_item = (MS_item − MS_res) / S,

with d_s the per-seed difference (row mean) and x̄_i the per-item mean over seeds. The paired t-test of the claims
table uses var_s(d_s), whose expectation is σ²_seed + σ²_res / N: the first term is the seed-to-seed spread of the
methods' difference (only more seeds shrink it), the second is evaluation noise (which more pairs shrink as well).
``eval_share`` = (σ̂²_res / N) / (σ̂²_seed + σ̂²_res / N). σ²_item is the spread of the items' difficulty gaps, common to all seeds
and so not part of the paired test's SE. Negative estimates of the seed component are truncated at zero (the
usual convention; Brennan 2001, §3.4.4).

:func:`projected_se` gives the SE a design of ``seeds`` seeds and ``pairs`` items would have from these estimates:
sqrt((σ²_seed + σ²_res / pairs) / seeds).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from harness.layout import PREDICTIONS_DIR


@dataclass(frozen=True)
class VarianceSplit:
    """Estimated variance components of a paired difference (module docstring); ``seeds``, ``items`` = S, N."""

    seeds: int
    items: int
    seed_var: float  # σ̂²_seed (≥ 0)
    residual_var: float  # σ̂²_res: per-item noise, of which var_s(d_s) holds σ²_res / N
    item_var: float  # σ̂²_item (may be negative: an unbiased estimate, not truncated)
    observed_var: float  # var_s(d_s), the sample variance the paired t-test uses

    @property
    def eval_var(self) -> float:
        """The evaluation-noise part of var_s(d_s): σ̂²_res / N."""
        return self.residual_var / self.items

    @property
    def eval_share(self) -> float:
        """The share of var_s(d_s) that is evaluation noise (clipped to [0, 1]); the rest is seed."""
        total = self.seed_var + self.eval_var
        return 0.0 if total <= 0 else min(1.0, self.eval_var / total)

    def projected_se(self, seeds: int, pairs: int) -> float:
        """The paired SE of a design with ``seeds`` seeds and ``pairs`` evaluation items, from these components."""
        return math.sqrt((self.seed_var + self.residual_var / pairs) / seeds)


def variance_split(matrix: list[list[float]]) -> VarianceSplit | None:
    """The p × i ANOVA estimates (module docstring) of a seeds × items matrix of per-item differences; None with
    fewer than 2 seeds or 2 items."""
    s = len(matrix)
    n = len(matrix[0]) if s else 0
    if s < 2 or n < 2 or any(len(row) != n for row in matrix):
        return None
    row_means = [sum(row) / n for row in matrix]
    col_means = [sum(row[i] for row in matrix) / s for i in range(n)]
    grand = sum(row_means) / s
    ms_seed = n * sum((r - grand) ** 2 for r in row_means) / (s - 1)
    ms_item = s * sum((c - grand) ** 2 for c in col_means) / (n - 1)
    ss_res = sum((x - row_means[k] - col_means[i] + grand) ** 2
                 for k, row in enumerate(matrix) for i, x in enumerate(row))
    ms_res = ss_res / ((s - 1) * (n - 1))
    return VarianceSplit(seeds=s, items=n, seed_var=max(0.0, (ms_seed - ms_res) / n), residual_var=ms_res,
                         item_var=(ms_item - ms_res) / s, observed_var=ms_seed / n)


def read_outcomes(path: Path) -> dict[str, float] | None:
    """item id → 1.0 / 0.0 (``correct``) from a pairwise predictions file (``predictions/<suite>/<name>.jsonl``);
    None when the file is missing, unreadable or has no ``correct`` field."""
    try:
        rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError):
        return None
    if not rows or not all(isinstance(r, dict) and "correct" in r for r in rows):
        return None
    return {str(r.get("id", k)): float(bool(r["correct"])) for k, r in enumerate(rows)}


def paired_matrix(pairs: list[tuple[dict[str, float], dict[str, float]]]) -> list[list[float]]:
    """Per seed (method outcomes, baseline outcomes) → the seeds × items matrix of differences over the items every
    run scored (in a fixed order)."""
    common = set.intersection(*(set(a) & set(b) for a, b in pairs)) if pairs else set()
    items = sorted(common)
    return [[a[i] - b[i] for i in items] for a, b in pairs]


def predictions_file(runs_dir: Path, row: dict) -> Path:
    """The per-pair predictions of a metric row (a :func:`leaderboards.queries.facts` row) under ``runs_dir``."""
    return Path(runs_dir) / row["run_id"] / PREDICTIONS_DIR / row["suite"] / f"{row['dataset']}-{row['split']}.jsonl"
