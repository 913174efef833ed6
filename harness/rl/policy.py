"""The policy: a causal LM with its tokenizer, chat-formatted prompts and batched sampling."""
from __future__ import annotations

import torch

from harness.basemodel import resolve_backbone
from harness.config import ModelConfig
from harness.models import load_backbone, load_tokenizer
from harness.rl.prompts import END_OF_TURN_TOKENS, plain_prompt, prompt_ids, stop_token_ids  # noqa: F401 - the policy's prompts
from harness.rl.sft import SUFFIX, default_policy, ensure_sft_policy, is_sft_spec, policy_version
from harness.scoring import longest_first, sequence_logprobs

def policy_source(backbone: str, world_seed: int = 0, world_version: int = 2) -> str:
    """What ``from_pretrained`` accepts for a policy spec: the SFT policy of a tiny base (``tiny-sft``,
    ``tiny-micro-sft``; built for ``world_seed`` and ``world_version`` on first use, ``harness.rl.sft``), else as
    ``harness.basemodel.resolve_backbone``."""
    if is_sft_spec(backbone):
        return str(ensure_sft_policy(backbone[: -len(SUFFIX)], world_seed=world_seed, world_version=world_version))
    return resolve_backbone(backbone, world_version)


def load_policy(backbone: str, *, dtype: str = "fp32", trust_remote_code: bool = False, world_seed: int = 0,
                world_version: int = 2):
    """``(model, tokenizer)`` of a policy spec (``tiny``, ``tiny-sft``, ``smollm2``, a directory, a Hub id; see
    :func:`policy_source`) as a causal LM in eval mode, loaded like a reward model's backbone; the tokenizer pads on
    the left, as batched generation needs."""
    cfg = ModelConfig(backbone=backbone, dtype=dtype, trust_remote_code=trust_remote_code)
    source = policy_source(backbone, world_seed, world_version)
    model = load_backbone(source, cfg, True, name=backbone, purpose="a policy").eval()
    tokenizer = load_tokenizer(source, cfg)
    tokenizer.padding_side = "left"
    return model, tokenizer


def left_pad(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` of sequences padded on the left to the longest."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, s in enumerate(sequences):
        ids[i, width - len(s):] = torch.tensor(s, dtype=torch.long)
        mask[i, width - len(s):] = 1
    return ids, mask


def response_tokens(generated: torch.Tensor, stops: list[int]) -> list[list[int]]:
    """The generated tokens of each row up to and including its first stop token (the rest is padding)."""
    out = []
    for row in generated.tolist():
        end = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
        out.append(row[:end])
    return out


@torch.no_grad()
def generate(model, tokenizer, prompt_token_ids: list[list[int]], *, max_new_tokens: int, temperature: float = 1.0,
             top_p: float = 1.0) -> list[list[int]]:
    """Sample one response per prompt (uses the global torch RNG: seed it first); returns the response tokens,
    each ending at its first stop token when one was produced within ``max_new_tokens``."""
    stops = stop_token_ids(tokenizer)
    ids, mask = left_pad(prompt_token_ids, tokenizer.pad_token_id)
    device = next(model.parameters()).device
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0} if temperature > 0 \
        else {"do_sample": False}
    out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                         eos_token_id=stops, pad_token_id=tokenizer.pad_token_id, **sampling)
    return response_tokens(out[:, ids.shape[1]:].cpu(), stops)


def sample_tokens(model, tokenizer, prompts: list[str], n: int, *, max_new_tokens: int, temperature: float = 1.0,
                  top_p: float = 1.0, seed: int = 0, batch_size: int = 64, progress=None) -> list[list[list[int]]]:
    """``n`` sampled responses per prompt as token ids (each ending at its stop token, when one came); deterministic
    for a seed. ``progress(k)`` is called after each batch of ``k`` generations."""
    flat = [p for p in prompt_ids(tokenizer, prompts) for _ in range(n)]
    order = sorted(range(len(flat)), key=lambda i: len(flat[i]))  # similar lengths: little padding
    tokens: list[list[int]] = [[] for _ in flat]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for start in range(0, len(order), batch_size):
            chunk = order[start: start + batch_size]
            out = generate(model, tokenizer, [flat[i] for i in chunk], max_new_tokens=max_new_tokens,
                           temperature=temperature, top_p=top_p)
            for i, t in zip(chunk, out):
                tokens[i] = t
            if progress:
                progress(len(chunk))
    return [tokens[i * n: (i + 1) * n] for i in range(len(prompts))]


def decode(tokenizer, tokens: list[list[int]]) -> list[str]:
    """Response texts of sampled token ids: special tokens dropped, stripped (what rewarders score)."""
    return [tokenizer.decode(t, skip_special_tokens=True).strip() for t in tokens]


def sample_responses(model, tokenizer, prompts: list[str], n: int, **sampling) -> list[list[str]]:
    """``n`` sampled response texts per prompt (keywords as :func:`sample_tokens`)."""
    return [decode(tokenizer, ts) for ts in sample_tokens(model, tokenizer, prompts, n, **sampling)]


def response_logprobs(model, tokenizer, prompts: list[str], tokens: list[list[list[int]]], *,
                      temperature: float = 1.0, batch_size: int = 64,
                      show_progress: bool = False) -> list[list[float]]:
    """Σ_t log π(y_t | x, y_<t) of each response's tokens (``tokens`` per prompt, as :func:`sample_tokens` gives
    them) under ``model`` with logits divided by ``temperature``, i.e. under the distribution it was sampled from."""
    heads = prompt_ids(tokenizer, prompts)
    seqs = [(heads[i] + t, len(heads[i])) for i, ts in enumerate(tokens) for t in ts]

    def compute(ids, mask, response):
        return (sequence_logprobs(model(input_ids=ids, attention_mask=mask).logits / temperature, ids, response),)

    flat = longest_first(model, seqs, tokenizer.pad_token_id, batch_size, compute, "log-probs",
                         show_progress)[0].tolist()
    out, start = [], 0
    for ts in tokens:
        out.append(flat[start: start + len(ts)])
        start += len(ts)
    return out


def suite_policy(policy: str | None, ctx) -> tuple[str, str]:
    """``(source, version)`` of the policy a downstream suite uses: ``policy`` if given, else the default of the
    run's backbone (``harness.rl.sft.default_policy``: the SFT policy of a tiny base); ``version`` names the build
    (the SFT cache directory) and goes into every metric row's suite version."""
    world = ctx.config.data.world
    source = policy_source(policy or default_policy(ctx.config.model.backbone), world.seed, world.version)
    return source, policy_version(source)
