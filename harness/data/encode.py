"""Tokenisation, truncation, padding and length-grouped batching of preference pairs.

A (prompt, response) becomes one token sequence. With a chat template, the template is applied once to
``[user, assistant]`` and split at the end of the generation prompt; without one (encoders such as MiniLM),
the sequence is ``[CLS|BOS] prompt [SEP|EOS] response [SEP|EOS]``. Truncation keeps the prompt head and the
response tail. The same code serves training and evaluation, so both see identical inputs.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from harness.errors import ConfigError
from harness.packing import pack, padded_width
from harness.types import PreferenceBatch

CHAT_TEMPLATE_CHOICES = ("auto", "none")


def set_chat_template(tokenizer, setting: str) -> None:
    """Apply ``model.chat_template`` to ``tokenizer``: ``auto`` keeps its own template (none if it has none),
    ``none`` removes it (the plain layout), anything else is the path of a Jinja template file to use instead."""
    if setting == "auto":
        return
    if setting == "none":
        tokenizer.chat_template = None
        return
    try:
        tokenizer.chat_template = Path(setting).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"model.chat_template: expected {' | '.join(CHAT_TEMPLATE_CHOICES)} or the path of a "
                          f"Jinja template file; cannot read {setting!r} ({e.strerror or e})") from e


def chat_template_sha256(tokenizer) -> str | None:
    """SHA-256 of the chat template the sequences are rendered with (None: the plain layout)."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return None
    text = template if isinstance(template, str) else repr(sorted(dict(template).items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _messages(text) -> list[dict]:
    return [{"role": "user", "content": text}] if isinstance(text, str) else list(text)


def _plain(text) -> str:
    return text if isinstance(text, str) else "\n".join(f"{m['role']}: {m['content']}" for m in text)


def _generation_prompt(tokenizer) -> str:
    """The text a chat template appends with ``add_generation_prompt=True`` (where the assistant's reply starts);
    empty when it appends nothing or cannot render a one-message conversation."""
    user = [{"role": "user", "content": "x"}]
    try:
        bare = tokenizer.apply_chat_template(user, tokenize=False)
        opened = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    except Exception:  # a template may reject a conversation without a system turn, …: no split by marker then
        return ""
    return opened[len(bare):] if opened.startswith(bare) else ""


@dataclass
class Encoder:
    """Turns (prompt, response) into token ids plus the response span, identically for training and scoring."""

    tokenizer: object
    max_length: int

    def __post_init__(self):
        tok = self.tokenizer
        self.chat = bool(getattr(tok, "chat_template", None))
        first = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id
        self.head = [] if first is None else [first]
        sep = tok.sep_token_id if tok.sep_token_id is not None else tok.eos_token_id
        self.sep = [] if sep is None else [sep]
        self.generation_prompt = _generation_prompt(tok) if self.chat else ""

    def texts(self, prompt, response: str) -> tuple[str, str]:
        """The prompt part and the response part of the formatted sequence."""
        if not self.chat:
            return _plain(prompt), response
        messages = _messages(prompt)
        head = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        full = self.tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": response}],
                                                  tokenize=False)
        if not full.startswith(head):
            raise ValueError("the chat template does not render the prompt as a prefix of the conversation")
        return head, full[len(head):]

    def split_rendered(self, text: str, prompt: str | None = None) -> tuple[str, str]:
        """(prompt part, response part) of a conversation already rendered as text (the query an RL trainer sends:
        its templated prompt followed by the response), for :meth:`encode_texts`.

        The split is at the end of ``prompt`` when the text starts with it (the prompt the trainer rendered), else
        after the last generation prompt of the chat template (``<|assistant|>\\n``, ``<|im_start|>assistant\\n``,
        …), else (no template, or no generation prompt in the text) the whole text is the response to an empty
        prompt. Left padding (leading pad tokens, as a trainer decodes a left-padded batch; not when the pad token is
        the BOS token) is dropped."""
        pad = getattr(self.tokenizer, "pad_token", None)
        if pad == getattr(self.tokenizer, "bos_token", None):  # a template may open with the BOS it pads with
            pad = None
        while pad and text.startswith(pad):
            text = text[len(pad):]
        if prompt is not None and text.startswith(prompt):
            return prompt, text[len(prompt):]
        at = text.rfind(self.generation_prompt) if self.generation_prompt else -1
        if at >= 0:
            end = at + len(self.generation_prompt)
            return text[:end], text[end:]
        return "", text

    def encode(self, prompts: list, responses: list[str]) -> list[tuple[list[int], int]]:
        """Token ids of each (prompt, response) and the index where its response starts.

        A rendered conversation is tokenized whole, as ``apply_chat_template(tokenize=True)`` tokenizes it (a
        token is not split at the prompt/response boundary); the response starts at the first token that ends past
        the prompt text (character offsets of a fast tokenizer; a slow one tokenizes the two parts apart)."""
        return self.encode_texts([self.texts(p, r) for p, r in zip(prompts, responses)])[0]

    def encode_texts(self, parts: list[tuple[str, str]]) -> tuple[list[tuple[list[int], int]], list[bool]]:
        """:meth:`encode` of (prompt part, response part) texts that are already formatted (:meth:`texts`, or text
        a trainer rendered with the same template), and for each whether it was truncated to ``max_length``."""
        tok = self.tokenizer
        if self.chat and getattr(tok, "is_fast", False):
            whole = tok([p + r for p, r in parts], add_special_tokens=False, return_offsets_mapping=True)
            split = [next((i for i, (_, end) in enumerate(offsets) if end > len(p)), len(ids))
                     for (p, _), ids, offsets in zip(parts, whole["input_ids"], whole["offset_mapping"])]
            pairs = [(ids[:k], ids[k:]) for ids, k in zip(whole["input_ids"], split)]
        else:
            p_ids = tok([p for p, _ in parts], add_special_tokens=False)["input_ids"] if parts else []
            r_ids = tok([r for _, r in parts], add_special_tokens=False)["input_ids"] if parts else []
            pairs = list(zip(p_ids, r_ids))
        joined = [self._join(p, r) for p, r in pairs]
        return [seq for seq, _ in joined], [cut for _, cut in joined]

    def _join(self, prompt: list[int], response: list[int]) -> tuple[tuple[list[int], int], bool]:
        head, sep = ([], []) if self.chat else (self.head, self.sep)
        budget = self.max_length - len(head) - 2 * len(sep)
        truncated = len(prompt) + len(response) > budget
        if truncated:
            keep_prompt = min(len(prompt), max(budget // 2, budget - len(response)))
            prompt = prompt[:keep_prompt]
            response = response[len(response) - (budget - keep_prompt):]
        ids = head + prompt + sep
        return (ids + response + sep, len(ids)), truncated


@dataclass
class EncodedPairs:
    """A tokenised preference dataset: ``chosen[i]`` / ``rejected[i]`` are (ids, response_start).

    ``columns`` holds per-row values a method adds in ``prepare_dataset`` (e.g. RMO's ``delta_proxy``); they follow
    the rows through ``subset`` and reach each batch as ``PreferenceBatch.columns``."""

    chosen: list[tuple[list[int], int]]
    rejected: list[tuple[list[int], int]]
    margin: list[float] | None = None
    columns: dict[str, list[float]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.chosen)

    def lengths(self) -> list[int]:
        return [max(len(c[0]), len(r[0])) for c, r in zip(self.chosen, self.rejected)]

    def identical(self) -> list[int]:
        """Rows whose chosen and rejected token sequences are identical (after truncation): they carry no preference,
        so they are neither trained on nor scored (suites count them as ``identical_after_truncation``)."""
        return [i for i, (c, r) in enumerate(zip(self.chosen, self.rejected)) if c[0] == r[0]]

    def without_identical(self) -> tuple["EncodedPairs", list[int]]:
        """These pairs less the :meth:`identical` ones (in order), and the indices of those."""
        identical = self.identical()
        if not identical:
            return self, []
        dropped = set(identical)
        return self.subset([i for i in range(len(self)) if i not in dropped]), identical

    def subset(self, rows: list[int]) -> "EncodedPairs":
        pick = lambda xs: None if xs is None else [xs[i] for i in rows]  # noqa: E731
        return EncodedPairs(pick(self.chosen), pick(self.rejected), pick(self.margin),
                            {name: pick(values) for name, values in self.columns.items()})

    def with_column(self, name: str, values) -> "EncodedPairs":
        """A copy with the per-row column ``name`` set to ``values`` (one float per row)."""
        values = [float(v) for v in values]
        if len(values) != len(self):
            raise ValueError(f"column {name!r} has {len(values)} values for {len(self)} rows")
        return replace(self, columns={**self.columns, name: values})


def encode_pairs(rows: list[dict], encoder: Encoder) -> EncodedPairs:
    """Tokenise preference rows. A row may carry ``prompt_rejected``: the rejected response's own conversation
    history, for judgments of a later turn where the two conversations differ before it (MT-Bench turn 2)."""
    margins = [float(r["margin"]) for r in rows] if rows and all("margin" in r for r in rows) else None
    return EncodedPairs(encoder.encode([r["prompt"] for r in rows], [r["chosen"] for r in rows]),
                        encoder.encode([r.get("prompt_rejected", r["prompt"]) for r in rows],
                                       [r["rejected"] for r in rows]), margins)


def pad_sequences(seqs: list[tuple[list[int], int]], pad_id: int, multiple_of: int = 8):
    """Right-pad to the longest sequence (rounded up to ``multiple_of``): ids, attention mask, response mask."""
    width = padded_width(max(len(ids) for ids, _ in seqs), multiple_of)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(seqs), width), dtype=torch.long)
    response = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, (ids, start) in enumerate(seqs):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
        response[row, start: len(ids)] = 1
    return input_ids, attention, response


class PairCollator:
    """Indices → ``PreferenceBatch`` with chosen and rejected stacked for one forward pass."""

    def __init__(self, data: EncodedPairs, pad_id: int):
        self.data, self.pad_id = data, pad_id

    def __call__(self, rows: list[int]) -> PreferenceBatch:
        seqs = [self.data.chosen[i] for i in rows] + [self.data.rejected[i] for i in rows]
        input_ids, attention, response = pad_sequences(seqs, self.pad_id)
        margin = None if self.data.margin is None else torch.tensor([self.data.margin[i] for i in rows])
        columns = {name: torch.tensor([values[i] for i in rows]) for name, values in self.data.columns.items()}
        return PreferenceBatch(input_ids, attention, response, torch.tensor(rows), margin, columns)


class PackedPairCollator(PairCollator):
    """Indices → a packed ``PreferenceBatch`` (``harness.packing``: no padding, a pair's shared prompt once)."""

    def __call__(self, rows: list[int]) -> PreferenceBatch:
        packed = pack([self.data.chosen[i] for i in rows] + [self.data.rejected[i] for i in rows], self.pad_id)
        margin = None if self.data.margin is None else torch.tensor([self.data.margin[i] for i in rows])
        columns = {name: torch.tensor([values[i] for i in rows]) for name, values in self.data.columns.items()}
        return PreferenceBatch(None, None, None, torch.tensor(rows), margin, columns, packed)


class LengthGroupedBatches:
    """Seeded global batches (one optimiser step each); with ``group_by_length`` a batch holds pairs of similar length.

    Rows are shuffled, cut into windows of 50 batches, sorted by length inside a window and batched; the batch
    order is shuffled again. Every row appears exactly once per epoch (the last batch may be smaller). The order
    depends only on (seed, epoch), which makes resumption exact. This is the default of the sampler contract:
    any object with ``batches(epoch) -> list[list[int]]`` (see ``RewardMethod.batch_sampler``).
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, group_by_length: bool = True):
        self.lengths, self.batch_size, self.seed, self.group = lengths, batch_size, seed, group_by_length

    def batches(self, epoch: int) -> list[list[int]]:
        rng = random.Random(self.seed * 100_003 + epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        if self.group:
            return length_grouped(order, self.lengths, self.batch_size, rng)
        return [order[s: s + self.batch_size] for s in range(0, len(order), self.batch_size)]


def length_grouped(order: list[int], lengths, batch_size: int, rng: random.Random) -> list[list[int]]:
    """``order`` (already shuffled) cut into windows of 50 batches, sorted by ``lengths[i]`` inside a window, batched,
    and the batches shuffled with ``rng``: batches of similar lengths (little padding) in a random order. Serves
    reward-model training (:class:`LengthGroupedBatches`) and the SFT policy build (``harness.rl.sft``)."""
    window = 50 * batch_size
    order = [i for s in range(0, len(order), window) for i in sorted(order[s: s + window], key=lengths.__getitem__)]
    batches = [order[s: s + batch_size] for s in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def split_global_batch(rows: list[int], rank: int, world_size: int, grad_accum: int) -> list[list[int]]:
    """This process's ``grad_accum`` micro-batches of one global batch (sizes differ by at most one).

    The global batch is cut into ``grad_accum`` micro-steps as one process would cut it, and each micro-step into
    ``world_size`` shares: at micro-step k all processes together hold the rows one process holds, so a statistic
    of the gathered batch (``bsr`` / ``aplot`` ``global_batch``) is the same on any number of processes. A global
    batch smaller than ``world_size × grad_accum`` (a short epoch tail) is filled by repeating its own rows, so that
    every process runs every micro-step and collective operations never wait on an idle rank.
    """
    if len(rows) < world_size * grad_accum:
        rows = [rows[i % len(rows)] for i in range(world_size * grad_accum)]
    return [_even_split(step, world_size)[rank] for step in _even_split(rows, grad_accum)]


def _even_split(rows: list[int], parts: int) -> list[list[int]]:
    """``rows`` cut into ``parts`` consecutive pieces whose sizes differ by at most one, larger pieces first."""
    size, extra = divmod(len(rows), parts)
    bounds = [k * size + min(k, extra) for k in range(parts + 1)]
    return [rows[bounds[k]: bounds[k + 1]] for k in range(parts)]
