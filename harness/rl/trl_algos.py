"""RLOO and GRPO against a reward model through trl (``RLOOTrainer`` / ``GRPOTrainer``, trl 1.16).

``train_trl`` trains the given causal LM **in place** (the caller then evaluates / saves the same object; it is left
in eval mode, on the device the trainer put it on) and returns the per-step history, with the same keys as the
in-house PPO: ``step``, ``reward`` (mean raw proxy score of that step's completions), one key per ``track`` name (mean
of that rewarder over the same completions, not optimised), ``kl``, ``response_length`` (mean completion tokens, the
stop token included, as ``harness.rl.policy.response_tokens`` counts them) and ``seconds`` (wall time since training
started, at the end of that step).

``kl`` is trl's logged value, a per-token mean over the step's completions of KL(policy ‖ initial policy): RLOO
logs the first-order log ratio ``log π − log π_ref`` of the sampling policy (before the step's update; can be < 0 on
a batch), GRPO the k3 estimator ``exp(r) − r − 1`` (``r = log π_ref − log π``, ≥ 0) of the policy being updated.
Both are exactly 0 at step 1 (the policy is still the reference). trl computes no KL when ``kl_coef == 0``: the
records then have no ``kl`` key. The reference model is loaded by trl from ``model.config._name_or_path`` (which
must be loadable: ``load_policy`` models are), then given the weights of ``model`` as passed.

Mapping of ``RLConfig`` (one optimiser step per generation batch, all of it one micro-batch):
``steps → max_steps``, ``prompts_per_step × samples_per_prompt → per_device_train_batch_size`` (=
``generation_batch_size``; ``gradient_accumulation_steps = steps_per_generation = num_iterations = 1``),
``samples_per_prompt → num_generations``, ``max_new_tokens → max_completion_length``, ``temperature →
temperature`` (``top_p=1``, ``top_k=0``), ``lr → learning_rate`` (constant schedule, no warm-up), ``kl_coef →
beta``, ``seed → seed`` (and ``data_seed``), ``max_grad_norm → max_grad_norm``; ``use_cpu`` without CUDA, ``bf16``
only on a bf16-capable GPU, no activation checkpointing, no vLLM, ``report_to="none"``, ``logging_steps=1``,
``save_strategy="no"``, ``disable_tqdm=True``. The rest keeps trl's defaults (RLOO: clipped sequence-level REINFORCE
with a leave-one-out baseline, KL as a reward penalty; GRPO: ``loss_type="dapo"``, ``scale_rewards="group"``, KL
in the loss).

Prompts go to trl as conversations (``[{"role": "user", ...}]``) when the tokenizer has a chat template, so trl
applies it with the generation prompt (the same ids as ``harness.rl.policy.prompt_ids``); otherwise as
``"prompt\\n\\n"`` text. Generation stops at ``stop_token_ids(tokenizer)`` (EOS and end-of-turn tokens): trl takes
every id in ``model.generation_config.eos_token_id`` plus the tokenizer's EOS, so that is set for the run and
restored afterwards. The rewarders see the raw prompt strings and the completions decoded without special tokens and
stripped, as ``sample_responses`` gives them.
"""
from __future__ import annotations

import contextlib
import math
import time
from typing import Callable

from harness.errors import ConfigError
from harness.progress import progress_bar
from harness.rl import Rewarder, RLConfig
from harness.rl.policy import plain_prompt, stop_token_ids

ALGOS = ("rloo", "grpo")
RAW_PROMPT = "rmbench_prompt"  # dataset column with the prompt as given: trl passes it to the reward function


