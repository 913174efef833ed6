"""Batch sum-to-zero regularisation (BSR; Hong et al. 2025, ICML, Eq. 24-25):

    L = L_BT + λ·((1/2B) Σ_i (r_w,i + r_l,i))²

``repo_scaling`` reproduces the official code, which multiplies λ by the per-device batch size. ``global_batch``
all-gathers the rewards across ranks so that B is the global batch; the gather is differentiable across ranks, so
n processes take the same steps as one process on the same global batches.
"""
from __future__ import annotations

import dataclasses

import torch

import methods
from harness.domains import setting
from harness.method import RewardMethod
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods._common import all_gather_rows, bt_loss, with_metrics


@methods.register
class BSR(RewardMethod):
    name = "bsr"
    paper = "Hong et al. 2025 (On the Robustness of Reward Models, ICML) Eq. 24-25"
    summary = "BT plus λ·(batch mean of r_w + r_l)², centring rewards on zero."

    @dataclasses.dataclass
    class Config:
        lam: float = setting(1e-3, ge=0)  # λ of Eq. 25: a penalty weight
        repo_scaling: bool = False  # λ × per-device batch size, as the official code does
        global_batch: bool = False  # mean over the batch all-gathered across ranks

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        rewards = torch.stack([out.chosen, out.rejected], dim=1)  # [B, 2]
        if self.config.global_batch:
            rewards = all_gather_rows(rewards)[0]
        centre = rewards.mean()  # (1/2B) Σ_i (r_w,i + r_l,i)
        lam = self.config.lam * (out.chosen.shape[0] if self.config.repo_scaling else 1)
        loss = bt_loss(out.chosen - out.rejected).mean() + lam * centre**2
        return with_metrics(loss, out, reward_centre=centre)
