"""Bradley-Terry: L = −log σ(r_w − r_l) (Bradley & Terry 1952; the RLHF reward-model baseline)."""
from __future__ import annotations

import dataclasses

import methods
from harness.method import RewardMethod
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods._common import bt_loss, with_metrics


@methods.register
class BradleyTerry(RewardMethod):
    name = "bt"
    paper = "Bradley & Terry 1952; Ouyang et al. 2022 (InstructGPT RM)"
    summary = "Pairwise logistic loss −log σ(r_w − r_l)."

    @dataclasses.dataclass
    class Config:
        pass

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        return with_metrics(bt_loss(out.chosen - out.rejected).mean(), out)
