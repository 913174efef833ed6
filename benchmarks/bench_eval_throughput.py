"""Evaluation throughput (preference pairs per second) of rmbench's scoring path against a reward-bench-style one.

    python benchmarks/bench_eval_throughput.py [--models tiny,minilm] [--batch-sizes 16,64] [--pairs 300]
                                               [--repeats 3] [--threads N]

Both pipelines score the same rows with the same reward model (``RewardModel.build`` from the model's preset, an
untrained head: throughput does not depend on the head's weights), from raw rows to one reward per response, on CPU
(or the default device), fp32, no gradient:

* **rmbench**: ``harness.scoring.score_pair_rows``, the path of the ``id`` and ``ood`` suites: every prompt and
  response is formatted and tokenised once up front (``Encoder.encode``), then chosen and rejected sequences are
  scored together, longest first, in batches of similar length padded to the longest of each batch; the first
  batch holds ``--batch-size`` sequences and later ones as many shorter sequences as fit in its token budget
  (``token_budget_batches``), so no forward pass is larger than a fixed batch of the longest sequences.
* **rmbench, padded**: the same path with packing off (``score_sequences(packing=False)``), as before packed
  scoring: a causal-LM reward model is otherwise scored in packed batches (``harness.packing``: no padding, the
  prompt shared by chosen and rejected computed once; ``packed_batches`` keeps a prompt's sequences together).
* **reward-bench style** (``scripts/run_rm.py`` of allenai/reward-bench with the default sequence-classifier
  config): a ``DataLoader(batch_size, shuffle=False, drop_last=False)`` over the formatted texts in dataset
  order, no length sorting; for each batch ``reward_pipe(batch["text_chosen"])`` then
  ``reward_pipe(batch["text_rejected"])``, where the pipeline (``RewardBenchPipeline.__call__``) is one plain HF
  tokenizer call ``tokenizer(samples, truncation=True, max_length=max_length, padding=True, return_tensors="pt")``
  (pad to the longest in the batch; ``truncation_side="left"`` as run_rm.py sets it) and one model forward per side
  under ``torch.no_grad()``. Texts are formatted up front as its ``load_eval_dataset`` does: the tokenizer's chat
  template over [user, assistant] when it has one, else (encoders such as MiniLM) the (prompt, response) text pair.

Data: the world's ``id`` split (pairs as they come) and a length-diverse set built from the world's ranking splits
(``prompt_ood``, ``response_ood``, ``mutual_ood``: every pair of a prompt's 4 responses whose gold scores differ,
the better one chosen; the three splits interleaved), the first ``--pairs`` rows of each, keeping only rows that fit
the model's ``max_length`` so that neither pipeline truncates. Both pipelines are first checked to give the same
rewards (max |difference| printed). Timed: whole passes over a dataset, the two pipelines alternating (one pass of
each per round, the sanity-check pass of each being the warm-up), median over ``--repeats`` rounds. The "padding"
columns are padded tokens per real token over the pass, the "forwards" columns the number of forward passes. Prints
a Markdown table with the ratio rmbench / reward-bench style.
"""
from __future__ import annotations

import argparse
import os
import time
from types import SimpleNamespace

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from _timing import interleaved_medians  # noqa: E402 (benchmarks/_timing.py)

# -- data ------------------------------------------------------------------------------------------------------------
def world_datasets(n_pairs: int) -> dict[str, list[dict]]:
    """{"world-id": pairs, "world-rankings": pairs}, each capped at ``n_pairs`` rows."""
    from harness.data import world_splits
    from harness.world import WorldConfig

    splits = world_splits(WorldConfig(seed=0, n_train=0, n_id=max(n_pairs, 1000), n_ood=300, n_style=0))
    per_split = []
    for name in ("prompt_ood", "response_ood", "mutual_ood"):
        pairs = []
        for row in splits[name]:
            resp, gold = row["responses"], row["gold_scores"]
            for i in range(len(resp)):
                for j in range(i + 1, len(resp)):
                    if gold[i] != gold[j]:
                        hi, lo = (i, j) if gold[i] > gold[j] else (j, i)
                        pairs.append({"id": f"{row['id']}-{hi}-{lo}", "prompt": row["prompt"],
                                      "chosen": resp[hi], "rejected": resp[lo]})
        per_split.append(pairs)
    interleaved = [p for group in zip(*per_split) for p in group]
    ids = [{k: r[k] for k in ("id", "prompt", "chosen", "rejected")} for r in splits["id"]]
    return {"world-id": ids[:n_pairs], "world-rankings": interleaved[:n_pairs]}


