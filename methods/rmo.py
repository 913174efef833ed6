"""RMO — reward margin optimisation (Ru et al., AAAI 2026), applied to reward-model training.

A two-stage run. Stage 1: the context trains (or reuses) a ``bt`` proxy RM on the full training set, as its own run
in the same runs directory. Stage 2 trains the RM with three switchable components, all driven by margins δ:

* δ_proxy = Δ of the proxy RM on each training pair (``MethodContext.proxy_margins``; a column of the data);
* δ_base = the starting model's margin (``MethodContext.base_margins``): logπ_base(y_w|x) − logπ_base(y_l|x) (raw
  summed response log-prob gap, as the official code does) for a causal backbone, the freshly built RM's Δ (seeded
  head) for an encoder.

``margin_scale`` (``docs/methods.md``, RMO): the two are on different scales for a causal backbone (a log-prob gap of
±100 against an RM Δ of ±2, so Eq. 6 would almost never fire), whereas the paper's are both DPO margins. By default
(``standardized``) each is divided by its std over the training set, without centring, before Eq. 6 and Eq. 8
(so γ and τ are in units of that std); ``raw`` keeps the literal comparison. δ̃ and the batches use raw δ_proxy.

1. ``filter`` — dual denoising (Eq. 6–8): drop {i : δ_base,i < 0 ∧ δ_proxy,i < δ_base,i} (Eq. 6), then keep each
   remaining row with probability P_i = ½·[1 − tanh((|δ_proxy,i| − τ)/γ)] (Eq. 8), τ solved by bisection so that the
   expected total filter ratio equals ``filter_ratio``. Note: Eq. 8 drops LARGE |margins| whereas the paper's prose
   says small margins are down-sampled; the official code also drops large |margin| (keeps margins in [−10, 10]).
   We implement Eq. 8 as written.
2. ``diversify`` — batch margin diversification (Alg. 1), see :class:`MarginDiversifiedBatches`.
3. ``amplify`` — pairwise margin amplification (Eq. 14–15): L = L_BT + λ_reg·mean_i σ((δ̃ − Δ_i)/α), δ̃ = median of
   the proxy margins of the training rows. The paper's α = 125 scales summed log-prob DPO margins; RM rewards are
   O(1), so α = 1.0 here.

What the hooks did lands in result.json under ``train.rmo``: the proxy run id, the margin scale and both margins'
std, the filter's removed counts and realised ratio, δ̃, and the summed within-batch margin variance of random, stratified and optimised partitions
(cf. RMO Table 3).
"""
from __future__ import annotations

import dataclasses
import math
from collections import deque
from typing import Literal

import numpy as np
import torch

import methods
from harness.data.encode import EncodedPairs
from harness.domains import setting
from harness.errors import TrainingError
from harness.method import MethodContext, RewardMethod
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods._common import bt_loss, with_metrics


@methods.register
class RMO(RewardMethod):
    name = "rmo"
    paper = "Ru et al., AAAI 2026, RMO: Eq. 6-8 (filter), Alg. 1 (batches), Eq. 14-15 (amplification)"
    summary = "Proxy-RM margins: dual denoising filter, margin-diverse batches, median-margin amplification."
    version = "2"  # 2: margin_scale (standardized by default); the filter sees the trainer's filtered pairs

    @dataclasses.dataclass
    class Config:
        filter: bool = True  # dual denoising filter (Eq. 6 + Eq. 8)
        diversify: bool = True  # batch margin diversification (Alg. 1)
        amplify: bool = True  # pairwise margin amplification (Eq. 14-15)
        filter_ratio: float = setting(0.06, ge=0, lt=1)  # target expected fraction of rows removed (paper: 2-10 %)
        gamma: float = setting(1.0, gt=0)  # temperature γ of Eq. 8 (in units of the std of δ_proxy when standardized)
        margin_scale: Literal["standardized", "raw"] = "standardized"  # margins as Eq. 6 and Eq. 8 compare them
        lambda_reg: float = setting(2.0, ge=0)  # λ_reg of Eq. 15
        alpha: float = setting(1.0, gt=0)  # α of Eq. 14 (the paper's 125 is for summed log-prob DPO margins)
        swap_patience: int = setting(50, ge=1)  # k: accepted swaps over which the improvement is measured (Alg. 1)
        swap_epsilon: float = setting(1e-3, ge=0)  # ε: stop when that improvement is below 0.1 %
        max_swap_trials: int = setting(20, ge=1)  # per training row: a hard cap on swap proposals per epoch

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self.target_margin = 0.0  # δ̃: the median proxy margin of the training rows, set by prepare_dataset
        self.proxy: tuple[str, dict] = ("bt", {})  # the proxy's (method, method config): a bt RM here

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        delta = out.chosen - out.rejected
        loss = bt_loss(delta).mean()
        if not self.config.amplify:
            return with_metrics(loss, out)
        reg = torch.sigmoid((self.target_margin - delta) / self.config.alpha).mean()
        return with_metrics(loss + self.config.lambda_reg * reg, out, amplification=reg)

    # -- stage 1 and the filter --------------------------------------------------------------------------------
    def prepare_dataset(self, data: EncodedPairs, ctx: MethodContext) -> tuple[EncodedPairs, dict]:
        """Stage 1 (δ_proxy of the context's proxy, ``bt`` here, kept as column ``delta_proxy``), the filter, and
        δ̃."""
        c = self.config
        if not (c.filter or c.diversify or c.amplify):
            return data, {}
        proxy = ctx.proxy_margins(*self.proxy)
        data = data.with_column("delta_proxy", proxy.margins)
        stats = {"proxy_run_id": proxy.run_id, "margin_scale": c.margin_scale,
                 "delta_proxy_std": float(np.std(proxy.margins))}
        if c.filter:
            delta_base = ctx.base_margins()
            stats["delta_base_std"] = float(np.std(delta_base))
            keep, filter_stats = dual_filter(scale_margins(delta_base, c.margin_scale, "δ_base"),
                                             scale_margins(proxy.margins, c.margin_scale, "δ_proxy"),
                                             c.filter_ratio, c.gamma, ctx.seed)
            stats.update(filter_stats)
            data = data.subset(keep.tolist())
        margins = data.columns["delta_proxy"]
        self.target_margin = float(np.median(margins)) if margins else 0.0
        stats["target_margin"] = self.target_margin
        return data, stats

    # -- batch margin diversification --------------------------------------------------------------------------
    def batch_sampler(self, data: EncodedPairs, ctx: MethodContext):
        if not self.config.diversify:
            return None, {}
        if "delta_proxy" not in data.columns:
            raise TrainingError("rmo: batch_sampler needs the delta_proxy column that prepare_dataset adds")
        c = self.config
        sampler = MarginDiversifiedBatches(data.columns["delta_proxy"], ctx.config.train.batch_size, ctx.seed,
                                           c.swap_patience, c.swap_epsilon, c.max_swap_trials)
        return sampler, {"batch_variance": sampler.variance_report()}