def train_trl(algo: str, model, tokenizer, prompts: list[str], reward: Rewarder, cfg: RLConfig, *, output_dir,
              track: dict[str, Rewarder] | None = None, on_step: Callable[[dict], None] | None = None,
              show_progress: bool = True) -> list[dict]:
    """Train ``model`` in place with trl's RLOO or GRPO for ``cfg.steps`` optimiser steps against ``reward``; return
    one record per step (see the module docstring). ``on_step(record)`` is called after each step. ``output_dir``
    is trl's working directory (nothing is saved there: ``save_strategy="no"``)."""
    if algo not in ALGOS:
        raise ConfigError(f"unknown trl RL algorithm {algo!r}; choose one of {', '.join(ALGOS)}")
    if cfg.samples_per_prompt < 2:
        raise ConfigError(f"{algo} needs samples_per_prompt >= 2 (its baseline is the other samples of the same "
                          f"prompt); got {cfg.samples_per_prompt}")
    if cfg.steps < 1 or cfg.prompts_per_step < 1:
        raise ConfigError(f"steps and prompts_per_step must be >= 1; got {cfg.steps} and {cfg.prompts_per_step}")
    if len(prompts) < cfg.prompts_per_step:
        raise ConfigError(f"{algo} samples prompts_per_step={cfg.prompts_per_step} distinct prompts per step but only "
                          f"{len(prompts)} prompts were given")

    import torch
    from datasets import Dataset
    from transformers import PrinterCallback
    from transformers.utils import logging as hf_logging

    if getattr(tokenizer, "chat_template", None):
        trl_prompts = [[{"role": "user", "content": p}] for p in prompts]
    else:
        trl_prompts = [plain_prompt(p) for p in prompts]
    dataset = Dataset.from_dict({"prompt": trl_prompts, RAW_PROMPT: list(prompts)})
    recorder = _Recorder(reward, track or {}, on_step)
    config_cls, trainer_cls = _trl_classes(algo)
    cuda = torch.cuda.is_available()
    batch = cfg.prompts_per_step * cfg.samples_per_prompt
    args = config_cls(
        output_dir=str(output_dir),
        max_steps=cfg.steps,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=1,
        num_generations=cfg.samples_per_prompt,
        num_iterations=1,
        max_completion_length=cfg.max_new_tokens,
        temperature=cfg.temperature,
        top_p=1.0,
        top_k=0,
        learning_rate=cfg.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        beta=cfg.kl_coef,
        max_grad_norm=cfg.max_grad_norm,
        seed=cfg.seed,
        data_seed=cfg.seed,
        use_cpu=not cuda,
        bf16=bool(cuda and torch.cuda.is_bf16_supported()),
        fp16=False,
        activation_checkpointing=False,  # trl defaults gradient_checkpointing=True (a deprecated alias here)
        use_vllm=False,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,  # our Rich bar (or nothing) instead of tqdm
        log_level="passive" if show_progress else "error",
        remove_unused_columns=False,
    )

    saved_eos = model.generation_config.eos_token_id
    saved_forward = model.__dict__.get("forward")  # trl patches a fused LM head onto the instance
    bars_were_on, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    model.generation_config.eos_token_id = stop_token_ids(tokenizer)
    if not show_progress:
        hf_logging.disable_progress_bar()  # "Loading weights" of the reference model
    try:
        with _quiet(not show_progress):
            trainer = trainer_cls(model=model, reward_funcs=recorder.reward_func, args=args, train_dataset=dataset,
                                  processing_class=tokenizer, callbacks=[recorder.callback])
        trainer.remove_callback(PrinterCallback)  # disable_tqdm=True would print every log dict
        _sync_reference(trainer, model)
        with progress_bar(show=show_progress) as bar:
            recorder.bar, recorder.task = bar, bar.add_task(algo.upper(), total=cfg.steps)
            with _quiet(not show_progress):
                trainer.train()
    finally:
        model.generation_config.eos_token_id = saved_eos
        if saved_forward is None:
            model.__dict__.pop("forward", None)
        else:
            model.forward = saved_forward
        if bars_were_on:
            hf_logging.enable_progress_bar()
        hf_logging.set_verbosity(verbosity)  # the trainer sets it from log_level
        model.eval()
    return recorder.history


def _trl_classes(algo: str):
    if algo == "rloo":
        from trl import RLOOConfig, RLOOTrainer

        return RLOOConfig, RLOOTrainer
    from trl import GRPOConfig, GRPOTrainer

    return GRPOConfig, GRPOTrainer