def fitting(rows: list[dict], encoder) -> list[dict]:
    """Rows whose two sequences fit ``encoder.max_length`` untruncated and differ (so no pipeline drops or cuts any)."""
    from harness.data.encode import Encoder

    full = Encoder(encoder.tokenizer, 10 ** 9)
    prompts = [r["prompt"] for r in rows]
    chosen = full.encode(prompts, [r["chosen"] for r in rows])
    rejected = full.encode(prompts, [r["rejected"] for r in rows])
    return [r for r, c, j in zip(rows, chosen, rejected)
            if max(len(c[0]), len(j[0])) <= encoder.max_length and c[0] != j[0]]


# -- the two pipelines ---------------------------------------------------------------------------------------------
def rmbench_pass(ctx, rows: list[dict]) -> tuple[list[float], list[float]]:
    """rmbench's evaluation path, as the id / ood suites call it."""
    from harness.scoring import score_pair_rows

    identical, chosen, rejected = score_pair_rows(ctx, rows, "bench")
    assert not identical
    return chosen.tolist(), rejected.tolist()


def rmbench_padded_pass(ctx, rows: list[dict]) -> tuple[list[float], list[float]]:
    """:func:`rmbench_pass` with packing off (``score_pair_rows`` → ``score_pairs`` with padded batches)."""
    from harness.data.encode import encode_pairs
    from harness.scoring import score_sequences

    data = encode_pairs(rows, ctx.encoder)
    raw = score_sequences(ctx.model, data.chosen + data.rejected, ctx.model.tokenizer.pad_token_id, ctx.batch_size,
                          show_progress=False, packing=False)
    scores = ctx.method.score(raw)
    return scores[: len(rows)].tolist(), scores[len(rows):].tolist()


class RewardBenchStyle:
    """reward-bench's ``run_rm.py`` inference loop (default Seq. Classifier config) around the same reward model."""

    def __init__(self, model, tokenizer, max_length: int, batch_size: int):
        import copy

        self.model = model.eval()
        self.tokenizer = copy.copy(tokenizer)
        self.tokenizer.truncation_side = "left"  # run_rm.py: "copied from Starling"
        self.max_length, self.batch_size = max_length, batch_size
        self.chat = bool(getattr(tokenizer, "chat_template", None))

    def format(self, rows: list[dict]) -> dict[str, list]:
        """``load_eval_dataset``: one text per side, formatted before inference (dataset.map in reward-bench)."""
        if self.chat:  # prepare_dialogue_from_tokenizer: the tokenizer's chat template over the conversation
            def text(prompt, response):
                return self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}], tokenize=False)
            return {key: [text(r["prompt"], r[key]) for r in rows] for key in ("chosen", "rejected")}
        # no chat template (an encoder such as MiniLM): the (prompt, response) text pair, [CLS] p [SEP] r [SEP]
        return {key: [(r["prompt"], r[key]) for r in rows] for key in ("chosen", "rejected")}

    @torch.no_grad()
    def pipe(self, samples: list) -> torch.Tensor:
        """``RewardBenchPipeline.__call__``: one plain tokenizer call padding to the longest, one forward."""
        kwargs = dict(truncation=True, max_length=self.max_length, padding=True, return_tensors="pt",
                      return_token_type_ids=False)
        if self.chat:
            inputs = self.tokenizer(samples, **kwargs)
        else:
            inputs = self.tokenizer([p for p, _ in samples], [r for _, r in samples], **kwargs)
        device = next(self.model.parameters()).device
        self.padded += inputs["attention_mask"].numel()
        return self.model(inputs["input_ids"].to(device), inputs["attention_mask"].to(device))[0]

    def __call__(self, rows: list[dict]) -> tuple[list[float], list[float]]:
        self.padded = 0
        texts = self.format(rows)
        scores_chosen, scores_rejected = [], []
        for start in range(0, len(rows), self.batch_size):  # DataLoader(shuffle=False, drop_last=False)
            batch = slice(start, start + self.batch_size)
            rewards_chosen = self.pipe(texts["chosen"][batch])
            rewards_rejected = self.pipe(texts["rejected"][batch])
            scores_chosen.extend(rewards_chosen.float().cpu().numpy().tolist())  # "cast to float in case of bf16"
            scores_rejected.extend(rewards_rejected.float().cpu().numpy().tolist())
        return scores_chosen, scores_rejected


