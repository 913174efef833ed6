"""PPO for RLHF, written here (trl >= 1.13 no longer ships a PPO trainer).

The recipe of Ziegler et al. 2019 / Ouyang et al. 2022 as trl's old ``PPOTrainer`` implemented it (Huang et al. 2024,
"The N+ implementation details of RLHF with PPO"):

* policy = the causal LM plus a scalar value head on its last hidden state (``PolicyWithValue``); reference = a frozen
  deep copy of the initial LM;
* each step samples ``prompts_per_step`` prompts x ``samples_per_prompt`` responses, scores them with the reward,
  normalises the scores by running statistics (``RunningMoments``), and forms per-token rewards
  ``r_t = -kl_coef * (log pi_old(y_t) - log pi_ref(y_t))`` plus the normalised score on the last response token;
* GAE (``gae``) gives advantages (whitened over the batch) and returns; then ``ppo_epochs`` passes over shuffled
  minibatches minimise the clipped surrogate (``policy_loss``) plus ``vf_coef`` x the clipped value loss
  (``value_loss``) with one AdamW optimiser and gradient-norm clipping.

Dropout is off throughout: the LM stays in ``eval()`` mode during rollout *and* update (the usual choice for RLHF; it
also makes log pi_old at rollout time and log pi at the first update agree, so the first ratio is 1 up to rounding).
Sequences are laid out as ``[left-padded prompt | right-padded response]`` so every per-token tensor is ``[B, T]``
over the response positions with a prefix ``mask``.
"""
from __future__ import annotations

import copy
import math
import random
import time

import torch
from torch import Tensor, nn

from harness.models import position_ids
from harness.progress import progress_bar
from harness.rl import Rewarder, RLConfig
from harness.rl.policy import decode, generate, left_pad, prompt_ids

WEIGHT_DECAY = 0.0  # AdamW weight decay of the PPO optimiser (decaying an RL fine-tune towards 0 makes no sense)
ADAM_EPS = 1e-5  # as in the reference implementations (Huang et al. 2024, detail "Adam epsilon")


class PolicyWithValue(nn.Module):
    """A causal LM with a scalar value head ``V(s_t) = w . h_t + b`` on the last hidden state of every position.

    The head is zero-initialised (V = 0 before training: deterministic and neutral) and kept in float32.
    """

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.lm = lm
        hidden = lm.get_output_embeddings().in_features
        device = next(lm.parameters()).device
        self.value_head = nn.Linear(hidden, 1, device=device)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor]:
        """``(logits [B, L, V], values [B, L])`` with positions counted from each row's first real token."""
        out = self.lm(input_ids=input_ids, attention_mask=attention_mask,
                      position_ids=position_ids(attention_mask), output_hidden_states=True, use_cache=False)
        return out.logits, self.value_head(out.hidden_states[-1].float()).squeeze(-1)


