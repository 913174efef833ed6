"""The margins the trainer serves through a method's context (``MethodContext.proxy_margins`` / ``base_margins``).

RMO (``docs/methods.md``) drives its filter, batches and amplification by δ_proxy, the Δ of a proxy RM trained on
the full training set, and δ_base, the margin of the starting model. Both are computed here, on the trainer's encoded
training pairs, so that a method needs nothing from the orchestrator; the proxy run itself is trained by the callable
the trainer was given (:meth:`harness.lab.Lab.train_proxy`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import methods
from harness.config import RunConfig
from harness.data.encode import EncodedPairs
from harness.method import ProxyMargins
from harness.models import ImplicitRewardModel, RewardModel, load_checkpoint
from harness.runs import CHECKPOINT_DIR
from harness.scoring import response_logprobs, score_pairs, score_sequences


def proxy_margins(cfg: RunConfig, runs_dir: Path, data: EncodedPairs, method: str, method_config: dict[str, Any],
                  train_proxy: Callable[[RunConfig, Path], Path], accelerator, show_progress: bool) -> ProxyMargins:
    """Train (or reuse) a ``method`` RM with the run's config through ``train_proxy`` and score Δ on ``data``.

    The proxy is a run of its own in ``runs_dir``, found again by its run id (so it is trained once for every run
    that asks for it). It has no suites, hence no metrics: the orchestrator records it in a throw-away in-memory
    database, not in the leaderboard. Every process trains it together, as any run.
    """
    proxy_cfg = dataclasses.replace(cfg, method=method, method_config=method_config, suites=[])
    proxy_dir = train_proxy(proxy_cfg, Path(runs_dir))
    accelerator.wait_for_everyone()
    model = load_checkpoint(proxy_dir / CHECKPOINT_DIR).to(accelerator.device)
    proxy = methods.get(method)(**method_config)
    description = f"{method} proxy margins"
    if proxy.implicit:  # a policy: its own margin δ (RMO Eq. 10), not its implicit-reward Δ
        return ProxyMargins(proxy_dir.name, policy_margins(model, proxy, data, cfg.train.eval_batch_size,
                                                           show_progress, description))
    chosen, rejected = score_pairs(model, proxy, data, model.tokenizer.pad_token_id, cfg.train.eval_batch_size,
                                   show_progress, description)
    return ProxyMargins(proxy_dir.name, (chosen - rejected).numpy())


def policy_margins(policy: RewardModel, method, data: EncodedPairs, batch_size: int, show_progress: bool,
                   description: str) -> np.ndarray:
    """``method.policy_margin`` of a causal-LM ``policy`` on every pair of ``data`` (an implicit-reward method's δ:
    the summed log-prob gap for DPO, the length-normalised one for SimPO; no reference)."""
    n = len(data)
    columns = score_sequences(ImplicitRewardModel(policy), data.chosen + data.rejected,
                              policy.tokenizer.pad_token_id, batch_size, description, show_progress)
    chosen, rejected = columns[:n], columns[n:]
    return method.policy_margin(chosen[:, 0], rejected[:, 0], chosen[:, 2], rejected[:, 2]).numpy()


def base_margins(cfg: RunConfig, causal: bool, data: EncodedPairs, device, show_progress: bool,
                 method=None) -> np.ndarray:
    """δ_base of the starting model on ``data``: for an implicit-reward ``method``, its ``policy_margin`` of the
    starting policy; else the summed response log-prob gap logπ_base(y_w|x) − logπ_base(y_l|x) of the base LM for a
    causal backbone (raw, as the official RMO code does), or the freshly built RM's Δ (seeded head) for an
    encoder."""
    model = RewardModel.build(cfg.model, need_lm_head=causal, seed=cfg.seed,
                              world_version=cfg.data.world.version).to(device)
    pad_id, batch_size, n = model.tokenizer.pad_token_id, cfg.train.eval_batch_size, len(data)
    if method is not None and method.implicit:
        return policy_margins(model, method, data, batch_size, show_progress, "base margins")
    if causal:
        values = response_logprobs(model, data.chosen + data.rejected, pad_id, batch_size, "base log-probs",
                                   show_progress)
    else:
        values = score_sequences(model, data.chosen + data.rejected, pad_id, batch_size, "base margins",
                                 show_progress)
    return (values[:n] - values[n:]).numpy()
