"""The method plugin contract (ARCHITECTURE.md §2).

A method is a ``RewardMethod`` subclass in one file of ``methods/`` (or an out-of-tree package advertising it in the
``rmbench.methods`` entry-point group), registered by name, with a nested dataclass ``Config`` that holds every
hyper-parameter with its documented default.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from torch import Tensor

from harness.errors import ConfigError
from harness.registry import close_matches
from harness.types import LossOutput, PreferenceBatch, RewardOutput

#: what a method may ask the model for, beyond the rewards
REQUIREMENTS = frozenset({"hidden", "lm_logprobs", "ref_logprobs"})


class RewardMethod:
    """Base class: a pure loss over a batch of rewards, plus optional hooks that default to no-ops."""

    name: ClassVar[str]
    paper: ClassVar[str] = ""  # citation, e.g. "Li et al. 2025, APLOT, Eq. 5-8"
    summary: ClassVar[str] = ""  # one line for `rmbench methods`
    #: what the model must compute besides the rewards (⊆ REQUIREMENTS). The class attribute holds the needs under
    #: the default config (what ``rmbench methods`` lists); an instance may widen it for its own config in
    #: ``__init__`` (e.g. GRM's ``dpo`` regulariser adds "ref_logprobs"). The trainer reads the instance's.
    requires: frozenset[str] = frozenset()
    members: ClassVar[int] = 1  # models trained and scored together (ensembles > 1)
    #: bumped when the method's loss or hooks change what a run trains: part of the run identity (config_hash)
    version: ClassVar[str] = "1"
    #: run-config defaults the method needs (e.g. ``{"model": {"head": "mlp"}}``), applied below the preset
    config_defaults: ClassVar[dict[str, Any]] = {}

    @dataclasses.dataclass
    class Config:
        pass

    def __init__(self, **overrides: Any):
        fields = [f.name for f in dataclasses.fields(self.Config)]
        unknown = [k for k in overrides if k not in fields]
        if unknown:
            key = unknown[0]
            raise ConfigError(f"unknown {self.name} config key {key!r}{close_matches(key, fields)}")
        self.config = self.Config(**overrides)

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        raise NotImplementedError

    def score(self, rewards: Tensor) -> Tensor:
        """The reward used at inference from the model's head output ([N] or [N, members])."""
        return rewards

    def prepare_dataset(self, dataset, ctx):
        """Transform the training set before training (e.g. RMO's denoising filter)."""
        return dataset

    def batch_sampler(self, dataset, ctx):
        """A custom sampler yielding lists of row indices per optimiser step, or None for the trainer's default."""
        return None

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        return dataclasses.asdict(cls.Config())

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)
