"""The data contracts shared by the trainer, the methods and the suites (``docs/architecture.md``, "Contracts")."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from torch import Tensor

if TYPE_CHECKING:
    from harness.packing import Packed


#: the per-sequence values an implicit-reward model (``harness.models.ImplicitRewardModel``) gives
#: ``RewardMethod.score``, in this column order: Σ_t logπ(y_t|x, y_<t) over the response tokens, the same under the
#: reference (0 without one), the number of those tokens |y|, and ‖(logπ(y_t|…))_t‖₂ (reward-bench's ``norm``)
IMPLICIT_COLUMNS = ("logp", "ref_logp", "n_tokens", "logp_l2")


@dataclass(frozen=True)
class RewardOutput:
    """What the model produced for a batch of B preference pairs."""

    chosen: Tensor  # [B] rewards r(x, y_w); [B, K] for multi-member (ensemble) heads
    rejected: Tensor  # [B] rewards r(x, y_l)
    chosen_hidden: Tensor | None = None  # [B, H] last hidden state at the last non-pad token of (x, y_w)
    rejected_hidden: Tensor | None = None  # [B, H] same for (x, y_l)
    # e.g. "logp_chosen", "ref_logp_rejected" (summed response log-probs), "len_chosen" (response tokens |y|)
    extra: Mapping[str, Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class LossOutput:
    loss: Tensor  # scalar
    metrics: Mapping[str, Tensor] = field(default_factory=dict)  # e.g. {"accuracy": …, "margin_mean": …}


@dataclass
class PreferenceBatch:
    """B tokenised pairs stacked as 2B sequences: rows [0, B) are chosen, rows [B, 2B) the rejected.

    Stacking lets the model score chosen and rejected in one forward pass. A packed batch
    (``harness.packing.Packed``: no padding, each prompt once) has ``packed`` set instead of the three padded
    tensors (None); its sequences are in the same order: the B chosen, then the B rejected.
    """

    input_ids: Tensor | None  # [2B, L]
    attention_mask: Tensor | None  # [2B, L]
    response_mask: Tensor | None  # [2B, L] 1 on response tokens (prompt and padding masked)
    index: Tensor  # [B] row index in the training dataset
    margin: Tensor | None = None  # [B] per-row margin column, when the data has one
    columns: Mapping[str, Tensor] = field(default_factory=dict)  # [B] each: per-row values a method added
    packed: "Packed | None" = None

    @property
    def n_pairs(self) -> int:
        return self.index.shape[0]

    def to(self, device) -> "PreferenceBatch":
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return PreferenceBatch(move(self.input_ids), move(self.attention_mask), move(self.response_mask),
                               move(self.index), move(self.margin), {k: move(v) for k, v in self.columns.items()},
                               None if self.packed is None else self.packed.to(device))
