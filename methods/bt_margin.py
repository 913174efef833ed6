"""BT with a margin: L = −log σ(Δ − m) (Touvron et al. 2023, Llama 2, Eq. 2; APLOT Tab. 1 "HardMargin 1.0").

m is the batch's per-row ``margin`` column when the data has one, otherwise the constant ``margin``.
"""
from __future__ import annotations

import dataclasses

import methods
from harness.domains import setting
from harness.method import RewardMethod
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods._common import bt_loss, with_metrics


@methods.register
class BTMargin(RewardMethod):
    name = "bt_margin"
    paper = "Touvron et al. 2023 (Llama 2) Eq. 2; Li et al. 2025 (APLOT) Tab. 1 HardMargin"
    summary = "BT with a margin −log σ(Δ − m): per-row margin column when present, else a constant."

    @dataclasses.dataclass
    class Config:
        # m ≥ 0 (Llama 2's margins are rating gaps); used when the batch has no per-row margin column
        margin: float = setting(1.0, ge=0)

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        delta = out.chosen - out.rejected
        if batch is not None and batch.margin is not None:
            m = batch.margin.to(device=delta.device, dtype=delta.dtype)
        else:
            m = delta.new_full(delta.shape, self.config.margin)
        return with_metrics(bt_loss(delta - m).mean(), out, target_margin_mean=m.mean())
