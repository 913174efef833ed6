"""Maths shared by several methods."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from harness.types import LossOutput, RewardOutput


def bt_loss(delta: Tensor) -> Tensor:
    """Bradley-Terry negative log-likelihood −log σ(Δ), per pair (numerically stable)."""
    return -F.logsigmoid(delta)


def pair_metrics(out: RewardOutput, **extra: Tensor) -> dict[str, Tensor]:
    """Training metrics every method reports: strict accuracy, reward margin and reward scale."""
    delta = (out.chosen - out.rejected).detach()
    rewards = torch.cat([out.chosen, out.rejected]).detach()
    return {"accuracy": (delta > 0).float().mean(), "margin_mean": delta.mean(),
            "reward_mean": rewards.mean(), "reward_std": rewards.std(unbiased=False), **extra}


def with_metrics(loss: Tensor, out: RewardOutput, **extra: Tensor) -> LossOutput:
    return LossOutput(loss=loss, metrics=pair_metrics(out, **{k: v.detach() for k, v in extra.items()}))