# -- margin scale (docs/methods.md, RMO) ---------------------------------------------------------------------------
def scale_margins(margins: np.ndarray, scale: str, name: str) -> np.ndarray:
    """``standardized``: each margin divided by the (population) std of the margins over the training set, with no
    centring, so that signs keep their meaning and δ_base (a summed log-prob gap for a causal backbone, ±100) and
    δ_proxy (an RM Δ, ±2) are compared on one scale in Eq. 6; ``raw``: unchanged (the literal comparison)."""
    if scale == "raw":
        return margins
    std = float(np.std(margins))
    if not std > 0:
        raise TrainingError(f"rmo: margin_scale=standardized divides by the std of {name}, but {name} is the same "
                            f"on all {len(margins)} training pairs; set method_config.margin_scale=raw")
    return margins / std


# -- dual denoising filter (Eq. 6-8) -----------------------------------------------------------------------------
def keep_probability(abs_margin: np.ndarray, tau: float, gamma: float) -> np.ndarray:
    """Eq. 8: P = ½·[1 − tanh((|δ| − τ)/γ)]."""
    return 0.5 * (1.0 - np.tanh((abs_margin - tau) / gamma))


def solve_tau(abs_margin: np.ndarray, n_remove: float, gamma: float, iters: int = 200) -> float:
    """τ such that the expected number of rows Eq. 8 removes, Σ(1 − P_i), equals ``n_remove`` (bisection; the
    expectation falls monotonically as τ grows)."""
    lo, hi = float(abs_margin.min()) - 40 * gamma, float(abs_margin.max()) + 40 * gamma
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if (1.0 - keep_probability(abs_margin, mid, gamma)).sum() > n_remove:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def dual_filter(delta_base: np.ndarray, delta_proxy: np.ndarray, ratio: float, gamma: float,
                seed: int) -> tuple[np.ndarray, dict]:
    """Indices kept by Eq. 6 then seeded Eq. 8 sampling, and what was removed.

    τ targets an expected total ratio of ``ratio``: Eq. 8 removes ratio·N − |Eq. 6| rows in expectation (nothing
    when Eq. 6 alone reaches the target).
    """
    n = len(delta_proxy)
    noisy = (delta_base < 0) & (delta_proxy < delta_base)  # Eq. 6
    rest = np.flatnonzero(~noisy)
    n_remove = max(ratio * n - int(noisy.sum()), 0.0)
    stats = {"filter_target_ratio": ratio, "removed_counterintuitive": int(noisy.sum())}
    if n_remove > 0 and len(rest):
        tau = solve_tau(np.abs(delta_proxy[rest]), n_remove, gamma)
        p = keep_probability(np.abs(delta_proxy[rest]), tau, gamma)
        kept = rest[np.random.default_rng(seed).random(len(rest)) < p]
        stats.update(filter_tau=tau, filter_expected_ratio=(int(noisy.sum()) + float((1 - p).sum())) / n)
    else:
        kept = rest
    stats.update(removed_sampled=len(rest) - len(kept), filter_ratio=(n - len(kept)) / n if n else 0.0)
    return kept, stats


