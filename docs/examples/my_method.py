"""Focal Bradley-Terry: L = −(1 − p)^γ log p, p = σ(r_w − r_l) (the focal loss of Lin et al. 2017, Eq. 4, on the
BT preference probability). γ = 0 is plain BT; γ > 0 down-weights pairs the model already orders confidently, so
training concentrates on the hard pairs.

The complete example of docs/write-your-own-method.md: one file, one class, registered by name.
"""
from __future__ import annotations

import dataclasses

import torch.nn.functional as F

import methods
from harness.errors import ConfigError
from harness.method import RewardMethod
from harness.types import LossOutput, PreferenceBatch, RewardOutput


@methods.register
class FocalBT(RewardMethod):
    name = "focal_bt"
    paper = "Lin et al. 2017 (focal loss) Eq. 4, applied to Bradley & Terry 1952"
    summary = "BT with a focal weight −(1 − σ(Δ))^γ log σ(Δ): easy pairs count less."

    @dataclasses.dataclass
    class Config:
        gamma: float = 2.0  # focusing parameter γ ≥ 0 (0 = plain BT)

    def __init__(self, **overrides):
        super().__init__(**overrides)  # fills self.config; unknown keys fail naming the closest ones
        if self.config.gamma < 0:  # a bad value is a config error (exit code 2), raised before any training
            raise ConfigError(f"{self.name}: gamma must be >= 0, got {self.config.gamma}")

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        delta = out.chosen - out.rejected
        log_p = F.logsigmoid(delta)  # log σ(Δ), stable for any Δ
        weight = (self.config.gamma * F.logsigmoid(-delta)).exp()  # (1 − σ(Δ))^γ = σ(−Δ)^γ
        loss = -(weight * log_p).mean()
        detached = delta.detach()
        return LossOutput(loss, {"accuracy": (detached > 0).float().mean(),  # strict: a tie is wrong
                                 "margin_mean": detached.mean(), "focal_weight_mean": weight.detach().mean()})
