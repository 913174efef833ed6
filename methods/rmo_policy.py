"""RMO as its paper runs it: on DPO and SimPO policies (Ru et al., AAAI 2026, Table 2), as ``rmo_dpo`` and
``rmo_simpo``.

The three modules of :mod:`methods.rmo`, with the paper's margin: δ = logπ(y⁺|x) − logπ(y⁻|x), the policy's summed
response log-prob gap without reference (Alg. 1 line 4, Eq. 10); for SimPO the length-normalised gap
logπ(y⁺|x)/|y⁺| − logπ(y⁻|x)/|y⁻| (the quantity SimPO's reward is made of, without β).

* δ_proxy: δ of a policy trained with the base objective (``dpo`` / ``simpo`` with ``base_config``) on the full
  training set — stage 1, a run of its own, reused; δ_base: δ of the starting policy (the SFT policy).
* Filter (Eq. 6, Eq. 8) on those margins as they are (``margin_scale: raw``: both are log-prob gaps of policies, one
  scale, as in the paper), τ for a 6 % filter ratio (Table 2), γ = 1.
* Batch margin diversification (Alg. 1) on δ_proxy.
* Amplification (Eq. 14–15): L = L_base + λ_reg·mean_i σ((δ̃ − δ_i)/α), δ_i the trained policy's margin,
  δ̃ = median δ_proxy of the training rows, λ_reg = 2, α = 125 for DPO and 5 for SimPO (§Hyperparameters).

The reward the suites score is the base method's implicit reward; ``base_config`` holds the base method's options
(``--set method_config.base_config.beta=0.2``), its defaults filled in.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

import methods
from harness.types import LossOutput, PreferenceBatch, RewardOutput
from methods.rmo import RMO


class PolicyRMO(RMO):
    """RMO around an implicit-reward ``base`` method (its loss, score and policy margin)."""

    base: ClassVar[str]
    implicit = True
    version = "1"

    def __init__(self, **overrides):
        super().__init__(**overrides)
        self.base_method = methods.get(self.base)(**self.config.base_config)
        self.config.base_config = self.base_method.config_dict()  # defaults filled in: one run identity
        self.requires = self.base_method.requires
        self.proxy = (self.base, self.config.base_config)

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        return {**super().default_config(), "base_config": methods.get(cls.base).default_config()}

    @property
    def score_needs_reference(self) -> bool:
        return self.base_method.score_needs_reference

    def score(self, rewards: Tensor) -> Tensor:
        return self.base_method.score(rewards)

    def policy_margin(self, logp_chosen, logp_rejected, len_chosen, len_rejected) -> Tensor:
        return self.base_method.policy_margin(logp_chosen, logp_rejected, len_chosen, len_rejected)

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        result = self.base_method.loss(out, batch)
        if not self.config.amplify:
            return result
        x = self.base_method.extras(out, "logp_chosen", "logp_rejected", "len_chosen", "len_rejected")
        delta = self.policy_margin(x["logp_chosen"], x["logp_rejected"], x["len_chosen"], x["len_rejected"])
        reg = torch.sigmoid((self.target_margin - delta) / self.config.alpha).mean()  # Eq. 14
        return LossOutput(result.loss + self.config.lambda_reg * reg,  # Eq. 15
                          {**result.metrics, "amplification": reg.detach(), "policy_margin": delta.mean().detach()})


@methods.register
class RMODPO(PolicyRMO):
    name = "rmo_dpo"
    base = "dpo"
    paper = "Ru et al., AAAI 2026, RMO on DPO: Eq. 4, 6-8, 10, 14-15, Alg. 1, Table 2"
    summary = "DPO with RMO's dual denoising filter, margin-diverse batches and median-margin amplification."
    requires = frozenset({"lm_logprobs", "ref_logprobs"})

    @dataclasses.dataclass
    class Config(RMO.Config):
        margin_scale: Literal["standardized", "raw"] = "raw"  # δ_base and δ_proxy are both policy log-prob gaps
        alpha: float = 125.0  # α of Eq. 14 for DPO's summed log-prob margins (paper)
        base_config: dict[str, Any] = dataclasses.field(default_factory=dict)  # the dpo options


@methods.register
class RMOSimPO(PolicyRMO):
    name = "rmo_simpo"
    base = "simpo"
    paper = "Ru et al., AAAI 2026, RMO on SimPO: Eq. 6-8, 10, 14-15, Alg. 1, Table 2; Meng et al. 2024"
    summary = "SimPO with RMO's dual denoising filter, margin-diverse batches and median-margin amplification."
    requires = frozenset({"lm_logprobs"})

    @dataclasses.dataclass
    class Config(RMO.Config):
        margin_scale: Literal["standardized", "raw"] = "raw"
        alpha: float = 5.0  # α of Eq. 14 for SimPO's length-normalised margins (paper)
        base_config: dict[str, Any] = dataclasses.field(default_factory=dict)  # the simpo options