# -- batch margin diversification (Alg. 1) -----------------------------------------------------------------------
def summed_variance(margins: np.ndarray, batches: list[list[int]]) -> float:
    """Σ_j Var(δ in B_j) (population variance): the quantity Alg. 1 maximises."""
    return float(sum(margins[b].var() for b in batches if len(b)))


class MarginDiversifiedBatches:
    """Global batches with diverse margins (RMO Alg. 1), re-partitioned every epoch from (seed, epoch).

    With N rows and batch size B there are n = ⌈N/B⌉ batches; the stratified start B_j = {δ_(j+kn)} (δ sorted) gives
    them ⌊N/n⌋ or ⌈N/n⌉ rows each (≤ B), so no row is dropped and there is no lone short tail (the official code
    drops the tail). Random swaps between two batches keep the sizes and are accepted iff Σ_j Var(B_j) increases;
    the search stops when the last ``patience`` accepted swaps improved it by less than ``epsilon`` (relative), or
    after ``max_trials``·N proposals. Each swap is scored in O(1) from per-batch sums and sums of squares. The batch
    order is shuffled; every row appears exactly once per epoch, and the trainer's ``split_global_batch`` keeps each
    global batch intact across processes and accumulation steps.
    """

    def __init__(self, margins, batch_size: int, seed: int, patience: int = 50, epsilon: float = 1e-3,
                 max_trials: int = 20):
        self.margins = np.asarray(margins, dtype=np.float64)
        self.n_batches = max(math.ceil(len(self.margins) / batch_size), 1)
        self.seed, self.patience, self.epsilon, self.max_trials = seed, patience, epsilon, max_trials
        self._cached: tuple[int, list[list[int]], dict] | None = None

    def stratified(self) -> list[list[int]]:
        order = np.argsort(self.margins, kind="stable")
        return [order[j:: self.n_batches].tolist() for j in range(self.n_batches)]

    def batches(self, epoch: int) -> list[list[int]]:
        return self._partition(epoch)[0]

    def variance_report(self, epoch: int = 0) -> dict:
        """Σ_j Var(B_j) of a random partition (same sizes), the stratified start and the optimised partition."""
        rng = np.random.default_rng([self.seed, epoch, 1])
        shuffled = rng.permutation(len(self.margins))
        sizes = np.cumsum([len(b) for b in self.stratified()])[:-1]
        random_batches = [b.tolist() for b in np.split(shuffled, sizes)]
        _, info = self._partition(epoch)
        return {"random": summed_variance(self.margins, random_batches),
                "stratified": summed_variance(self.margins, self.stratified()), **info}

    def _partition(self, epoch: int) -> tuple[list[list[int]], dict]:
        if self._cached is None or self._cached[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            batches, info = self._optimise(rng)
            self._cached = (epoch, [batches[j] for j in rng.permutation(len(batches))], info)
        return self._cached[1], self._cached[2]

    def _optimise(self, rng: np.random.Generator) -> tuple[list[list[int]], dict]:
        batches, x = self.stratified(), self.margins.tolist()  # Python floats: fast scalar maths in the loop
        n = self.n_batches
        sizes = [len(b) for b in batches]
        sums = [sum(x[i] for i in b) for b in batches]
        squares = [sum(x[i] * x[i] for i in b) for b in batches]
        var = [q / m - (s / m) ** 2 for s, q, m in zip(sums, squares, sizes)]
        total = sum(var)
        history, accepted, trials = deque([total], maxlen=self.patience + 1), 0, 0
        budget = self.max_trials * len(x) if n > 1 else 0
        while trials < budget:
            chunk = min(4096, budget - trials)
            first = rng.integers(n, size=chunk)
            second = (first + 1 + rng.integers(n - 1, size=chunk)) % n  # another batch
            u, v = rng.random(chunk), rng.random(chunk)
            for j, l, a, b in zip(first.tolist(), second.tolist(), u.tolist(), v.tolist()):
                trials += 1
                pa, pb = int(a * sizes[j]), int(b * sizes[l])
                xa, xb = x[batches[j][pa]], x[batches[l][pb]]
                sj, sl = sums[j] - xa + xb, sums[l] - xb + xa
                qj, ql = squares[j] - xa * xa + xb * xb, squares[l] - xb * xb + xa * xa
                vj, vl = qj / sizes[j] - (sj / sizes[j]) ** 2, ql / sizes[l] - (sl / sizes[l]) ** 2
                gain = vj + vl - var[j] - var[l]
                if gain <= 0:
                    continue
                batches[j][pa], batches[l][pb] = batches[l][pb], batches[j][pa]
                sums[j], sums[l], squares[j], squares[l], var[j], var[l] = sj, sl, qj, ql, vj, vl
                total += gain
                accepted += 1
                history.append(total)
                if len(history) == history.maxlen and total - history[0] < self.epsilon * abs(history[0]):
                    budget = trials  # converged: early stop
                    break
        return batches, {"optimised": summed_variance(self.margins, batches), "swaps_accepted": accepted,
                         "swaps_tried": trials}
