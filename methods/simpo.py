"""SimPO — simple preference optimisation without a reference (Meng et al. 2024, Eq. 6).

r(x, y) = (β/|y|)·logπ(y|x), the length-normalised summed response log-prob, and
L = −log σ(r(x, y_w) − r(x, y_l) − γ) with a target reward margin γ. No reference model. The implicit reward the
suites score is r itself. Defaults β = 2.0, γ = 1.0 (γ/β = 0.5): inside the ranges the paper tunes (β ∈ [2, 2.5],
γ ∈ [0.3, 1.6]); the RMO paper does not state the SimPO β and γ it used.
"""
from __future__ import annotations

import dataclasses

import methods
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods._common import ImplicitRewardMethod, bt_loss


@methods.register
class SimPO(ImplicitRewardMethod):
    name = "simpo"
    paper = "Meng et al. 2024 (SimPO), Eq. 6"
    summary = "Policy trained on −logσ(β/|y_w|·logπ(y_w) − β/|y_l|·logπ(y_l) − γ); no reference."
    requires = frozenset({"lm_logprobs"})
    length_normalised = True

    @dataclasses.dataclass
    class Config:
        beta: float = 2.0  # β: scale of the length-normalised log-prob reward
        gamma: float = 1.0  # γ: target reward margin

    @property
    def score_type(self) -> str:
        return "avg"  # r = β·logπ(y|x)/|y|: reward-bench's ``avg`` reference-free score, scaled by β

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        cfg = self.config
        x = self.extras(out, "logp_chosen", "logp_rejected", "len_chosen", "len_rejected")
        chosen = cfg.beta * x["logp_chosen"] / x["len_chosen"].clamp(min=1)
        rejected = cfg.beta * x["logp_rejected"] / x["len_rejected"].clamp(min=1)
        loss = bt_loss(chosen - rejected - cfg.gamma).mean()
        return self.with_rewards(loss, out, chosen, rejected)
