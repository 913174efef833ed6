"""Training throughput (preference pairs per second) of rmbench's trainer against trl's ``RewardTrainer``.

    python benchmarks/bench_train_vs_trl.py [--batch-size 16] [--steps 20] [--max-length 128] [--threads N]

Both train a Bradley-Terry reward model (scalar head on the tiny world LM, fp32, CPU or the default device) on the
same preference-world pairs (the micro preset's training split, keeping only pairs that fit ``--max-length`` under
both tokenisations, since trl drops longer ones instead of truncating), with the same global batch, learning rate,
AdamW and number of optimiser steps. Timed: the optimiser steps only (collation, forward on chosen + rejected,
loss, backward, clipping, optimiser step), median seconds per step after ``--warmup`` steps; start-up, tokenisation
and validation are left out. rmbench groups pairs by length (its default ``group_by_length``) and packs each
batch (its default ``train.packing``: no padding, each pair's prompt once; also timed with packing off), trl pads
each random batch; ``--no-group`` turns rmbench's grouping off for a padding-for-padding comparison. Prints a Markdown
table with the ratio rmbench / trl.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402


def flat(text) -> str | None:
    return text if isinstance(text, str) else None


def world_pairs(max_length: int, tokenizer) -> list[dict]:
    """The micro preset's training pairs (strings) whose prompt + response fits ``max_length`` tokens."""
    from harness import config
    from harness.data import training_pairs

    rows, _, _ = training_pairs(config.resolve("micro").data, 0)
    out = []
    for r in rows:
        prompt, chosen, rejected = flat(r["prompt"]), flat(r["chosen"]), flat(r["rejected"])
        if None in (prompt, chosen, rejected):
            continue
        longest = max(len(tokenizer(prompt + " " + side)["input_ids"]) for side in (chosen, rejected))
        if longest + 2 <= max_length:  # room for BOS / EOS
            out.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return out


def bench_rmbench(pairs: list[dict], args, workdir: Path, packing: bool = True) -> tuple[list[float], float]:
    from harness import config
    from harness.data.encode import encode_pairs
    from harness.trainer import Trainer

    cfg = config.resolve("micro", overrides=[
        f"train.batch_size={args.batch_size}", f"train.max_steps={args.steps}", f"model.max_length={args.max_length}",
        "train.eval_every=0", f"train.log_every={args.steps}", f"train.lr={args.lr}", "train.warmup_ratio=0",
        "train.weight_decay=0", f"train.group_by_length={str(not args.no_group).lower()}",
        f"train.packing={str(packing).lower()}"], method="bt")
    times: list[float] = []

    class Timed(Trainer):
        def _optimizer_step(self, *a, **k):
            start = args.clock()
            super()._optimizer_step(*a, **k)
            times.append(args.clock() - start)

    trainer = Timed(cfg, workdir / f"rmbench-{packing}", show_progress=False)
    train = encode_pairs(pairs, trainer.encoder)
    val = encode_pairs(pairs[:8], trainer.encoder)
    trainer.fit((train, val, {}))
    mean_tokens = statistics.fmean((len(c[0]) + len(r[0])) / 2 for c, r in zip(train.chosen, train.rejected))
    return times, mean_tokens


def bench_trl(pairs: list[dict], args, workdir: Path, base: str) -> tuple[list[float], float]:
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
    from trl import RewardConfig, RewardTrainer

    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    times: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *_, **__):
            self.start = args.clock()

        def on_step_end(self, *_, **__):
            times.append(args.clock() - self.start)

    rc = RewardConfig(output_dir=str(workdir / "trl"), per_device_train_batch_size=args.batch_size,
                      max_steps=args.steps, max_length=args.max_length, learning_rate=args.lr, lr_scheduler_type="cosine",
                      weight_decay=0.0, max_grad_norm=1.0, logging_steps=args.steps, save_strategy="no",
                      eval_strategy="no", report_to=[], use_cpu=not torch.cuda.is_available(), bf16=False,
                      dataloader_num_workers=0, disable_dropout=True, seed=0)
    trainer = RewardTrainer(model=model, args=rc, train_dataset=Dataset.from_list(pairs), processing_class=tokenizer,
                            callbacks=[StepTimer()])
    mean_tokens = statistics.fmean((len(r["chosen_ids"]) + len(r["rejected_ids"])) / 2
                                   for r in trainer.train_dataset)
    trainer.train()
    return times, mean_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-group", action="store_true", help="rmbench without length grouping")
    parser.add_argument("--cpu-time", action="store_true", help="time this process's CPU seconds instead of wall "
                        "seconds (with --threads 1: robust to other jobs on a shared machine)")
    args = parser.parse_args()
    args.clock = time.process_time if args.cpu_time else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.steps <= args.warmup:
        parser.error("--steps must exceed --warmup")

    from transformers import AutoTokenizer

    from harness.basemodel import ensure_tiny_base

    base = str(ensure_tiny_base())
    pairs = world_pairs(args.max_length, AutoTokenizer.from_pretrained(base))
    with tempfile.TemporaryDirectory() as tmp:
        rm_times, rm_tokens = bench_rmbench(pairs, args, Path(tmp))
        padded_times, _ = bench_rmbench(pairs, args, Path(tmp), packing=False)
        trl_times, trl_tokens = bench_trl(pairs, args, Path(tmp), base)
    rows = []
    for name, times, tokens in (("rmbench (packed)", rm_times, rm_tokens),
                                ("rmbench, train.packing=false", padded_times, rm_tokens),
                                ("trl RewardTrainer", trl_times, trl_tokens)):
        median = statistics.median(times[args.warmup:])
        rows.append((name, median, args.batch_size / median, tokens))
    print(f"\n{len(pairs)} pairs, batch {args.batch_size}, max length {args.max_length}, {args.steps} steps "
          f"(median of the last {args.steps - args.warmup}, {'CPU' if args.cpu_time else 'wall'} seconds), "
          f"torch threads {torch.get_num_threads()}, "
          f"device {'cuda' if torch.cuda.is_available() else 'cpu'}\n")
    print("| trainer | s / step | pairs / s | mean tokens / sequence | ratio to trl |")
    print("|---|---:|---:|---:|---:|")
    for name, median, rate, tokens in rows:
        print(f"| {name} | {median:.4f} | {rate:.1f} | {tokens:.1f} | {rate / rows[-1][2]:.2f}x |")


if __name__ == "__main__":
    main()
