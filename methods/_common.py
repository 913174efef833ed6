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


def all_gather_rows(t: Tensor) -> tuple[Tensor, int]:
    """Concatenate ``t`` [n, …] over all ranks in rank order; returns (gathered, offset of this rank's rows).

    The local part keeps its gradient, the other ranks' parts are detached. Ranks may hold different n (the last
    batch). A no-op (``(t, 0)``) when torch.distributed is not initialised or the world size is 1.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return t, 0
    world, rank = dist.get_world_size(), dist.get_rank()
    size = torch.tensor([t.shape[0]], device=t.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    sizes = [int(s) for s in sizes]
    padded = t.detach().new_zeros((max(sizes), *t.shape[1:]))
    padded[: t.shape[0]] = t.detach()
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    parts = [p[:s] for p, s in zip(parts, sizes)]
    parts[rank] = t
    return torch.cat(parts), sum(sizes[:rank])


def gather_with_local_grad(t: Tensor) -> Tensor:
    """``t`` concatenated over all ranks (rank order), gradient flowing to the local part only; no-op off DDP."""
    return all_gather_rows(t)[0]
