"""One generic training loop on Accelerate for every method: it reads ``method.requires`` and never a method's name.

Gradient accumulation, warm-up + cosine/linear/constant schedule, gradient clipping, bf16 autocast on GPUs,
periodic validation into ``metrics.jsonl`` (the convergence curve), resumable checkpoints and a Rich progress bar.
Runs unchanged on one CPU, one GPU or many processes (``accelerate launch`` / ``torchrun``).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType, InitProcessGroupKwargs, set_seed
from transformers import get_scheduler

import methods
from harness import trackers
from harness.atomic import replace_directory
from harness.config import RunConfig
from harness.data import training_pairs
from harness.data.encode import (EncodedPairs, Encoder, LengthGroupedBatches, PackedPairCollator, PairCollator,
                                 encode_pairs, split_global_batch)
from harness.errors import ConfigError, TrainingError
from harness.implicit import policy_config, reference_model
from harness.losses import bt_loss
from harness.margins import base_margins, proxy_margins
from harness.method import MethodContext
from harness.models import ImplicitRewardModel, RewardModel
from harness.packing import can_pack
from harness.progress import progress_bar
from harness.results import write_json_atomic
from harness.runs import CHECKPOINT_DIR, METRICS_FILE, STATE_DIR, STATE_FILE
from harness.scoring import REF_COLUMNS, ScoreCache, response_logprobs, reward_output, score_pairs, weights_digest


#: the directory, beside the runs, of the reference log-probs of implicit-reward runs (``Trainer.prepare_data``)
REFERENCE_CACHE = ".reference-logprobs"


def mixed_precision() -> str:
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def _lr_schedule(cfg, optimizer, total_steps: int):
    warmup = math.ceil(cfg.warmup_ratio * total_steps)
    name = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}[cfg.schedule]
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)


def _cpu_process_group() -> dict:
    """Accelerator arguments for several processes (torchrun, accelerate launch) on a machine without a GPU.

    Accelerate sets up gloo DDP only when told it runs on CPU (otherwise every process would silently train alone
    into the same run directory), and DeepSpeed on CPU only when given the gloo backend (otherwise every process
    believes it is rank 0 of 1)."""
    if torch.cuda.is_available() or int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return {}
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        return {"kwargs_handlers": [InitProcessGroupKwargs(backend="gloo")]}
    return {"cpu": True}


def _no_proxy(cfg: RunConfig, runs_dir: Path) -> Path:
    raise TrainingError(f"method {cfg.method!r} asked for a proxy RM, which only a trainer run by the orchestrator "
                        f"(harness.lab.Lab) is given")


class Trainer:
    def __init__(self, cfg: RunConfig, run_dir: Path, *, show_progress: bool = True, data_seed: int | None = None,
                 label: str | None = None, train_proxy: Callable[[RunConfig, Path], Path] | None = None):
        """``data_seed`` (default: the run seed) fixes the validation hold-out and label flips, so ensemble members
        trained with their own seeds still share one dataset; ``label`` names the progress bar; ``train_proxy``
        (the orchestrator's :meth:`harness.lab.Lab.train_proxy`) trains the proxy RM a method may ask its context
        for."""
        if cfg.train.schedule not in ("cosine", "linear", "constant"):
            raise TrainingError(f"unknown schedule {cfg.train.schedule!r}; choose cosine, linear or constant")
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.train_proxy = train_proxy or _no_proxy
        self.accelerator = Accelerator(gradient_accumulation_steps=cfg.train.grad_accum,
                                       mixed_precision=mixed_precision(), **_cpu_process_group())
        self.show_progress = show_progress and self.accelerator.is_main_process
        self.data_seed = cfg.seed if data_seed is None else data_seed
        self.label = label or f"train {cfg.method}"
        set_seed(cfg.seed)
        self.method = methods.get(cfg.method)(**cfg.method_config)
        requires = self.method.requires
        # an implicit-reward method trains the world's policy of the backbone (harness.implicit)
        self.model_cfg = policy_config(cfg) if self.method.implicit else cfg.model
        try:
            self.model = RewardModel.build(self.model_cfg, seed=cfg.seed, world_version=cfg.data.world.version,
                                           need_lm_head=bool({"lm_logprobs", "ref_logprobs"} & requires))
            if self.method.implicit:  # its reward is the implicit one: the head is never trained nor read
                self.model.head.requires_grad_(False)
            # model.ref, else the frozen initial model (LoRA: the same model with its adapter disabled), taken
            # before any step
            self.reference = (reference_model(cfg, self.model, fresh=True).to(self.accelerator.device)
                              if "ref_logprobs" in requires else None)
        except ConfigError as e:  # e.g. an encoder backbone for a method that needs LM log-probs
            raise ConfigError(f"method {cfg.method!r}: {e}") from e
        self.pad_id = self.model.tokenizer.pad_token_id
        self.encoder = Encoder(self.model.tokenizer, cfg.model.max_length)
        # packed batches (no padding, each prompt once) where they are exact: a causal LM (rewards, and log-probs
        # read at the positions that predict the response tokens)
        self.packing = cfg.train.packing and can_pack(self.model)

    def method_context(self, data: EncodedPairs) -> MethodContext:
        """The context of a method hook that is given ``data``: the margins it serves are aligned with its rows."""
        acc, cfg, show = self.accelerator, self.cfg, self.show_progress
        causal = acc.unwrap_model(self.model).is_causal_lm
        return MethodContext(
            config=cfg, seed=cfg.seed, data_seed=self.data_seed, process_index=acc.process_index,
            num_processes=acc.num_processes, is_main_process=acc.is_main_process, show_progress=show,
            _proxy=lambda method, method_config: proxy_margins(cfg, self.run_dir.parent, data, method,
                                                               method_config, self.train_proxy, acc, show),
            _base=lambda: base_margins(dataclasses.replace(cfg, model=self.model_cfg), causal, data, acc.device, show,
                                       self.method))

    def _hook(self, name: str, data: EncodedPairs, kind: type, description: str) -> tuple[Any, dict[str, Any]]:
        """Call the method's hook ``name`` on ``data`` with its context; it must return (a ``kind``, statistics)."""
        result = getattr(self.method, name)(data, self.method_context(data))
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], kind)
                and isinstance(result[1], dict)):
            raise TrainingError(f"method {self.cfg.method!r}: {name} must return ({description}, dict of "
                                f"statistics), not {type(result).__name__}")
        return result

    def prepare_data(self) -> tuple[EncodedPairs, EncodedPairs, dict]:
        """Tokenised train and validation pairs; identical-after-truncation pairs are dropped and counted, then the
        method's ``prepare_dataset`` transforms the rest (its statistics land under ``<method name>``)."""
        train_rows, val_rows, flipped = training_pairs(self.cfg.data, self.data_seed)
        train, identical = encode_pairs(train_rows, self.encoder).without_identical()
        if self.reference is not None:
            train = self._with_reference_logprobs(train)
        train, hook_stats = self._hook("prepare_dataset", train, EncodedPairs, "EncodedPairs")
        stats = _with_method_stats({"train_pairs": len(train), "validation_pairs": len(val_rows),
                                    "identical_after_truncation": len(identical), "label_flipped": len(flipped),
                                    "label_noise": self.cfg.data.label_noise}, self.method.name, hook_stats)
        if flipped:
            stats["flipped_rows"] = flipped
        return train, encode_pairs(val_rows, self.encoder), stats

    def _with_reference_logprobs(self, data: EncodedPairs) -> EncodedPairs:
        """``data`` with the frozen reference's summed response log-probs of every pair as the columns
        ``REF_COLUMNS``: computed once here, read by ``reward_output`` at every step instead of a reference pass.

        They are kept on disk beside the runs, in ``REFERENCE_CACHE/<digest of the reference's weights>.pt``
        (a :class:`ScoreCache` keyed by each sequence's token ids), so the other runs of the same reference (seeds,
        methods, a resumed run) compute only the sequences it lacks."""
        path = self.run_dir.parent / REFERENCE_CACHE / f"{weights_digest(self.reference.backbone)}.pt"
        cache = ScoreCache.load(path)
        seqs = data.chosen + data.rejected
        with self.reference.as_reference():
            logp = cache.outputs(self.reference, seqs, lambda todo: response_logprobs(
                self.reference, todo, self.pad_id, self.cfg.train.eval_batch_size, "reference log-probs",
                self.show_progress))
        if cache.computed and self.accelerator.is_main_process:
            cache.save(path)
        n = len(data)
        return data.with_column(REF_COLUMNS[0], logp[:n]).with_column(REF_COLUMNS[1], logp[n:])

    def scorer(self, model: RewardModel):
        """What scores ``model`` as the method's reward: the model itself, or for an implicit-reward method the
        model with its reference (``ImplicitRewardModel``)."""
        if not self.method.implicit:
            return model
        return ImplicitRewardModel(model, self.reference if self.method.score_needs_reference else None)

    def validate(self, val: EncodedPairs) -> dict:
        """Strict pairwise accuracy and Bradley-Terry loss on the held-out validation pairs (comparable across
        methods)."""
        model = self.scorer(self.accelerator.unwrap_model(self.model))
        chosen, rejected = score_pairs(model, self.method, val, self.pad_id, self.cfg.train.eval_batch_size,
                                       show_progress=False)
        delta = chosen - rejected
        return {"val_accuracy": (delta > 0).float().mean().item(), "val_bt_loss": bt_loss(delta).mean().item()}

    def fit(self, data: tuple[EncodedPairs, EncodedPairs, dict], *, resume: bool = False) -> dict:
        """Train on ``prepare_data()``'s output to ``max_steps`` (or ``epochs``); ``resume`` continues from the last
        saved state. Returns the outcome: steps, wall time, data statistics and the final validation.

        ``train.batch_size`` is the global batch (pairs per optimiser step over all processes and accumulation
        steps), so a config means the same optimisation on a laptop and on a cluster. Each process takes its
        share of every global batch (``split_global_batch``); micro-batch losses are weighted by their size so
        the gradient is that of the global-batch mean.
        """
        cfg, acc = self.cfg.train, self.accelerator
        train, val, data_stats = data
        if len(train) == 0:
            raise TrainingError("no training pairs left after filtering")
        sampler, sampler_stats = self._hook("batch_sampler", train, object, "a sampler or None")
        sampler = sampler or LengthGroupedBatches(train.lengths(), cfg.batch_size, self.cfg.seed, cfg.group_by_length)
        data_stats = _with_method_stats(data_stats, self.method.name, sampler_stats)
        collate = (PackedPairCollator if self.packing else PairCollator)(train, self.pad_id)
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps_per_epoch = len(sampler.batches(0))
        total = cfg.max_steps or math.ceil(cfg.epochs * steps_per_epoch)
        scheduler = _lr_schedule(cfg, optimizer, total)
        # the scheduler is not prepared: Accelerate would step it once per process, but a step here is global
        self._configure_deepspeed()
        self.model, optimizer = acc.prepare(self.model, optimizer)
        acc.register_for_checkpointing(scheduler)

        state = {"step": 0, "epoch": 0, "step_in_epoch": 0}
        if resume and (self.run_dir / STATE_DIR / STATE_FILE).exists():
            acc.load_state(str(self.run_dir / STATE_DIR))
            state = json.loads((self.run_dir / STATE_DIR / STATE_FILE).read_text())
            self._truncate_metrics(state["step"])
        elif acc.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / METRICS_FILE).unlink(missing_ok=True)

        start, window = time.perf_counter(), _Window(acc)
        with progress_bar(self.show_progress) as bar:
            task = bar.add_task(self.label, total=total, completed=state["step"])
            while state["step"] < total:
                epoch_batches = sampler.batches(state["epoch"])
                for global_batch in epoch_batches[state["step_in_epoch"]:]:
                    self._optimizer_step(global_batch, collate, optimizer, scheduler, params, window, state)
                    state["step"] += 1
                    state["step_in_epoch"] += 1
                    step = state["step"]
                    bar.update(task, completed=step, status=window.status())
                    if step % cfg.log_every == 0 or step == total:
                        self._log({"step": step, "epoch": state["epoch"], "lr": scheduler.get_last_lr()[0],
                                   **window.flush()})
                    if (cfg.eval_every and step % cfg.eval_every == 0) or step == total:
                        self._log({"step": step, **self.validate(val)})
                    if step == total:
                        break
                    if cfg.save_every and step % cfg.save_every == 0:
                        self._save_state(state)
                else:
                    state["epoch"] += 1
                    state["step_in_epoch"] = 0
        acc.wait_for_everyone()  # rank 0 writes metrics.jsonl; the others must not read it before it is complete
        final = self._last_validation()
        weights = acc.get_state_dict(self.model)  # a collective: gathers the shards of ZeRO-3 / FSDP training
        if acc.is_main_process:
            acc.unwrap_model(self.model).save(self.run_dir / CHECKPOINT_DIR, state_dict=weights)
        acc.wait_for_everyone()
        return {"steps": state["step"], "wall_s": round(time.perf_counter() - start, 3), **data_stats,
                "final_validation": final}

    def trained_model(self) -> RewardModel | ImplicitRewardModel | None:
        """The trained model in this process (as :meth:`scorer` scores it), or None when its weights are sharded
        over the processes (DeepSpeed,
        FSDP): the checkpoint written by :meth:`fit` holds them whole."""
        if self.accelerator.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP):
            return None
        return self.scorer(self.accelerator.unwrap_model(self.model))

    def _configure_deepspeed(self) -> None:
        """Fill what DeepSpeed reads from a dataloader, which rmbench does not prepare (its batches come from the
        method's sampler); the micro-batch size only feeds DeepSpeed's bookkeeping. DeepSpeed clips gradients
        itself, so its ``gradient_clipping`` must be ``train.max_grad_norm``; and the final checkpoint needs the
        ZeRO-3 shards gathered (in the training dtype: bf16 under bf16 mixed precision)."""
        plugin = self.accelerator.state.deepspeed_plugin
        if plugin is None:
            return
        cfg, acc = self.cfg.train, self.accelerator
        ds = plugin.deepspeed_config
        if plugin.is_auto("train_micro_batch_size_per_gpu") or "train_micro_batch_size_per_gpu" not in ds:
            ds["train_micro_batch_size_per_gpu"] = math.ceil(cfg.batch_size / (acc.num_processes * cfg.grad_accum))
        if plugin.is_auto("train_batch_size") or "train_batch_size" not in ds:
            ds["train_batch_size"] = ds["train_micro_batch_size_per_gpu"] * acc.num_processes * cfg.grad_accum
        clipping = ds.get("gradient_clipping", "auto")
        if clipping == "auto":
            ds["gradient_clipping"] = cfg.max_grad_norm
        elif float(clipping) != cfg.max_grad_norm:
            raise ConfigError(f"the DeepSpeed config clips gradients at {clipping} but train.max_grad_norm is "
                              f"{cfg.max_grad_norm}; DeepSpeed clips by its own value, so set the two equal")
        zero = ds.setdefault("zero_optimization", {})
        if zero.get("stage") == 3:  # accelerate launch's default is false, which leaves nothing to write
            zero["stage3_gather_16bit_weights_on_model_save"] = True

    def _optimizer_step(self, global_batch, collate, optimizer, scheduler, params, window, state) -> None:
        acc, cfg = self.accelerator, self.cfg.train
        micro_batches = split_global_batch(global_batch, acc.process_index, acc.num_processes, cfg.grad_accum)
        n_global = max(len(global_batch), acc.num_processes * cfg.grad_accum)
        for rows in micro_batches:
            batch = collate(rows).to(acc.device)
            with acc.accumulate(self.model):
                out = reward_output(self.model, batch, self.method.requires, self.reference)
                result = self.method.loss(out, batch)
                if not torch.isfinite(result.loss):
                    raise TrainingError(f"non-finite loss ({result.loss.item()}) at step {state['step'] + 1}; "
                                        f"the last good checkpoint is kept in {self.run_dir / STATE_DIR}")
                # acc.backward divides by grad_accum and DDP averages over processes: undo both, weight by size
                acc.backward(result.loss * (len(rows) * acc.num_processes * cfg.grad_accum / n_global))
                if acc.sync_gradients and cfg.max_grad_norm > 0:
                    acc.clip_grad_norm_(params, cfg.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            window.add(result, len(rows))
        scheduler.step()

    # -- bookkeeping -------------------------------------------------------------------------------------------
    def _log(self, record: dict) -> None:
        if self.accelerator.is_main_process:
            with (self.run_dir / METRICS_FILE).open("a") as f:
                f.write(json.dumps(record) + "\n")
            trackers.log(record)  # train.report_to (harness.trackers)

    def _last_validation(self) -> dict:
        rows = [json.loads(line) for line in (self.run_dir / METRICS_FILE).read_text().splitlines()]
        return next((r for r in reversed(rows) if "val_accuracy" in r), {})

    def _truncate_metrics(self, step: int) -> None:
        """Drop curve points written after the checkpoint we resume from, so a resumed curve has no duplicates."""
        path = self.run_dir / METRICS_FILE
        if self.accelerator.is_main_process and path.exists():
            keep = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
            path.write_text("".join(line + "\n" for line in keep))

    def _save_state(self, state: dict) -> None:
        """Optimiser, scheduler, RNG and model state, swapped in atomically (a crash mid-save keeps the old one)."""
        final, tmp = self.run_dir / STATE_DIR, self.run_dir / f"{STATE_DIR}.tmp"
        if self.accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        # on every rank: Accelerate creates it on the main process only, and another rank may write first
        tmp.mkdir(parents=True, exist_ok=True)
        self.accelerator.save_state(str(tmp))
        self.accelerator.wait_for_everyone()  # every rank's files are in before the main process swaps the directory
        if self.accelerator.is_main_process:
            write_json_atomic(tmp / STATE_FILE, state)
            replace_directory(tmp, final, aside=self.run_dir / f"{STATE_DIR}.old")
        self.accelerator.wait_for_everyone()


def _with_method_stats(stats: dict, name: str, extra: dict[str, Any]) -> dict:
    """``stats`` with a method hook's statistics merged under ``stats[name]`` (nothing when it reported none)."""
    if not extra:
        return stats
    return {**stats, name: {**stats.get(name, {}), **extra}}


class _Window:
    """Pair-weighted running means of the loss metrics since the last log line (over all processes), plus
    throughput. Under DDP ``flush`` is a collective: every process calls it at the same steps."""

    def __init__(self, accelerator: Accelerator | None = None):
        self.accelerator = accelerator
        self.flush()

    def add(self, result, pairs: int) -> None:
        self.n += pairs
        self.pairs += pairs
        for key, value in {"loss": result.loss, **result.metrics}.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value.detach()) * pairs

    def status(self) -> str:
        if not self.n:
            return ""
        return f"loss {self.sums['loss'] / self.n:.4f} acc {self.sums.get('accuracy', float('nan')) / self.n:.3f}"

    def flush(self) -> dict:
        out = {}
        if getattr(self, "n", 0):
            keys = list(self.sums)
            totals = torch.tensor([self.n, *(self.sums[k] for k in keys)], dtype=torch.float64)
            acc = self.accelerator
            if acc is not None and acc.num_processes > 1:  # the global-batch means, not rank 0's share
                totals = acc.reduce(totals.to(acc.device), reduction="sum").cpu()
            out = {k: float(v) / float(totals[0]) for k, v in zip(keys, totals[1:])}
            out["pairs_per_s"] = float(totals[0]) / (time.perf_counter() - self.started)
        self.n, self.pairs, self.sums, self.started = 0, 0, {}, time.perf_counter()
        return out
