"""Downstream RLHF against a trained reward model: Best-of-N, PPO (written here), RLOO / GRPO (trl), lm-eval.

The policy is the SFT policy of a tiny backbone (``harness.rl.sft``), else the run's backbone as a causal LM
(SmolLM2, …), or any causal LM given. Rewards are callables
``(prompts, responses) -> list[float]``: the proxy RM (``harness.rl.rewards.proxy_rewarder``) and, in the world, the
gold reward of free text (``harness.world.judge``), so over-optimisation is measurable.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

Rewarder = Callable[[list[str], list[str]], list[float]]  # (prompts, responses) -> one reward per response


@dataclass
class RLConfig:
    """Settings of one RL run against a reward model (PPO written here; RLOO / GRPO through trl).

    Shared: ``steps`` optimiser rounds, each on ``prompts_per_step`` prompts x ``samples_per_prompt`` sampled
    responses (RLOO / GRPO need >= 2 per prompt for their baselines; PPO's value head does not), KL penalty
    ``kl_coef`` to the frozen initial policy. PPO only (Ouyang et al. 2022; Huang et al. 2024, "The N+ implementation
    details of RLHF with PPO"): ``ppo_epochs`` passes over each rollout in minibatches of ``minibatch_size``
    sequences, clipped surrogate (``clip_range``), clipped value loss (``value_clip``, weight ``vf_coef``), GAE
    (``gamma``, ``lam``), rewards normalised by running statistics.
    """

    steps: int = 20
    prompts_per_step: int = 16
    samples_per_prompt: int = 2
    max_new_tokens: int = 48
    temperature: float = 1.0
    lr: float = 1e-4  # suits the tiny world policy; use ~1e-6 for full fine-tuning of real LMs
    kl_coef: float = 0.05
    max_grad_norm: float = 1.0
    seed: int = 0
    ppo_epochs: int = 4
    minibatch_size: int = 8
    clip_range: float = 0.2
    value_clip: float = 0.2
    vf_coef: float = 0.1
    gamma: float = 1.0
    lam: float = 0.95
