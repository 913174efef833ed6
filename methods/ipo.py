"""IPO — identity preference optimisation (Azar et al. 2023, "A General Theoretical Paradigm to Understand Learning
from Human Preferences", Eq. 17).

L = (h − 1/(2τ))², h = (logπ(y_w|x) − logπ_ref(y_w|x)) − (logπ(y_l|x) − logπ_ref(y_l|x)) with summed response
log-probs, as in the paper (trl's ``loss_type="ipo"`` averages the log-probs over tokens instead). τ is called
``beta`` here, as in trl; the implicit reward is τ·log(π/π_ref), scored as for ``dpo``.
"""
from __future__ import annotations

import dataclasses

import methods
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods._common import ImplicitRewardMethod


@methods.register
class IPO(ImplicitRewardMethod):
    name = "ipo"
    paper = "Azar et al. 2023 (IPO, ΨPO with Ψ = identity), Eq. 17"
    summary = "Policy trained on (Δ log(π/π_ref) − 1/(2τ))²; reward = implicit τ·log(π/π_ref)."

    @dataclasses.dataclass
    class Config:
        beta: float = 0.1  # τ of the paper: the regression target of h is 1/(2τ)
        ref_free_type: str = "none"  # scoring: none (with the reference) | sum | avg | norm (reward-bench)

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        tau = self.config.beta
        chosen, rejected = self.log_ratios(out)
        loss = ((chosen - rejected - 1.0 / (2.0 * tau)) ** 2).mean()
        return self.with_rewards(loss, out, tau * chosen, tau * rejected)
