"""BT with a positive-reward regulariser: L = mean_i[−log σ(Δ_i)] − w·log σ(mean_i r_w,i)
(the GRM repository's ``pos_reg`` option, Yang et al. 2024)."""
from __future__ import annotations

import dataclasses

import methods
from harness.domains import setting
from harness.method import RewardMethod
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods._common import bt_loss, with_metrics


@methods.register
class BTPosReg(RewardMethod):
    name = "bt_posreg"
    paper = "Yang et al. 2024 (GRM repository, pos_reg)"
    summary = "BT plus −w·log σ(mean r_w), pushing chosen rewards positive."

    @dataclasses.dataclass
    class Config:
        weight: float = setting(0.1, ge=0)

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        reg = bt_loss(out.chosen.mean())
        loss = bt_loss(out.chosen - out.rejected).mean() + self.config.weight * reg
        return with_metrics(loss, out, pos_reg=reg)
