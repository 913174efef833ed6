"""The models of implicit-reward runs (the DPO family, ``RewardMethod.implicit``): the starting policy, the frozen
reference and the scorer every suite sees.

- The policy a run trains starts from the world's policy of ``model.backbone``
  (:func:`harness.rl.sft.default_policy`: the SFT policy of a tiny base, ``tiny`` → ``tiny-sft`` built for the run's
  world seed; any other causal LM is its own policy), so ``rmbench train dpo --preset tiny`` runs DPO on the SFT
  policy, as the RMO paper's Table 2 runs it on its SFT models.
- The reference is ``model.ref`` when set (any causal LM with the policy's tokenizer), else the starting policy.
- At evaluation the policy (the run's checkpoint, or any causal LM given to ``rmbench eval --model DIR --kind dpo``)
  is wrapped with the reference in :class:`harness.models.ImplicitRewardModel`.
"""
from __future__ import annotations

import dataclasses

from harness.config import LoraSettings, ModelConfig, RunConfig
from harness.errors import ConfigError
from harness.models import ImplicitRewardModel, RewardModel, load_backbone, load_tokenizer, same_tokenizer
from harness.rl.policy import policy_source
from harness.rl.sft import default_policy


def policy_spec(backbone: str, world_seed: int = 0, world_version: int = 2) -> str:
    """What ``from_pretrained`` accepts for the starting policy of ``backbone`` (see the module docstring; a tiny
    base's SFT policy of world ``world_version``)."""
    return policy_source(default_policy(backbone), world_seed, world_version)


def policy_config(cfg: RunConfig) -> ModelConfig:
    """The model config an implicit-reward run builds its policy from: ``model.backbone`` replaced by the directory
    of its starting policy (the run's identity keeps the spec as given)."""
    return dataclasses.replace(cfg.model, backbone=policy_spec(cfg.model.backbone, cfg.data.world.seed,
                                                               cfg.data.world.version))


def load_causal_lm(spec: str, cfg: ModelConfig, *, world_seed: int = 0, world_version: int = 2,
                   setting: str) -> RewardModel:
    """A causal LM (a policy or reference spec, resolved like :func:`policy_spec`) as a ``RewardModel`` with its LM
    head, whole (no LoRA), its own tokenizer and chat template; ``setting`` names the option in errors."""
    source = policy_spec(spec, world_seed, world_version)
    model_cfg = dataclasses.replace(cfg, backbone=source, lora=LoraSettings())
    backbone = load_backbone(source, model_cfg, True, name=spec, purpose=f"{setting} (an implicit reward)")
    return RewardModel(model_cfg, backbone, load_tokenizer(source, model_cfg), source=source, need_lm_head=True)


def frozen(model: RewardModel) -> RewardModel:
    model.eval().requires_grad_(False)
    return model


def reference_model(cfg: RunConfig, policy: RewardModel, *, fresh: bool) -> RewardModel:
    """The frozen reference of an implicit-reward run whose policy is ``policy``: ``model.ref``, checked to share
    the policy's tokenizer; else, for a ``fresh`` (untrained) policy, its frozen initial state
    (``RewardModel.frozen_reference``: with LoRA the policy itself, adapter disabled), and for a trained one the
    starting policy loaded anew."""
    seed, version = cfg.data.world.seed, cfg.data.world.version
    if cfg.model.ref:
        reference = frozen(load_causal_lm(cfg.model.ref, cfg.model, world_seed=seed, world_version=version,
                                          setting="model.ref"))
        if not same_tokenizer(reference.tokenizer, policy.tokenizer):
            raise ConfigError(f"model.ref: the reference {cfg.model.ref!r} has another tokenizer than the policy "
                              f"{cfg.model.backbone!r}; an implicit reward compares log-probs of the same tokens")
        return reference
    if fresh:
        return policy.frozen_reference()
    return frozen(load_causal_lm(cfg.model.backbone, cfg.model, world_seed=seed, world_version=version,
                                 setting="the policy"))


def implicit_scorer(policy, cfg: RunConfig, method) -> ImplicitRewardModel:
    """The model the suites score an implicit-reward run with: ``policy`` (a trained ``RewardModel``, or already
    a scorer) with its reference when ``method.score_needs_reference``."""
    if isinstance(policy, ImplicitRewardModel):
        return policy
    reference = reference_model(cfg, policy, fresh=False) if method.score_needs_reference else None
    device = next(policy.parameters()).device
    return ImplicitRewardModel(policy, None if reference is None else reference.to(device))
