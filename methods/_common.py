"""Maths shared by several methods."""
from __future__ import annotations

import torch
from torch import Tensor

from harness.losses import bt_loss  # noqa: F401 - the methods' shared maths, defined beside the trainer's
from harness.types import LossOutput, RewardOutput


def pair_metrics(out: RewardOutput, **extra: Tensor) -> dict[str, Tensor]:
    """Training metrics every method reports: strict accuracy, reward margin and reward scale."""
    delta = (out.chosen - out.rejected).detach()
    rewards = torch.cat([out.chosen, out.rejected]).detach()
    return {"accuracy": (delta > 0).float().mean(), "margin_mean": delta.mean(),
            "reward_mean": rewards.mean(), "reward_std": rewards.std(unbiased=False), **extra}


def with_metrics(loss: Tensor, out: RewardOutput, **extra: Tensor) -> LossOutput:
    return LossOutput(loss=loss, metrics=pair_metrics(out, **{k: v.detach() for k, v in extra.items()}))


class _GatherRows(torch.autograd.Function):
    """All-gather along dim 0 that autograd sees through across ranks: the backward sums every rank's gradient for
    this rank's rows (an all-reduce). ``torch.distributed.nn.functional.all_gather`` does the same but needs equal
    sizes on every rank (our last batch may be uneven)."""

    @staticmethod
    def forward(ctx, t: Tensor, sizes: list[int], offset: int) -> Tensor:
        import torch.distributed as dist

        padded = t.new_zeros((max(sizes), *t.shape[1:]))
        padded[: t.shape[0]] = t
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
        ctx.rows = slice(offset, offset + t.shape[0])
        return torch.cat([p[:s] for p, s in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        import torch.distributed as dist

        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rows], None, None


def all_gather_rows(t: Tensor) -> tuple[Tensor, int]:
    """Concatenate ``t`` [n, …] over all ranks in rank order; returns (gathered, offset of this rank's rows).

    Differentiable across ranks: the gradient of a rank's rows sums what every rank's loss sends them. With the
    trainer's size-weighted micro-batch losses and DDP's gradient averaging, a statistic of the gathered batch
    (BSR's centre, APLOT's plan) then gets exactly the single-process gradient of the global batch. Ranks may hold
    different n (the last batch). A no-op (``(t, 0)``) when torch.distributed is not initialised or the world size
    is 1. Every rank must call it, and must backpropagate through it if any does.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return t, 0
    size = torch.tensor([t.shape[0]], device=t.device)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    sizes = [int(s) for s in sizes]
    offset = sum(sizes[: dist.get_rank()])
    return _GatherRows.apply(t, sizes, offset), offset
