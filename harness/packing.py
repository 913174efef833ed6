"""Padding-free packed batches for causal-LM reward models: no padding computed, a shared prompt computed once.

Sequences that start with the same prompt (``ids[:response_start]``: the two sides of a preference pair, the
responses of one ranking prompt) become one *segment*: the prompt once, then each response as a *branch*. Segments
are laid end to end in rows (first-fit decreasing into rows as wide as the longest segment), and one boolean
attention mask keeps attention inside a segment, causal, and a branch from seeing the other branches::

    token q may attend to token k  ⇔  same segment, k ≤ q, and (k is prompt, or k is in q's branch)

Position ids restart at 0 in every segment and continue from the prompt's length in every branch, so each token
sees exactly the tokens and positions it sees in its own unpadded sequence: under causal attention its hidden state,
hence the reward read at a sequence's last token, is the same function as in a padded batch (equal to float rounding,
``tests/unit/test_packing.py``). This is the position-ids packing of trl's padding-free collators / transformers'
``DataCollatorWithFlattening`` and OpenRLHF's ``--packing_samples``, plus the shared-prompt forward: passing an
explicit 4-D mask keeps it exact with the ``sdpa`` and ``eager`` attention of any transformers decoder (the packed
detection from position ids alone cannot express branches) and needs no flash-attn. Encoders attend both ways, so a
suffix would change its prompt's states: they keep padded batches (:func:`can_pack`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def padded_width(length: int, multiple_of: int = 8) -> int:
    """``length`` rounded up to a multiple of ``multiple_of`` (at least one multiple)."""
    return -(-max(length, 1) // multiple_of) * multiple_of


@dataclass
class Packed:
    """Packed rows of sequences. ``readout[j]``: the flat index (row · width + column) of sequence j's last token."""

    input_ids: Tensor  # [R, W]
    position_ids: Tensor  # [R, W]
    attention_mask: Tensor  # [R, 1, W, W] bool: True where attention is allowed
    readout: Tensor  # [N]
    real_tokens: int  # tokens computed that are not padding (prompts counted once)
    # the response tokens of all sequences, T in all (the tokens ``harness.scoring.sequence_logprobs`` sums): the
    # flat index of the token that predicts each (the last prompt token for a response's first), its id and its
    # sequence
    predictors: Tensor | None = None  # [T]
    targets: Tensor | None = None  # [T]
    owners: Tensor | None = None  # [T]

    def to(self, device) -> Packed:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Packed(self.input_ids.to(device), self.position_ids.to(device), self.attention_mask.to(device),
                      self.readout.to(device), self.real_tokens, move(self.predictors), move(self.targets),
                      move(self.owners))

    def response_sums(self, per_token: Tensor) -> Tensor:
        """Σ over each sequence's response tokens of ``per_token`` [T] (in ``predictors`` order): [N], accumulated in
        float64 (a sum of a hundred float32 log-probs otherwise rounds at ~1e-5)."""
        sums = torch.zeros(len(self.readout), dtype=torch.float64, device=per_token.device)
        return sums.index_add_(0, self.owners, per_token.double()).to(per_token.dtype)


def can_pack(model) -> bool:
    """Whether ``model`` (a reward model or an ensemble of them) is a causal LM, whose packed rewards are exact."""
    members = getattr(model, "members", None) or [model]
    return all(getattr(m, "is_causal_lm", False) for m in members)


def segments(seqs: list[tuple[list[int], int]]) -> list[tuple[list[int], list[tuple[int, list[int]]]]]:
    """Group sequences (ids, response start) by their prompt ``ids[:start]``: per segment the prompt ids and its
    branches (sequence index, response ids), in first-seen order."""
    by_prompt: dict[tuple[int, ...], list[tuple[int, list[int]]]] = {}
    for j, (ids, start) in enumerate(seqs):
        start = min(max(start, 1), len(ids))  # at least one prompt token: a branch needs a token to attend to
        by_prompt.setdefault(tuple(ids[:start]), []).append((j, ids[start:]))
    return [(list(prompt), branches) for prompt, branches in by_prompt.items()]


ROW_TOKENS = 256  # the least row width: on the tiny model 1.37x a padded step against 1.30x at 128 and 1.13x at
# 512 (docs/performance.md); wider rows hold more segments, but attention grows with the square of the width


def pack(seqs: list[tuple[list[int], int]], pad_id: int, multiple_of: int = 8,
         min_width: int = ROW_TOKENS) -> Packed:
    """Pack ``seqs`` (module docstring); rows are as wide as the longest segment or ``min_width``, rounded up to
    ``multiple_of``."""
    segs = segments(seqs)
    sizes = [len(prompt) + sum(len(r) for _, r in branches) for prompt, branches in segs]
    width = padded_width(max(max(sizes), min_width), multiple_of)
    fill: list[int] = []
    place = [0] * len(segs)  # segment → (row, column) as row * width + column
    for s in sorted(range(len(segs)), key=lambda s: -sizes[s]):
        row = next((r for r, used in enumerate(fill) if used + sizes[s] <= width), None)
        if row is None:
            row = len(fill)
            fill.append(0)
        place[s] = row * width + fill[row]
        fill[row] += sizes[s]
    rows = len(fill)
    ids = torch.full((rows * width,), pad_id, dtype=torch.long)
    positions = torch.zeros(rows * width, dtype=torch.long)
    segment = torch.full((rows * width,), -1, dtype=torch.long)
    branch = torch.zeros(rows * width, dtype=torch.long)  # 0: prompt (or padding), b ≥ 1: branch b
    readout = torch.zeros(len(seqs), dtype=torch.long)
    predictors: list[int] = []
    spots: list[int] = []
    owners: list[int] = []
    for s, (prompt, branches) in enumerate(segs):
        at = place[s]
        n = len(prompt)
        ids[at: at + n] = torch.tensor(prompt)
        positions[at: at + n] = torch.arange(n)
        segment[at: at + n] = s
        at += n
        for b, (j, response) in enumerate(branches, start=1):
            m = len(response)
            if m:
                ids[at: at + m] = torch.tensor(response)
                positions[at: at + m] = torch.arange(n, n + m)
                segment[at: at + m] = s
                branch[at: at + m] = b
                predictors += [place[s] + n - 1, *range(at, at + m - 1)]
                spots += range(at, at + m)
                owners += [j] * m
            readout[j] = at + m - 1 if m else place[s] + n - 1
            at += m
    segment, branch = segment.view(rows, width), branch.view(rows, width)
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    same = (segment[:, :, None] == segment[:, None, :]) & (segment[:, :, None] >= 0)
    visible = (branch[:, None, :] == 0) | (branch[:, None, :] == branch[:, :, None])
    pad_self = torch.eye(width, dtype=torch.bool) & (segment < 0)[:, :, None]  # padding sees itself: no empty row
    mask = (causal & same & visible) | pad_self
    spots = torch.tensor(spots, dtype=torch.long)  # where each response token sits
    return Packed(ids.view(rows, width), positions.view(rows, width), mask[:, None], readout, sum(sizes),
                  torch.tensor(predictors, dtype=torch.long), ids[spots], torch.tensor(owners, dtype=torch.long))

