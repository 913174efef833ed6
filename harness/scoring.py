"""Batched reward scoring for evaluation: sorted by length, padded per batch, independent of the batch size."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from harness.atomic import write_tensors_atomic
from harness.data.encode import EncodedPairs, Encoder, encode_pairs, pad_sequences, padded_width
from harness.packing import can_pack, pack, segments
from harness.progress import progress_bar
from harness.types import PreferenceBatch, RewardOutput

#: the batch columns of cached reference log-probs (``Trainer.prepare_data``), read by :func:`reward_output`
REF_COLUMNS = ("ref_logp_chosen", "ref_logp_rejected")


def reward_output(model, batch: PreferenceBatch, requires: frozenset[str] = frozenset(),
                  reference=None) -> RewardOutput:
    """Run the model once on the stacked chosen + rejected sequences (padded, or packed: ``batch.packed``, whose
    log-probs are read at its ``predictors``) and split the result per pair.

    ``requires`` (a method's declared needs) decides what else is computed: ``lm_logprobs`` adds the summed
    response-token log-probabilities under the model's LM head as ``extra["logp_chosen"|"logp_rejected"]`` and the
    response token counts |y| as ``extra["len_chosen"|"len_rejected"]``; ``ref_logprobs`` adds the same log-probs
    under the reference as ``extra["ref_logp_chosen"|"ref_logp_rejected"]``: from the batch's columns of those names
    when the trainer cached them (computed once per pair), else from ``reference`` (a
    ``RewardModel.frozen_reference()``, scored in its ``as_reference()`` mode, without gradient).
    """
    b = batch.n_pairs
    packed = batch.packed

    def logprobs_and_lengths(lm_logits: Tensor) -> tuple[Tensor, Tensor]:
        """Σ logπ over each response and |y|, from padded logits [N, L, V] or packed ones at ``predictors``."""
        if packed is None:
            logp = sequence_logprobs(lm_logits, batch.input_ids, batch.response_mask)
            return logp, response_tokens(batch.response_mask).to(logp.dtype)
        per_token = packed_token_logprobs(lm_logits, packed)
        return packed.response_sums(per_token), packed.response_sums(torch.ones_like(per_token))

    extra = {}
    if "ref_logprobs" in requires:  # first, so its logits are freed before the policy's graph is built
        if all(k in batch.columns for k in REF_COLUMNS):
            extra = {k: batch.columns[k].to(torch.float32) for k in REF_COLUMNS}
        elif reference is None:
            raise ValueError("ref_logprobs are required but reward_output() was given no reference model")
        else:
            with reference.as_reference():
                logp = logprobs_and_lengths(reference(batch.input_ids, batch.attention_mask, True, packed=packed)[2])[0]
            extra = dict(zip(REF_COLUMNS, (logp[:b], logp[b:])))
    want_logits = "lm_logprobs" in requires
    outputs = model(batch.input_ids, batch.attention_mask, want_logits, packed=packed)
    rewards, hidden = outputs[0], outputs[1]
    if want_logits:
        logp, n_tokens = logprobs_and_lengths(outputs[2])
        extra.update(logp_chosen=logp[:b], logp_rejected=logp[b:], len_chosen=n_tokens[:b], len_rejected=n_tokens[b:])
    return RewardOutput(rewards[:b], rewards[b:], hidden[:b], hidden[b:], extra)


def token_logprobs(logits: Tensor, input_ids: Tensor, response_mask: Tensor) -> Tensor:
    """log π(y_t | x, y_<t) of each next token, 0 outside the response (prompt and padding masked): [N, L−1]."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return logp.gather(-1, input_ids[:, 1:, None]).squeeze(-1) * response_mask[:, 1:]


def sequence_logprobs(logits: Tensor, input_ids: Tensor, response_mask: Tensor) -> Tensor:
    """Σ_t log π(y_t | x, y_<t) over response tokens only (prompt and padding masked): [N]."""
    return token_logprobs(logits, input_ids, response_mask).sum(-1)


def response_tokens(response_mask: Tensor) -> Tensor:
    """|y|: the response tokens whose log-probs :func:`sequence_logprobs` sums (a response's first token is
    predicted from the last prompt token): [N]."""
    return response_mask[:, 1:].sum(-1)


def implicit_columns(logits: Tensor, input_ids: Tensor, response_mask: Tensor,
                     ref_logits: Tensor | None = None) -> Tensor:
    """The columns :data:`harness.types.IMPLICIT_COLUMNS` of each sequence: Σ logπ, Σ logπ_ref (0 without a
    reference), |y| and ‖(logπ_t)_t‖₂: [N, 4]."""
    per_token = token_logprobs(logits, input_ids, response_mask)
    ref = (torch.zeros_like(per_token[:, 0]) if ref_logits is None
           else sequence_logprobs(ref_logits, input_ids, response_mask))
    return torch.stack([per_token.sum(-1), ref, response_tokens(response_mask).to(per_token.dtype),
                        per_token.norm(dim=-1)], dim=-1)


def packed_token_logprobs(logits: Tensor, packed) -> Tensor:
    """log π(y_t | x, y_<t) of every response token of a ``harness.packing.Packed`` batch, from the LM logits at its
    ``predictors`` ([T, V], ``RewardModel.forward_packed``): [T], the tokens :func:`token_logprobs` keeps."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, packed.targets[:, None]).squeeze(-1)


def packed_implicit_columns(logits: Tensor, packed, ref_logits: Tensor | None = None) -> Tensor:
    """:func:`implicit_columns` of the sequences of a packed batch, from logits at its ``predictors``: [N, 4]."""
    per_token = packed_token_logprobs(logits, packed)
    ref = (torch.zeros(len(packed.readout), device=per_token.device) if ref_logits is None
           else packed.response_sums(packed_token_logprobs(ref_logits, packed)))
    return torch.stack([packed.response_sums(per_token), ref, packed.response_sums(torch.ones_like(per_token)),
                        packed.response_sums(per_token.square()).sqrt()], dim=-1)


def token_budget_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices in batches, longest first, each filling the token budget of its first batch: ``batch_size``
    sequences of the longest length (padded to a multiple of 8, as ``pad_sequences`` does).

    Batches of shorter sequences hold more of them, so a batch never has more (padded) tokens, nor more attention
    entries, than the first; on data of mixed length this needs several times fewer forward passes."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    budget = batch_size * padded_width(lengths[order[0]]) if order else 0
    batches, start = [], 0
    while start < len(order):
        size = max(batch_size, budget // padded_width(lengths[order[start]]))
        batches.append(order[start: start + size])
        start += size
    return batches


def distinct(seqs: list[tuple[list[int], int]]) -> tuple[list[tuple[list[int], int]], list[int]]:
    """The distinct (token ids, response start) of ``seqs`` in first-seen order, and for each input its index there."""
    position: dict[tuple, int] = {}
    inverse = [position.setdefault((tuple(ids), start), len(position)) for ids, start in seqs]
    return [(list(ids), start) for ids, start in position], inverse


def packed_batches(seqs: list[tuple[list[int], int]], batch_size: int) -> list[list[int]]:
    """Indices in batches for :func:`harness.packing.pack`: the sequences sharing a prompt stay together (their
    prompt is computed once), prompt groups largest first, each batch filling the token budget of
    :func:`token_budget_batches` (``batch_size`` sequences of the longest length)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for j, (ids, start) in enumerate(seqs):
        groups.setdefault(tuple(ids[:max(start, 1)]), []).append(j)
    members = sorted(groups.values(), key=lambda g: -sum(len(seqs[j][0]) for j in g))
    budget = batch_size * padded_width(max(len(ids) for ids, _ in seqs)) if seqs else 0
    batches, current, used = [], [], 0
    for group in members:
        size = sum(len(p) + sum(len(r) for _, r in b) for p, b in segments([seqs[j] for j in group]))
        if current and used + size > budget:
            batches.append(current)
            current, used = [], 0
        current += group
        used += size
    return batches + ([current] if current else [])


@torch.no_grad()
def longest_first(model, seqs: list[tuple[list[int], int]], pad_id: int, batch_size: int, compute,
                   description: str, show_progress: bool, compute_packed=None) -> list[Tensor]:
    """Apply ``compute(input_ids, attention_mask, response_mask) -> tuple of [n, …] tensors`` in eval mode to the
    sequences in ``token_budget_batches`` (similar lengths, longest first: little padding); returns each output in
    input order. A sequence that occurs several times (a response in several pairs of a ranking, RM-Bench's 3 × 3
    comparisons) is computed once. With ``compute_packed(packed) -> tuple of [n, …] tensors`` and a model that
    :func:`harness.packing.can_pack`, the batches are packed instead (:func:`packed_batches`: no padding, each
    prompt once)."""
    unique, inverse = distinct(seqs)
    device = next(model.parameters()).device
    parts: list[Tensor] = []
    was_training = model.training
    model.eval()
    packed = compute_packed is not None and can_pack(model)
    batches = (packed_batches(unique, batch_size) if packed
               else token_budget_batches([len(ids) for ids, _ in unique], batch_size))
    with progress_bar(show_progress) as bar:
        task = bar.add_task(description, total=len(unique))
        for rows in batches:
            chunk = [unique[i] for i in rows]
            if packed:
                outputs = [o.float().cpu() for o in compute_packed(pack(chunk, pad_id).to(device))]
            else:
                outputs = [o.float().cpu() for o in compute(*(t.to(device) for t in pad_sequences(chunk, pad_id)))]
            if not parts:
                parts = [torch.empty((len(unique), *o.shape[1:])) for o in outputs]
            for part, o in zip(parts, outputs):
                part[rows] = o
            bar.advance(task, len(rows))
    model.train(was_training)
    return [part[inverse] for part in parts]


KEY_BYTES = 16  # the length of a sequence_key


def weights_digest(module) -> str:
    """A BLAKE2b digest of a module's parameters and buffers (names, dtypes, shapes and values): the identity of the
    model whose outputs a saved :class:`ScoreCache` holds."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def sequence_key(ids: list[int], start: int) -> bytes:
    """The key of a sequence in a :class:`ScoreCache`: a 128-bit BLAKE2b digest of its token ids and response start
    (16 bytes however long the sequence; an implicit-reward model reads the response span, so the start is part
    of what is scored)."""
    digest = hashlib.blake2b(np.asarray(ids, dtype=np.int64).tobytes(), digest_size=KEY_BYTES)
    digest.update(int(start).to_bytes(8, "little", signed=True))
    return digest.digest()


class ScoreCache:
    """The raw outputs (:func:`score_sequences`: [members] or :data:`harness.types.IMPLICIT_COLUMNS` floats) of the
    sequences one model has already scored, so that a sequence scored once in an evaluation (the ``id`` split that
    ``id`` and then ``splits`` score, a best-of-N sample drawn twice) is never scored again.

    Keyed by :func:`sequence_key` of the exact encoded input (token ids after the chat template and truncation, and
    the response start), so a hit returns what the model gave that sequence; the model is padding- and
    packing-invariant, so that is what scoring it fresh in any other batch gives, to float rounding (a few units in
    the last place of a float32 reward, ≤ 1e-6 relative: ``tests/unit/test_score_cache.py``). Raw outputs are
    cached, not rewards, so ``method.score`` always sees the outputs of the whole request. Memory is bounded: a
    16-byte key and a few float32 per sequence, at most ``max_entries`` sequences (about 135 bytes each with the
    dict, measured: 67 MB when full; once full, new sequences are scored and not kept). One cache belongs to one
    model: using it with another raises ``ValueError``."""

    def __init__(self, max_entries: int = 500_000):
        self.max_entries = max_entries
        self.computed = 0  # sequences the model scored through the cache
        self.reused = 0  # sequences not scored: in the cache, or repeated within one request
        self._index: dict[bytes, int] = {}  # key → row of the cached outputs
        self._chunks: list[Tensor] = []  # the cached outputs in row order, joined on the next lookup
        self._model = None

    def __len__(self) -> int:
        return len(self._index)

    def save(self, path) -> None:
        """Write the cached outputs to ``path`` (atomically), for :meth:`load` in another process."""
        keys = sorted(self._index, key=self._index.get)
        values = torch.cat(self._chunks) if self._chunks else torch.empty(0)
        write_tensors_atomic(path, {"keys": b"".join(keys), "values": values})

    @classmethod
    def load(cls, path, max_entries: int = 500_000) -> ScoreCache:
        """The cache :meth:`save` wrote at ``path``; an empty one when there is no such file."""
        cache = cls(max_entries)
        if Path(path).exists():
            saved = torch.load(path, weights_only=True)
            keys = saved["keys"]
            cache._index = {keys[i: i + KEY_BYTES]: row for row, i in enumerate(range(0, len(keys), KEY_BYTES))}
            cache._chunks = [saved["values"]] if cache._index else []
        return cache

    def _lookup(self, keys: list[bytes]) -> Tensor:
        if len(self._chunks) > 1:
            self._chunks = [torch.cat(self._chunks)]
        return self._chunks[0][[self._index[k] for k in keys]]

    def outputs(self, model, seqs: list[tuple[list[int], int]], compute) -> Tensor:
        """The raw outputs of ``seqs`` in input order: those of the sequences not in the cache from
        ``compute(missing seqs) -> Tensor [n, …]`` (each distinct sequence once), the others from the cache."""
        if self._model is None:
            self._model = model
        elif self._model is not model:
            raise ValueError("a ScoreCache holds the scores of one model; this is another")
        keys = [sequence_key(ids, start) for ids, start in seqs]
        fresh: dict[bytes, int] = {}  # key → its row in what compute returns
        todo = []
        for seq, key in zip(seqs, keys):
            if key not in self._index and key not in fresh:
                fresh[key] = len(todo)
                todo.append(seq)
        self.computed += len(todo)
        self.reused += len(keys) - len(todo)
        if not todo:
            return self._lookup(keys)
        computed = compute(todo)
        out = torch.empty((len(keys), *computed.shape[1:]), dtype=computed.dtype)
        if cached := [j for j, k in enumerate(keys) if k not in fresh]:
            out[cached] = self._lookup([keys[j] for j in cached])
        new = [j for j, k in enumerate(keys) if k in fresh]
        out[new] = computed[[fresh[keys[j]] for j in new]]
        kept = list(fresh)[:max(0, self.max_entries - len(self._index))]
        if kept:
            self._index.update(zip(kept, range(len(self._index), len(self._index) + len(kept))))
            self._chunks.append(computed[:len(kept)].clone())
        return out


def score_sequences(model, seqs: list[tuple[list[int], int]], pad_id: int, batch_size: int,
                    description: str = "scoring", show_progress: bool = True, with_hidden: bool = False,
                    packing: bool = True, cache: ScoreCache | None = None):
    """Raw model outputs for each sequence (head outputs [N] or [N, members]; an implicit-reward model's
    :data:`harness.types.IMPLICIT_COLUMNS` [N, 4]), in input order; with ``with_hidden`` also the
    last-token hidden states [N, H] as a second result. ``packing``: packed batches when the model allows
    (:mod:`harness.packing`; an implicit-reward model reads its response tokens at ``Packed.predictors``), else
    padded ones.
    ``cache``: a :class:`ScoreCache` of this model; only the sequences it lacks are scored (not with
    ``with_hidden``: hidden states are not cached).

    Since the model is padding-invariant the result depends neither on ``batch_size`` nor on ``packing`` (beyond
    float rounding).
    """
    if cache is not None and with_hidden:
        raise ValueError("score_sequences: a ScoreCache holds raw outputs, not hidden states (with_hidden)")
    if not seqs:
        return (torch.empty(0), torch.empty(0, model.hidden_size)) if with_hidden else torch.empty(0)
    keep = 2 if with_hidden else 1
    if getattr(model, "scores_responses", False):  # an implicit-reward model reads the response span
        compute = lambda ids, mask, response: model(ids, mask, response)[:keep]  # noqa: E731
        compute_packed = lambda packed: model(None, None, None, packed=packed)[:keep]  # noqa: E731
    else:
        compute = lambda ids, mask, _: model(ids, mask)[:keep]  # noqa: E731
        compute_packed = lambda packed: model(None, None, packed=packed)[:keep]  # noqa: E731

    def run(todo: list[tuple[list[int], int]]) -> list[Tensor]:
        return longest_first(model, todo, pad_id, batch_size, compute, description, show_progress,
                             compute_packed if packing else None)

    if cache is not None:
        return cache.outputs(model, seqs, lambda todo: run(todo)[0])
    parts = run(seqs)
    return tuple(parts) if with_hidden else parts[0]


def response_logprobs(model, seqs: list[tuple[list[int], int]], pad_id: int, batch_size: int,
                      description: str = "log-probs", show_progress: bool = True) -> Tensor:
    """logπ(y|x), the summed response-token log-probs of each sequence under the model's LM head: [N]."""
    if not seqs:
        return torch.empty(0)

    def compute(ids, mask, response):
        return (sequence_logprobs(model(ids, mask, return_lm_logits=True)[2], ids, response),)

    def compute_packed(packed):
        return (packed.response_sums(packed_token_logprobs(model(None, None, True, packed=packed)[2], packed)),)

    return longest_first(model, seqs, pad_id, batch_size, compute, description, show_progress, compute_packed)[0]


def sequence_rewards(model, method, seqs: list[tuple[list[int], int]], pad_id: int, batch_size: int,
                     description: str = "scoring", show_progress: bool = True,
                     cache: ScoreCache | None = None) -> Tensor:
    """Inference rewards (``method.score`` of :func:`score_sequences`) of encoded sequences: [N], in input order.
    The one scoring path of the suites (with the evaluation's ``cache``) and of ``rmbench serve``."""
    return method.score(score_sequences(model, seqs, pad_id, batch_size, description, show_progress, cache=cache))


@dataclass
class Scorer:
    """A loaded reward model ready to score text, as the suites score it: the model, the method (whose ``score``
    turns head outputs into rewards), the encoder and the scoring batch size. Encoding and scoring are separate
    steps, so a caller can encode requests as they come and score many of them in one call (``rmbench serve``)."""

    model: object
    method: object
    encoder: Encoder
    batch_size: int = 64

    def encode(self, prompts: list, responses: list[str]) -> tuple[list[tuple[list[int], int]], list[bool]]:
        """Sequences of (prompt, response) rendered with the model's chat template (:meth:`Encoder.texts`), and for
        each whether it was truncated."""
        return self.encoder.encode_texts([self.encoder.texts(p, r) for p, r in zip(prompts, responses)])

    def encode_rendered(self, texts: list[str], prompts: list[str] | None = None):
        """Sequences of conversations already rendered as text (:meth:`Encoder.split_rendered`; ``prompts``: the
        rendered prompt each text starts with, when known), and for each whether it was truncated."""
        prompts = prompts if prompts is not None else [None] * len(texts)
        return self.encoder.encode_texts([self.encoder.split_rendered(t, p) for t, p in zip(texts, prompts)])

    def rewards(self, seqs: list[tuple[list[int], int]]) -> list[float]:
        """:func:`sequence_rewards` of encoded sequences, without a progress bar."""
        return sequence_rewards(self.model, self.method, seqs, self.model.tokenizer.pad_token_id, self.batch_size,
                                show_progress=False).tolist()


def score_pairs(model, method, data: EncodedPairs, pad_id: int, batch_size: int,
                show_progress: bool = True, description: str = "scoring pairs",
                cache: ScoreCache | None = None) -> tuple[Tensor, Tensor]:
    """Inference rewards (``method.score``) of the chosen and rejected responses of every pair."""
    scores = sequence_rewards(model, method, data.chosen + data.rejected, pad_id, batch_size, description,
                              show_progress, cache)
    return scores[: len(data)], scores[len(data):]


def score_pair_rows(ctx, rows: list[dict], description: str) -> tuple[list[int], Tensor, Tensor]:
    """Encode (:func:`~harness.data.encode.encode_pairs`) and score preference rows for a suite: (indices of
    identical-after-truncation pairs, which are not scored, chosen scores, rejected scores for the remaining rows in
    order). A sequence already in ``ctx.score_cache`` (scored earlier in this evaluation) is not scored again."""
    scored, identical = encode_pairs(rows, ctx.encoder).without_identical()
    chosen, rejected = score_pairs(ctx.model, ctx.method, scored, ctx.model.tokenizer.pad_token_id, ctx.batch_size,
                                   ctx.show_progress, description, ctx.score_cache)
    return identical, chosen, rejected


def score_response_lists(ctx, prompts: list, responses: list[list[str]], description: str,
                         with_identical: bool = False):
    """Scores of several responses per prompt (ranking, style and best-of-N sets), in input order; with
    ``with_identical`` also the indices of the prompts where two responses are identical after truncation. A
    sequence already in ``ctx.score_cache`` is not scored again."""
    flat_prompts = [p for p, rs in zip(prompts, responses) for _ in rs]
    seqs = ctx.encoder.encode(flat_prompts, [r for rs in responses for r in rs])
    flat = sequence_rewards(ctx.model, ctx.method, seqs, ctx.model.tokenizer.pad_token_id, ctx.batch_size,
                            description, ctx.show_progress, ctx.score_cache).tolist()
    out, identical, start = [], [], 0
    for i, rs in enumerate(responses):
        out.append(flat[start: start + len(rs)])
        if len({(tuple(ids), begin) for ids, begin in seqs[start: start + len(rs)]}) < len(rs):
            identical.append(i)
        start += len(rs)
    return (out, identical) if with_identical else out
