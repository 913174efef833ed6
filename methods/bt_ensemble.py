"""Reward-model ensemble (Coste et al. 2023, "Reward Model Ensembles Help Mitigate Overoptimization"):
K members trained with Bradley-Terry from different seeds (head/adapter initialisation and data order); the
inference reward aggregates the members' rewards, mean (Coste et al.'s "mean") or min ("worst-case optimisation").

The trainer trains each member in turn (``members`` > 1); the run stores one checkpoint that scores with all of them.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from torch import Tensor

import methods
from harness.domains import setting
from harness.method import RewardMethod
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods._common import bt_loss, with_metrics


@methods.register
class BTEnsemble(RewardMethod):
    name = "bt_ensemble"
    paper = "Coste et al. 2023 (Reward Model Ensembles Help Mitigate Overoptimization), mean / WCO"
    summary = "K Bradley-Terry members from different seeds; reward = mean (or min) over members."

    @dataclasses.dataclass
    class Config:
        k: int = setting(3, ge=1)  # members
        agg: Literal["mean", "min"] = "mean"

    @property
    def members(self) -> int:
        return self.config.k

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        """Each member is trained alone with −log σ(r_w − r_l)."""
        return with_metrics(bt_loss(out.chosen - out.rejected).mean(), out)

    def score(self, rewards: Tensor) -> Tensor:
        """[N, K] member rewards → [N]; a single member's [N] rewards pass through."""
        if rewards.dim() == 1:
            return rewards
        return rewards.mean(-1) if self.config.agg == "mean" else rewards.min(-1).values