def rmbench_padding(encoder, rows: list[dict], batch_size: int, packed: bool) -> tuple[int, int, int]:
    """(computed tokens, real tokens, forward passes) of rmbench's batches over ``rows`` (each distinct sequence
    once, as ``longest_first`` scores them), packed or padded."""
    from harness.data.encode import encode_pairs, padded_width
    from harness.packing import pack
    from harness.scoring import distinct, packed_batches, token_budget_batches

    data = encode_pairs(rows, encoder)
    unique = distinct(data.chosen + data.rejected)[0]
    lengths = [len(ids) for ids, _ in unique]
    if packed:
        batches = packed_batches(unique, batch_size)
        computed = sum(pack([unique[i] for i in b], 0).input_ids.numel() for b in batches)
    else:
        batches = token_budget_batches(lengths, batch_size)
        computed = sum(padded_width(max(lengths[i] for i in b)) * len(b) for b in batches)
    return computed, sum(lengths), len(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="tiny,minilm", help="presets whose model to build (backbone + head)")
    parser.add_argument("--batch-sizes", default="16,64", help="sequences per forward pass (reward-bench: 64)")
    parser.add_argument("--pairs", type=int, default=300, help="rows per dataset (before the max-length filter)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (median)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--cpu-time", action="store_true", help="time this process's CPU seconds instead of wall "
                        "seconds (with --threads 1: robust to other jobs on a shared machine)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import methods
    from harness import config
    from harness.data.encode import Encoder
    from harness.models import RewardModel
    from harness.packing import can_pack

    datasets = world_datasets(args.pairs)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    table = []
    print(f"{'CPU-time' if args.cpu_time else 'wall-clock'} timings, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), device {'cuda' if torch.cuda.is_available() else 'cpu'}; "
          f"median of {args.repeats} interleaved rounds\n")
    for preset in args.models.split(","):
        cfg = config.resolve(preset)
        model = RewardModel.build(cfg.model).eval()
        if torch.cuda.is_available():
            model = model.cuda()
        encoder = Encoder(model.tokenizer, cfg.model.max_length)
        for name, all_rows in datasets.items():
            rows = fitting(all_rows, encoder)
            for b in batch_sizes:
                ctx = SimpleNamespace(model=model, method=methods.get("bt")(), encoder=encoder, batch_size=b,
                                      show_progress=False, score_cache=None)  # every pass scores all rows
                peer = RewardBenchStyle(model, model.tokenizer, cfg.model.max_length, b)
                ours, padded_ours, theirs = rmbench_pass(ctx, rows), rmbench_padded_pass(ctx, rows), peer(rows)
                diff = max(abs(x - y) for run in (ours, padded_ours) for a, c in zip(run, theirs)
                           for x, y in zip(a, c))
                # the sanity-check passes above were the warm-up
                t_ours, t_padded, t_peer = interleaved_medians(
                    [lambda: rmbench_pass(ctx, rows), lambda: rmbench_padded_pass(ctx, rows), lambda: peer(rows)],
                    min_repeats=args.repeats, clock=time.process_time if args.cpu_time else time.perf_counter)
                packs = can_pack(model)
                computed, real, forwards = rmbench_padding(encoder, rows, b, packs)
                table.append((preset, cfg.model.backbone, name, b, len(rows), len(rows) / t_ours,
                              len(rows) / t_padded, len(rows) / t_peer, t_peer / t_ours, computed / real,
                              peer.padded / real, forwards, 2 * -(-len(rows) // b), diff))
                print(f"  {preset} {name} B={b}: {len(rows) / t_ours:.0f} (padded {len(rows) / t_padded:.0f}) vs "
                      f"{len(rows) / t_peer:.0f} pairs/s, max |Δreward| {diff:.2e}", flush=True)
    print("\n| model | data | batch size | pairs | rmbench pairs/s | rmbench padded pairs/s | reward-bench-style "
          "pairs/s | ratio | computed / real tokens rmbench | computed / real tokens peer | forwards rmbench | forwards peer | "
          "max abs Δ reward |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for preset, backbone, name, b, n, ours, padded, theirs, ratio, comp, pad_peer, f_ours, f_peer, diff in table:
        print(f"| {preset} ({backbone}) | {name} | {b} | {n} | {ours:.0f} | {padded:.0f} | {theirs:.0f} | "
              f"{ratio:.2f}× | {comp:.2f} | {pad_peer:.2f} | {f_ours} | {f_peer} | {diff:.1e} |")


if __name__ == "__main__":
    main()
