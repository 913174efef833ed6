"""Hinge loss: L = max(0, m − Δ) (Hong et al. 2025, Eq. 30).

Default m = 1.0: the BSR repository's default m = 0 is degenerate (any correctly ordered pair has zero loss, so the
reward scale is free).
"""
from __future__ import annotations

import dataclasses

import torch

import methods
from harness.domains import setting
from harness.method import RewardMethod
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods._common import with_metrics


@methods.register
class BTHinge(RewardMethod):
    name = "bt_hinge"
    paper = "Hong et al. 2025 (On the Robustness of Reward Models, ICML) Eq. 30"
    summary = "Hinge loss max(0, m − Δ)."

    @dataclasses.dataclass
    class Config:
        margin: float = setting(1.0, ge=0)  # m ≥ 0 of Eq. 30

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        return with_metrics(torch.relu(self.config.margin - (out.chosen - out.rejected)).mean(), out)
