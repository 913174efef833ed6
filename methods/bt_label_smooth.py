"""BT with label smoothing: L = −(1−ε)·log σ(Δ) − ε·log σ(−Δ) (Wang et al. 2024, Secrets of RLHF Part II, §3;
the GRM repository's label-smoothing loss)."""
from __future__ import annotations

import dataclasses

import methods
from harness.domains import setting
from harness.method import RewardMethod
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods._common import bt_loss, with_metrics


@methods.register
class BTLabelSmooth(RewardMethod):
    name = "bt_label_smooth"
    paper = "Wang et al. 2024 (Secrets of RLHF Part II); GRM repository (Yang et al. 2024)"
    summary = "BT with label smoothing −(1−ε) log σ(Δ) − ε log σ(−Δ)."

    @dataclasses.dataclass
    class Config:
        epsilon: float = setting(0.1, ge=0, lt=0.5)  # ε ≥ 1/2 would prefer the rejected response

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        eps = self.config.epsilon
        delta = out.chosen - out.rejected
        return with_metrics(((1 - eps) * bt_loss(delta) + eps * bt_loss(-delta)).mean(), out)
