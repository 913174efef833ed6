"""Losses the harness itself computes (the trainer's validation loss) and the methods share."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def bt_loss(delta: Tensor) -> Tensor:
    """Bradley-Terry negative log-likelihood −log σ(Δ), per pair (numerically stable): Bradley & Terry (1952);
    the reward-model loss of Ouyang et al. (2022), Eq. 1."""
    return -F.logsigmoid(delta)
