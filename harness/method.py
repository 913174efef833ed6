"""The method plugin contract (``docs/architecture.md``, "Contracts").

A method is a ``RewardMethod`` subclass in one file of ``methods/`` (or an out-of-tree package advertising it in the
``rmbench.methods`` entry-point group), registered by name, with a nested dataclass ``Config`` that holds every
hyper-parameter with its documented default.

Its dataset hooks get a :class:`MethodContext`: everything they may ask the harness for (the run config, seeds,
process info, the margins of a proxy RM or of the starting model). A method imports nothing from the orchestrator.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np
from torch import Tensor

from harness.coerce import from_dict
from harness.data.encode import EncodedPairs
from harness.errors import ConfigError
from harness.registry import close_matches
from harness.types import LossOutput, PreferenceBatch, RewardOutput

if TYPE_CHECKING:  # the run config sits above the methods (it resolves their defaults): a type only
    from harness.config import RunConfig

#: what a method may ask the model for, beyond the rewards
REQUIREMENTS = frozenset({"hidden", "lm_logprobs", "ref_logprobs"})


@dataclasses.dataclass(frozen=True)
class ProxyMargins:
    """Δ = r(x, y_w) − r(x, y_l) of a trained proxy RM on each training pair, and the run that trained it."""

    run_id: str
    margins: np.ndarray  # [N], aligned with the pairs given to the hook


@dataclasses.dataclass(frozen=True)
class MethodContext:
    """What the harness offers a method's dataset hooks (``prepare_dataset``, ``batch_sampler``).

    Margins are aligned with the pairs the hook was given: for ``prepare_dataset`` the trainer's training pairs
    (encoded, identical-after-truncation pairs dropped), for ``batch_sampler`` what ``prepare_dataset`` returned.
    The trainer supplies the two callables; a method calls ``proxy_margins`` / ``base_margins``.
    """

    config: RunConfig  # the resolved run config (this model's: an ensemble member's seed)
    seed: int  # the run seed: initialisation, data order, any sampling a hook does
    data_seed: int  # fixes the validation hold-out and label flips (shared by ensemble members)
    process_index: int
    num_processes: int
    is_main_process: bool
    show_progress: bool
    _proxy: Callable[[str, dict[str, Any]], ProxyMargins] = dataclasses.field(repr=False)
    _base: Callable[[], np.ndarray] = dataclasses.field(repr=False)

    def proxy_margins(self, method: str = "bt", method_config: dict[str, Any] | None = None) -> ProxyMargins:
        """A ``method`` RM trained with this run's config on the full training set (trained once, then reused as a
        run of its own in the runs directory), and its Δ on every training pair."""
        return self._proxy(method, dict(method_config or {}))

    def base_margins(self) -> np.ndarray:
        """δ_base of the starting model on every training pair (``docs/methods.md``, RMO): the summed response log-prob
        gap logπ_base(y_w|x) − logπ_base(y_l|x) for a causal backbone, the freshly built RM's Δ for an encoder."""
        return self._base()


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
    #: an implicit-reward method (DPO family): the trained model is a causal-LM policy started from the world's
    #: policy of ``model.backbone`` (the SFT policy of a tiny base), its reward head is unused, and it is scored by
    #: ``score`` on the columns :data:`harness.types.IMPLICIT_COLUMNS` (``harness.models.ImplicitRewardModel``)
    implicit: ClassVar[bool] = False

    @dataclasses.dataclass
    class Config:
        pass

    def __init__(self, **overrides: Any):
        fields = [f.name for f in dataclasses.fields(self.Config)]
        unknown = [k for k in overrides if k not in fields]
        if unknown:
            key = unknown[0]
            raise ConfigError(f"unknown {self.name} config key {key!r}{close_matches(key, fields)}")
        # typed like the run config (an int given for a float field is that float), so `margin=0` and `margin=0.0`
        # are one configuration, hence one run identity
        self.config = from_dict(self.Config, overrides, "method_config")

    def loss(self, out: RewardOutput, batch: PreferenceBatch | None = None) -> LossOutput:
        raise NotImplementedError

    def score(self, rewards: Tensor) -> Tensor:
        """The reward used at inference from the model's output: the head's ([N] or [N, members]), or for an
        ``implicit`` method the columns [N, 4] of :data:`harness.types.IMPLICIT_COLUMNS`."""
        return rewards

    @property
    def score_needs_reference(self) -> bool:
        """Whether ``score`` reads the reference's log-probs (an ``implicit`` method scored with a reference)."""
        return False

    def policy_margin(self, logp_chosen: Tensor, logp_rejected: Tensor, len_chosen: Tensor,
                      len_rejected: Tensor) -> Tensor:
        """An ``implicit`` method's margin δ of a policy on a pair, without reference (RMO's Eq. 10 for DPO: the
        summed log-prob gap; SimPO: the length-normalised gap). What RMO's filter, batches and amplification use."""
        raise NotImplementedError(f"method {self.name!r} is not an implicit-reward method")

    def prepare_dataset(self, data: EncodedPairs, ctx: MethodContext) -> tuple[EncodedPairs, dict[str, Any]]:
        """Transform the encoded training pairs before training (e.g. RMO's denoising filter): returns the pairs to
        train on (a subset, and/or with per-row values added by ``data.with_column``) and statistics of what was
        done, which the trainer records in the run's result under ``train.<method name>``."""
        return data, {}

    def batch_sampler(self, data: EncodedPairs, ctx: MethodContext) -> tuple[Any, dict[str, Any]]:
        """A sampler (``batches(epoch) -> list[list[int]]``, one global batch per optimiser step) over the rows of
        ``prepare_dataset``'s output, or None for the trainer's default; and statistics, recorded as above."""
        return None, {}

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        return dataclasses.asdict(cls.Config())

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)
