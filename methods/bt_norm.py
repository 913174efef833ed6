"""Scale-normalised BT: L = −log σ(Δ / sqrt(r_w² + r_l² + eps)), element-wise per pair (Hong et al. 2025, Eq. 29).

The BSR repository has no eps (NaN gradient at r_w = r_l = 0); eps = 1e-8 inside the square root.
"""
from __future__ import annotations

import dataclasses

import torch

import methods
from harness.domains import setting
from harness.method import RewardMethod
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods._common import bt_loss, with_metrics


@methods.register
class BTNorm(RewardMethod):
    name = "bt_norm"
    paper = "Hong et al. 2025 (On the Robustness of Reward Models, ICML) Eq. 29"
    summary = "BT on the norm-scaled margin Δ / sqrt(r_w² + r_l² + eps)."

    @dataclasses.dataclass
    class Config:
        eps: float = setting(1e-8, gt=0)  # keeps the square root away from 0

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        w, l = out.chosen, out.rejected
        return with_metrics(bt_loss((w - l) / torch.sqrt(w**2 + l**2 + self.config.eps)).mean(), out)
