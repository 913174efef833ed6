"""DPO — direct preference optimisation (Rafailov et al. 2023, Eq. 7; Eq. 4 of the RMO paper, Ru et al. 2026).

L = −log σ(β·[(logπ(y_w|x) − logπ_ref(y_w|x)) − (logπ(y_l|x) − logπ_ref(y_l|x))]), logπ(y|x) the log-probs summed
over the response tokens only (prompt and padding masked). The trained model is a causal-LM policy (started from the
world's SFT policy of a tiny backbone) and its reward is the implicit one, r(x, y) = β·(logπ(y|x) − logπ_ref(y|x)),
so every suite scores it as any reward model. π_ref is frozen: the starting policy, or ``model.ref``; the trainer
computes its log-probs once per training pair and caches them. ``ref_free_type`` scores without the reference, as
reward-bench's ``--ref_free_type`` (``sum``, ``avg``, ``norm``; ``rewardbench/dpo.py``); training is unchanged.
"""
from __future__ import annotations

import dataclasses

import methods
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods._common import ImplicitRewardMethod, bt_loss


@methods.register
class DPO(ImplicitRewardMethod):
    name = "dpo"
    paper = "Rafailov et al. 2023 (DPO), Eq. 7; RMO paper (Ru et al. 2026) Eq. 4"
    summary = "Policy trained on −logσ(β·Δ log(π/π_ref)); reward = implicit β·log(π/π_ref) (DPO family)."

    @dataclasses.dataclass
    class Config:
        beta: float = 0.1  # β: the KL strength; the implicit reward is β·log(π/π_ref)
        ref_free_type: str = "none"  # scoring: none (with the reference) | sum | avg | norm (reward-bench)

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        beta = self.config.beta
        chosen, rejected = self.log_ratios(out)
        loss = bt_loss(beta * (chosen - rejected)).mean()
        return self.with_rewards(loss, out, beta * chosen, beta * rejected)
