"""Maths shared by several methods."""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from harness.errors import ConfigError
from harness.losses import bt_loss  # noqa: F401 - the methods' shared maths, defined beside the trainer's
from harness.method import RewardMethod
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


# -- implicit-reward methods (the DPO family) -----------------------------------------------------------------------
#: how an implicit reward is read (``score``): ``none`` = with the reference, β·(logπ(y|x) − logπ_ref(y|x)); the
#: others without one, as reward-bench's ``--ref_free_type`` (``rewardbench/dpo.py``,
#: ``DPOInference.get_batch_logps``): ``sum`` β·Σ_t logπ_t, ``avg`` β·Σ_t logπ_t / |y|, ``norm`` −β·‖(logπ_t)_t‖₂
SCORE_TYPES = ("none", "sum", "avg", "norm")


def implicit_score(raw: Tensor, beta: float, score_type: str) -> Tensor:
    """The implicit reward of each sequence from its :data:`harness.types.IMPLICIT_COLUMNS` [N, 4]."""
    logp, ref_logp, n_tokens, l2 = raw.unbind(-1)
    if score_type == "none":
        return beta * (logp - ref_logp)
    if score_type == "sum":
        return beta * logp
    if score_type == "avg":
        return beta * logp / n_tokens.clamp(min=1)
    return -beta * l2


class ImplicitRewardMethod(RewardMethod):
    """Shared part of ``dpo``, ``simpo`` and ``ipo``: a policy trained on summed response log-probs
    (``RewardOutput.extra``), whose reward is its implicit reward. ``Config`` must hold ``beta`` (> 0)."""

    implicit = True
    requires = frozenset({"lm_logprobs", "ref_logprobs"})
    length_normalised: ClassVar[bool] = False  # SimPO: rewards and margins per response token

    def __init__(self, **overrides):
        super().__init__(**overrides)
        if not self.config.beta > 0:
            raise ConfigError(f"{self.name}: method_config.beta must be > 0, not {self.config.beta}")
        if self.score_type not in SCORE_TYPES:
            raise ConfigError(f"{self.name}: method_config.ref_free_type must be one of {', '.join(SCORE_TYPES)}, "
                              f"not {self.score_type!r}")

    @property
    def score_type(self) -> str:
        return getattr(self.config, "ref_free_type", "none")

    @property
    def score_needs_reference(self) -> bool:
        return self.score_type == "none"

    def score(self, rewards: Tensor) -> Tensor:
        return implicit_score(rewards, self.config.beta, self.score_type)

    def policy_margin(self, logp_chosen: Tensor, logp_rejected: Tensor, len_chosen: Tensor,
                      len_rejected: Tensor) -> Tensor:
        if self.length_normalised:
            return logp_chosen / len_chosen.clamp(min=1) - logp_rejected / len_rejected.clamp(min=1)
        return logp_chosen - logp_rejected

    def log_ratios(self, out: RewardOutput) -> tuple[Tensor, Tensor]:
        """logπ(y|x) − logπ_ref(y|x) of the chosen and the rejected responses ([B] each)."""
        x = self.extras(out, "logp_chosen", "logp_rejected", "ref_logp_chosen", "ref_logp_rejected")
        return x["logp_chosen"] - x["ref_logp_chosen"], x["logp_rejected"] - x["ref_logp_rejected"]

    def extras(self, out: RewardOutput, *keys: str) -> dict[str, Tensor]:
        missing = [k for k in keys if k not in out.extra]
        if missing:
            raise ConfigError(f"{self.name} needs {missing} in RewardOutput.extra (summed response log-probs)")
        return {k: out.extra[k] for k in keys}

    def with_rewards(self, loss: Tensor, out: RewardOutput, chosen: Tensor, rejected: Tensor,
                     **extra: Tensor) -> LossOutput:
        """``loss`` with the training metrics of the implicit rewards ``chosen`` / ``rejected`` (accuracy, margin)."""
        implicit = RewardOutput(chosen, rejected, out.chosen_hidden, out.rejected_hidden, out.extra)
        return with_metrics(loss, implicit, logp_chosen=out.extra["logp_chosen"].mean(), **extra)
