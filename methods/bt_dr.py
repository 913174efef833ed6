"""BT with direct reward terms: L = −log σ(Δ) − log σ(r_w) − log σ(−r_l) (Hong et al. 2025, Eq. 31, after
Yuan et al. 2024): chosen rewards are pushed above 0, rejected below."""
from __future__ import annotations

import dataclasses

import methods
from harness.method import RewardMethod
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods._common import bt_loss, with_metrics


@methods.register
class BTDR(RewardMethod):
    name = "bt_dr"
    paper = "Hong et al. 2025 (On the Robustness of Reward Models, ICML) Eq. 31; Yuan et al. 2024"
    summary = "BT plus absolute terms −log σ(r_w) − log σ(−r_l)."

    @dataclasses.dataclass
    class Config:
        pass

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        w, l = out.chosen, out.rejected
        return with_metrics((bt_loss(w - l) + bt_loss(w) + bt_loss(-l)).mean(), out)