def _sync_reference(trainer, model) -> None:
    """trl builds the reference model by reloading ``model.config._name_or_path``; make it the policy as passed
    (e.g. a model changed in memory after loading) by copying the weights before any update."""
    ref = getattr(trainer, "ref_model", None)
    if ref is None:
        return
    ref = trainer.accelerator.unwrap_model(ref)
    import torch

    with torch.no_grad():
        ref.load_state_dict(trainer.accelerator.unwrap_model(model).state_dict())


@contextlib.contextmanager
def _quiet(on: bool):
    """Silence Python warnings (trl / transformers notices) while ``on``; always those about trl's use of the
    deprecated ``gradient_checkpointing`` names, which this module cannot avoid."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*", category=FutureWarning)
        if on:
            warnings.simplefilter("ignore")
        yield


def _mean(xs) -> float:
    xs = [float(x) for x in xs]
    return sum(xs) / len(xs) if xs else float("nan")


class _Recorder:
    """trl reward function (scores with the proxy and the tracked rewarders) + ``TrainerCallback`` (one history record
    per optimiser step from trl's logs and the scores of that step's completions)."""

    def __init__(self, reward: Rewarder, track: dict[str, Rewarder], on_step):
        from transformers import TrainerCallback

        self.reward, self.track, self.on_step = reward, track, on_step
        self.history: list[dict] = []
        self.pending: dict | None = None
        self.started = time.perf_counter()
        self.bar = self.task = None
        recorder = self

        def proxy(prompts, completions, completion_ids=None, **kwargs) -> list[float]:
            return recorder.score(prompts, completions, completion_ids, kwargs.get(RAW_PROMPT))

        self.reward_func = proxy  # trl names its metrics after __name__: rewards/proxy/mean

        class _Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                recorder.started = time.perf_counter()

            def on_log(self, args, state, control, logs=None, **kwargs):
                recorder.log(state.global_step, logs or {})

        self.callback = _Callback()

    def score(self, prompts, completions, completion_ids, raw_prompts) -> list[float]:
        texts = [_text(c) for c in completions]
        raw = list(raw_prompts) if raw_prompts is not None else [_prompt_text(p) for p in prompts]
        scores = [float(s) for s in self.reward(raw, texts)]
        if len(scores) != len(texts):
            raise ValueError(f"the reward function returned {len(scores)} scores for {len(texts)} responses")
        record = {"reward": _mean(scores)}
        for name, rewarder in self.track.items():
            record[name] = _mean(rewarder(raw, texts))
        lengths = [len(ids) for ids in completion_ids] if completion_ids is not None else None
        record["response_length"] = _mean(lengths) if lengths is not None else float("nan")
        self.pending = record
        return scores

    def log(self, step: int, logs: dict) -> None:
        if self.pending is None or (self.history and self.history[-1]["step"] >= step):
            return  # the end-of-training summary, or a second log call for the same step
        record = {"step": step, **self.pending}
        if math.isnan(record["response_length"]) and "completions/mean_length" in logs:
            record["response_length"] = float(logs["completions/mean_length"])
        if logs.get("kl") is not None:
            record["kl"] = float(logs["kl"])
        record["seconds"] = round(time.perf_counter() - self.started, 3)
        self.pending = None
        self.history.append(record)
        if self.bar is not None:
            status = f"reward {record['reward']:.3f}" + (f" kl {record['kl']:.4f}" if "kl" in record else "")
            self.bar.update(self.task, completed=step, status=status)
        if self.on_step is not None:
            self.on_step(record)


def _text(completion) -> str:
    """A trl completion as plain text: conversational ones are ``[{"role": "assistant", "content": ...}]``."""
    if isinstance(completion, list):
        completion = "".join(m["content"] for m in completion if m.get("role") == "assistant")
    return completion.strip()


def _prompt_text(prompt) -> str:
    if isinstance(prompt, list):
        return next((m["content"] for m in reversed(prompt) if m.get("role") == "user"), "")
    return prompt.strip()