class RunningMoments:
    """Running mean and standard deviation of all values seen so far (Chan et al.'s parallel update of the count,
    mean and sum of squared deviations, so batches can be merged exactly). ``update`` folds in a batch first;
    ``normalise`` then maps scores to ``(x - mean) / std`` (std = 1 until two values have been seen; floored at 1e-8).
    """

    def __init__(self):
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def update(self, xs: Tensor) -> None:
        xs = xs.double().flatten()
        n = xs.numel()
        if n == 0:
            return
        b_mean = xs.mean().item()
        b_m2 = ((xs - b_mean) ** 2).sum().item()
        total = self.count + n
        delta = b_mean - self.mean
        self.mean += delta * n / total
        self.m2 += b_m2 + delta ** 2 * self.count * n / total
        self.count = total

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 1.0

    def normalise(self, xs: Tensor) -> Tensor:
        return (xs - self.mean) / max(self.std, 1e-8)


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def masked_whiten(x: Tensor, mask: Tensor, eps: float = 1e-8) -> Tensor:
    """``(x - mean) / std`` over the unmasked entries (population std); masked entries become 0."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + eps) * mask


def gae(rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016, Eq. 16) over ``[B, T]`` response tokens:

        delta_t = r_t + gamma * V_{t+1} - V_t,     A_t = sum_l (gamma * lam)^l * delta_{t+l}
                                                       = delta_t + gamma * lam * A_{t+1},

    with ``V_{t+1} = A_{t+1} = 0`` past the last unmasked token (the episode ends with the response). ``mask`` marks
    the real tokens of each row, a prefix (right padding). Returns ``(advantages, returns = A + V)``, both 0 where
    masked; not whitened.
    """
    mask = mask.to(values.dtype)
    rewards, values = rewards * mask, values * mask
    advantages = torch.zeros_like(values)
    next_value = next_adv = torch.zeros_like(values[:, 0])
    for t in reversed(range(values.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantages[:, t] = (delta + gamma * lam * next_adv) * mask[:, t]
        next_value, next_adv = values[:, t], advantages[:, t]
    return advantages, (advantages + values) * mask


def policy_loss(logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, mask: Tensor,
                clip_range: float) -> tuple[Tensor, dict[str, float]]:
    """PPO's clipped surrogate (Schulman et al. 2017, Eq. 7), as a loss to minimise, averaged over unmasked tokens:

        L = -E_t[ min(rho_t * A_t, clip(rho_t, 1 - eps, 1 + eps) * A_t) ],   rho_t = pi(y_t) / pi_old(y_t).

    Stats: ``clipfrac`` (share of tokens where the clipped term is the active one) and ``approx_kl`` =
    E_t[(rho_t - 1) - log rho_t] (the k3 estimator of KL(pi_old || pi), >= 0).
    """
    mask = mask.to(logprobs.dtype)
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        stats = {"clipfrac": masked_mean((clipped > unclipped).float(), mask).item(),
                 "approx_kl": masked_mean(ratio - 1.0 - log_ratio, mask).item()}
    return loss, stats


def value_loss(values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor,
               value_clip: float) -> tuple[Tensor, dict[str, float]]:
    """Clipped value loss (as in PPO2 / trl): the new prediction may move at most ``value_clip`` from the rollout's:

        L_V = 1/2 E_t[ max((V_t - R_t)^2, (V_old,t + clip(V_t - V_old,t, -c, c) - R_t)^2) ].

    Stats: ``value_clipfrac`` (share of tokens where the clipped error is the larger one).
    """
    mask = mask.to(values.dtype)
    clipped_values = old_values + torch.clamp(values - old_values, -value_clip, value_clip)
    err, err_clipped = (values - returns) ** 2, (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(err, err_clipped), mask)
    with torch.no_grad():
        stats = {"value_clipfrac": masked_mean((err_clipped > err).float(), mask).item()}
    return loss, stats


def _response_stats(logits: Tensor, responses: Tensor, prompt_width: int) -> tuple[Tensor, Tensor]:
    """log pi(y_t) of the response tokens and the per-token entropy of pi, ``[B, T]`` each (float32)."""
    width = responses.shape[1]
    logp = torch.log_softmax(logits[:, prompt_width - 1: prompt_width - 1 + width].float(), dim=-1)
    token_logp = logp.gather(-1, responses[..., None]).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    return token_logp, entropy


def _batch(prompt_tokens: list[list[int]], response_tokens: list[list[int]], pad_id: int, device):
    """``input_ids, attention_mask [B, P + T]``, ``responses, response mask [B, T]``, and ``P``."""
    p_ids, p_mask = left_pad(prompt_tokens, pad_id)
    width = max(len(r) for r in response_tokens)
    responses = torch.full((len(response_tokens), width), pad_id, dtype=torch.long)
    r_mask = torch.zeros_like(responses)
    for i, r in enumerate(response_tokens):
        responses[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        r_mask[i, : len(r)] = 1
    ids, mask = torch.cat([p_ids, responses], 1), torch.cat([p_mask, r_mask], 1)
    return ids.to(device), mask.to(device), responses.to(device), r_mask.to(device), p_ids.shape[1]


def _trimmed(ids: Tensor, attn: Tensor, responses: Tensor, rmask: Tensor, prompt_width: int, rows):
    """The ``rows`` of the batch without the columns that are padding in all of them (less compute per minibatch):
    ``(input_ids, attention_mask, responses, prompt width, response width)``."""
    width = int(rmask[rows].sum(1).max())
    longest_prompt = int(attn[rows, :prompt_width].sum(1).max())
    cols = slice(prompt_width - longest_prompt, prompt_width + width)
    return ids[rows, cols], attn[rows, cols], responses[rows, :width], longest_prompt, width


def _prompt_stream(prompts: list[str], seed: int):
    """Endless stream of the prompts: a seeded shuffle, reshuffled after each full pass."""
    rng = random.Random(seed)
    while True:
        order = list(prompts)
        rng.shuffle(order)
        yield from order


def train_ppo(model, tokenizer, prompts: list[str], reward: Rewarder, cfg: RLConfig, *,
              track: dict[str, Rewarder] | None = None, on_step=None, show_progress: bool = True) -> list[dict]:
    """Train ``model`` (a causal LM, in place) with PPO against ``reward`` for ``cfg.steps`` steps.

    ``track``: further rewarders evaluated on the same rollouts and recorded, not optimised (e.g. the gold reward,
    to measure over-optimisation). Returns the per-step history; ``on_step(record)`` is called after each step.
    Record keys: step, reward (mean raw score), one per ``track`` name, kl (mean over sequences of
    sum_t log pi_old(y_t) - log pi_ref(y_t) on the sampled tokens, measured at rollout: 0.0 at step 1),
    response_length, policy_loss, value_loss, clipfrac, value_clipfrac, approx_kl (means over the minibatch
    updates), entropy (mean per-token entropy of pi_old over response tokens), seconds.
    Deterministic for ``cfg.seed`` (generation seeded with ``cfg.seed + step``).
    """
    if not prompts:
        raise ValueError("train_ppo needs at least one prompt")
    track = track or {}
    device = next(model.parameters()).device
    model.eval().requires_grad_(True)  # dropout off for rollout and update alike
    reference = copy.deepcopy(model).eval().requires_grad_(False)
    policy = PolicyWithValue(model)
    optimiser = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, eps=ADAM_EPS, weight_decay=WEIGHT_DECAY)
    moments = RunningMoments()
    stream = _prompt_stream(prompts, cfg.seed)
    pad_id = tokenizer.pad_token_id
    mb = max(1, cfg.minibatch_size)
    history: list[dict] = []

    with progress_bar(show_progress) as bar:
        task = bar.add_task("PPO", total=cfg.steps)
        for step in range(cfg.steps):
            start = time.perf_counter()
            # --- rollout -------------------------------------------------------------------------------------
            step_prompts = [next(stream) for _ in range(cfg.prompts_per_step)]
            flat_prompts = [p for p in step_prompts for _ in range(cfg.samples_per_prompt)]
            p_tokens = [ids for ids in prompt_ids(tokenizer, step_prompts) for _ in range(cfg.samples_per_prompt)]
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(cfg.seed + step)
                r_tokens = generate(model, tokenizer, p_tokens, max_new_tokens=cfg.max_new_tokens,
                                    temperature=cfg.temperature)
            texts = decode(tokenizer, r_tokens)
            scores = torch.tensor(reward(flat_prompts, texts), dtype=torch.float32)
            tracked = {name: sum(fn(flat_prompts, texts)) / len(texts) for name, fn in track.items()}

            ids, attn, responses, rmask, pw = _batch(p_tokens, r_tokens, pad_id, device)
            n = ids.shape[0]
            old_logp, ref_logp, old_values, entropy = (torch.zeros(responses.shape, device=device)
                                                       for _ in range(4))
            with torch.no_grad():  # forward passes in minibatch-sized chunks (bounded memory)
                for s in range(0, n, mb):
                    sl = slice(s, s + mb)
                    b_ids, b_attn, b_resp, b_pw, w = _trimmed(ids, attn, responses, rmask, pw, sl)
                    logits, values = policy(b_ids, b_attn)
                    old_logp[sl, :w], entropy[sl, :w] = _response_stats(logits, b_resp, b_pw)
                    old_values[sl, :w] = values[:, b_pw - 1: -1]  # V of the state before each response token
                    ref_logits = reference(input_ids=b_ids, attention_mask=b_attn, position_ids=position_ids(b_attn),
                                           use_cache=False).logits
                    ref_logp[sl, :w] = _response_stats(ref_logits, b_resp, b_pw)[0]
                mask = rmask.float()
                kl = (old_logp - ref_logp) * mask
                moments.update(scores)
                per_token = -cfg.kl_coef * kl
                last = rmask.sum(1) - 1
                per_token[torch.arange(n, device=device), last] += moments.normalise(scores).to(device)
                advantages, returns = gae(per_token, old_values, mask, cfg.gamma, cfg.lam)
                advantages = masked_whiten(advantages, mask)

            # --- update --------------------------------------------------------------------------------------
            gen = torch.Generator().manual_seed(cfg.seed + step)
            sums: dict[str, float] = {}
            updates = 0
            for _ in range(cfg.ppo_epochs):
                for rows in torch.randperm(n, generator=gen).split(mb):
                    rows = rows.to(device)
                    b_ids, b_attn, b_resp, b_pw, w = _trimmed(ids, attn, responses, rmask, pw, rows)
                    logits, values = policy(b_ids, b_attn)
                    logp = _response_stats(logits, b_resp, b_pw)[0]
                    b_mask = mask[rows, :w]
                    pg, pg_stats = policy_loss(logp, old_logp[rows, :w], advantages[rows, :w], b_mask,
                                               cfg.clip_range)
                    vf, vf_stats = value_loss(values[:, b_pw - 1: -1], old_values[rows, :w], returns[rows, :w],
                                              b_mask, cfg.value_clip)
                    optimiser.zero_grad(set_to_none=True)
                    (pg + cfg.vf_coef * vf).backward()
                    torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
                    optimiser.step()
                    for k, v in {"policy_loss": pg.item(), "value_loss": vf.item(), **pg_stats, **vf_stats}.items():
                        sums[k] = sums.get(k, 0.0) + v
                    updates += 1

            record = {"step": step + 1, "reward": scores.mean().item(), **tracked,
                      "kl": kl.sum(1).mean().item(), "response_length": rmask.sum(1).float().mean().item(),
                      **{k: v / max(updates, 1) for k, v in sums.items()},
                      "entropy": masked_mean(entropy, mask).item(), "seconds": time.perf_counter() - start}
            history.append(record)
            if on_step:
                on_step(record)
            bar.update(task, advance=1, status=f"reward {record['reward']:.3f}  kl {record['kl']:.3f}")
    optimiser.zero_grad(set_to_none=True)
    return history
