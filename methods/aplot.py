"""APLOT: adaptive margins from optimal transport (Li et al. 2025, Alg. 1, Eq. 5-8).

Per batch: Δf_ij = r_w,i − r_l,j and S_ij = cos(h_w,i, h_l,j); cost C_ij = γ·S_ij + (1−γ)(1 − σ(Δf_ij)) (Eq. 6);
plan T* = argmin_{T∈Π(1/B,1/B)} ⟨T,C⟩ − β·H(T) (Eq. 5, Sinkhorn via POT, no gradient); margin μ_i = Σ_j T*_ij C_ij
(Eq. 7); L = −log σ(Δ_i − μ_i) (Eq. 8). The paper leaves these open, so they are config keys (``docs/methods.md``):
``margin_norm`` ("conditional": μ_i = B·Σ_j T*_ij C_ij, the expected cost under the conditional plan, O(1);
"literal": Eq. 7 as written, O(1/B)), ``detach_margin``, ``clamp_min`` and ``global_batch``.
``PointMargin`` (methods/pointmargin.py) shares everything but the plan.
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

import methods
from harness.domains import setting
from harness.errors import ConfigError
from harness.method import RewardMethod
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods._common import all_gather_rows, bt_loss, with_metrics

_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def pair_cost(r_w: Tensor, r_l: Tensor, h_w: Tensor, h_l: Tensor, gamma: float) -> Tensor:
    """C_ij = γ·cos(h_w,i, h_l,j) + (1−γ)·(1 − σ(r_w,i − r_l,j)) (Eq. 6); [B_w, B_l]. A zero hidden vector has
    cosine 0 with everything (its norm is clamped at 1e-8)."""
    cos = F.normalize(h_w, dim=-1, eps=1e-8) @ F.normalize(h_l, dim=-1, eps=1e-8).T
    return gamma * cos + (1 - gamma) * torch.sigmoid(r_l[None, :] - r_w[:, None])  # 1 − σ(x) = σ(−x)


def _marginal_error(plan: Tensor, a: Tensor, b: Tensor) -> float:
    return max(torch.linalg.vector_norm(plan.sum(1) - a).item(), torch.linalg.vector_norm(plan.sum(0) - b).item())


def transport_plan(cost: Tensor, beta: float, num_iter_max: int = 1000,
                   stop_threshold: float = 1e-6) -> tuple[Tensor, int]:
    """T* = argmin_{T∈Π(1/n,1/m)} ⟨T,C⟩ − β·H(T) (Eq. 5), without gradient; returns (T*, Sinkhorn iterations).

    Solved with POT's Sinkhorn on the (shift-invariant) cost C − min C. If the plan is non-finite or its marginals
    miss by more than ``stop_threshold`` (L2), warns once and retries in the log domain; a non-finite log-domain plan
    falls back to the uniform plan 1/(nm), so the result is never NaN. Iterations are summed over the attempts.
    """
    import ot  # 3 s to import (scikit-learn): only when a plan is needed, not whenever `methods` is imported

    cost = cost.detach()
    n, m = cost.shape
    a, b = cost.new_full((n,), 1.0 / n), cost.new_full((m,), 1.0 / m)
    shifted = cost - cost.min()
    iters = 0
    for method in ("sinkhorn", "sinkhorn_log"):
        with warnings.catch_warnings():  # POT warns on every call; we warn once below
            warnings.simplefilter("ignore")
            plan, log = ot.sinkhorn(a, b, shifted, beta, method=method, numItermax=num_iter_max,
                                    stopThr=stop_threshold, log=True, warn=False)
        iters += int(log["niter"]) + 1
        finite = bool(torch.isfinite(plan).all())
        if finite and _marginal_error(plan, a, b) <= stop_threshold:
            return plan, iters
        if method == "sinkhorn":
            _warn_once("APLOT: Sinkhorn did not converge (or overflowed); retrying in the log domain")
    if finite:
        _warn_once(f"APLOT: log-domain Sinkhorn did not reach stop_threshold={stop_threshold} in "
                   f"{num_iter_max} iterations; using its approximate plan")
        return plan, iters
    _warn_once("APLOT: Sinkhorn plan is not finite; using the uniform plan")
    return torch.outer(a, b), iters


class CostMargin(RewardMethod):
    """BT with the per-pair margin μ_i derived from the cost matrix C (Eq. 6, 8); subclasses define μ from C."""

    requires = frozenset({"hidden"})

    @dataclasses.dataclass
    class Config:
        gamma: float = setting(0.5, ge=0, le=1)  # weight of the cosine term in C: a convex combination (Eq. 6)
        margin_norm: Literal["conditional", "literal"] = "conditional"
        detach_margin: bool = True  # μ is a target; False lets gradient flow through C into μ
        clamp_min: float | None = 0.0  # μ ≥ clamp_min (cosine can make C negative); None: no clamp
        global_batch: bool = False  # all-gather rewards and hidden states so C spans the global batch

    def margins(self, cost: Tensor, rows: slice) -> tuple[Tensor, dict[str, Tensor]]:
        """μ for the cost rows ``rows`` (this rank's pairs) of the global cost matrix, plus extra metrics."""
        raise NotImplementedError

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        if out.chosen_hidden is None or out.rejected_hidden is None:
            raise ConfigError(f"{self.name} needs the hidden states (chosen_hidden, rejected_hidden)")
        cfg = self.config
        dtype = torch.promote_types(torch.promote_types(out.chosen.dtype, out.chosen_hidden.dtype), torch.float32)
        n = out.chosen.shape[0]
        parts = (out.chosen[:, None], out.rejected[:, None], out.chosen_hidden, out.rejected_hidden)
        pairs = torch.cat([t.to(dtype) for t in parts], dim=1)  # [B, 2 + 2H]: one all-gather for everything
        if cfg.detach_margin:
            pairs = pairs.detach()
        if cfg.global_batch:
            pairs, offset = all_gather_rows(pairs)
        else:
            offset = 0
        h = out.chosen_hidden.shape[1]
        cost = pair_cost(pairs[:, 0], pairs[:, 1], pairs[:, 2:2 + h], pairs[:, 2 + h:], cfg.gamma)
        mu, extra = self.margins(cost, slice(offset, offset + n))
        if cfg.clamp_min is not None:
            mu = mu.clamp_min(cfg.clamp_min)
        mu = mu.to(out.chosen.dtype)
        loss = bt_loss(out.chosen - out.rejected - mu).mean()
        return with_metrics(loss, out, mu_mean=mu.mean(), mu_std=mu.std(unbiased=False), mu_min=mu.min(),
                            mu_max=mu.max(), **extra)


@methods.register
class APLOT(CostMargin):
    name = "aplot"
    paper = "Li et al. 2025 (APLOT: adaptive margins by optimal transport) Alg. 1, Eq. 5-8"
    summary = "BT with per-pair margins μ_i = Σ_j T*_ij C_ij from an entropic OT plan over the batch."

    @dataclasses.dataclass
    class Config(CostMargin.Config):
        beta: float = setting(0.1, gt=0)  # entropic regularisation of the OT problem (Eq. 5)
        num_iter_max: int = setting(1000, ge=1)
        stop_threshold: float = setting(1e-6, gt=0)  # L2 violation of the marginals

    def margins(self, cost: Tensor, rows: slice) -> tuple[Tensor, dict[str, Tensor]]:
        cfg = self.config
        plan, iters = transport_plan(cost, cfg.beta, cfg.num_iter_max, cfg.stop_threshold)
        mu = (plan[rows] * cost[rows]).sum(1)  # Eq. 7
        if cfg.margin_norm == "conditional":
            mu = mu * cost.shape[1]
        return mu, {"sinkhorn_iters": torch.tensor(float(iters))}
