"""Cost of the adaptive-margin methods against `bt`, per batch size B (B preference pairs).

    python benchmarks/bench_margin_methods.py [--sizes 8,16,32,64,128,256,512,1024] [--hidden 192] [--threads N]
    python benchmarks/bench_margin_methods.py --full-step [--sizes 8,16,32,64,128,256,512,1024] [--seq-len 64]

Default: forward + backward of the loss alone for `bt`, `aplot` and `pointmargin` on tensors shaped like the tiny
model's output (hidden size 192); the "Sinkhorn" column is the plan alone (POT), included in the APLOT time.
``--full-step``: one training step (model forward on the 2B sequences, loss, backward) of the tiny reward model
(``RewardModel.build(ModelConfig(backbone="tiny"))``) on random token ids; a step at B = 1024 (2048 sequences) takes
tens of seconds on a CPU, so this mode defaults to 1 warm-up and 3 timed repetitions per method. Prints Markdown tables
of median times (after warm-up), the ratios to BT and, for whole steps, the added milliseconds.
"""
from __future__ import annotations

import argparse
import os
from typing import Callable

import torch
from _timing import interleaved_medians  # benchmarks/_timing.py

import methods
from harness.types import RewardOutput
from methods.aplot import pair_cost, transport_plan


def make_output(b: int, hidden: int, seed: int) -> RewardOutput:
    g = torch.Generator().manual_seed(seed)
    leaves = [torch.randn(b, generator=g), torch.randn(b, generator=g), torch.randn(b, hidden, generator=g),
              torch.randn(b, hidden, generator=g)]
    return RewardOutput(*[t.requires_grad_() for t in leaves])


def loss_step(method, out: RewardOutput) -> Callable[[], object]:
    def step():
        for t in (out.chosen, out.rejected, out.chosen_hidden, out.rejected_hidden):
            t.grad = None
        result = method.loss(out)
        result.loss.backward()
        return result
    return step


def full_step(model, b: int, seq_len: int, method) -> Callable[[], object]:
    g = torch.Generator().manual_seed(b)
    ids = torch.randint(4, model._core.config.vocab_size, (2 * b, seq_len), generator=g)
    mask = torch.ones_like(ids)

    def step():
        model.zero_grad(set_to_none=True)
        rewards, hidden = model(ids, mask)
        result = method.loss(RewardOutput(rewards[:b], rewards[b:], hidden[:b], hidden[b:]))
        result.loss.backward()
        return result
    return step


def bench_full_step(sizes: list[int], seq_len: int, timing: dict) -> None:
    from harness.config import ModelConfig
    from harness.models import RewardModel

    model = RewardModel.build(ModelConfig(backbone="tiny"))
    names = ["bt", "aplot", "pointmargin"]
    print(f"full training step (tiny model, hidden {model.hidden_size}, {seq_len} tokens per sequence), "
          f"{machine()}, median of ≥{timing['min_repeats']} interleaved runs after {timing['warmup']} warm-up\n")
    print("| B | BT (ms) | APLOT (ms) | PointMargin (ms) | APLOT/BT | PointMargin/BT | APLOT − BT (ms) | "
          "PointMargin − BT (ms) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for b in sizes:
        t = interleaved_medians([full_step(model, b, seq_len, methods.get(n)()) for n in names], **timing)
        print(f"| {b} | {t[0] * 1e3:.1f} | {t[1] * 1e3:.1f} | {t[2] * 1e3:.1f} | {t[1] / t[0]:.3f}× | "
              f"{t[2] / t[0]:.3f}× | {(t[1] - t[0]) * 1e3:+.1f} | {(t[2] - t[0]) * 1e3:+.1f} |", flush=True)


def machine() -> str:
    return (f"CPU ({os.cpu_count()} cores, shared with other jobs when run on the project's build machine), torch "
            f"{torch.__version__}, {torch.get_num_threads()} thread(s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="8,16,32,64,128,256,512,1024")
    parser.add_argument("--hidden", type=int, default=192)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up runs (default 5; --full-step: 1)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="minimum timed repetitions (default 30; --full-step: 3)")
    parser.add_argument("--min-seconds", type=float, default=None,
                        help="minimum timed seconds per method and cell (default 1.0; --full-step: 0)")
    parser.add_argument("--full-step", action="store_true", help="time a whole training step of the tiny model")
    parser.add_argument("--seq-len", type=int, default=64, help="tokens per sequence with --full-step")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    defaults = (1, 3, 0.0) if args.full_step else (5, 30, 1.0)
    timing = dict(warmup=defaults[0] if args.warmup is None else args.warmup,
                  min_repeats=defaults[1] if args.repeats is None else args.repeats,
                  min_seconds=defaults[2] if args.min_seconds is None else args.min_seconds)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.full_step:
        bench_full_step(sizes, args.seq_len, timing)
        return
    bt, aplot, pm = methods.get("bt")(), methods.get("aplot")(), methods.get("pointmargin")()

    print(f"loss forward+backward, {machine()}, hidden {args.hidden}, median of ≥{timing['min_repeats']} interleaved "
          f"runs after {timing['warmup']} warm-up\n")
    print("| B | BT (ms) | APLOT (ms) | Sinkhorn (ms) | iters | PointMargin (ms) | APLOT/BT | PointMargin/BT |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for b in sizes:
        out = make_output(b, args.hidden, seed=b)
        cost = pair_cost(out.chosen.detach(), out.rejected.detach(), out.chosen_hidden.detach(),
                         out.rejected_hidden.detach(), aplot.config.gamma)
        t_bt, t_aplot, t_pm, t_plan = interleaved_medians(
            [loss_step(bt, out), loss_step(aplot, out), loss_step(pm, out),
             lambda: transport_plan(cost, aplot.config.beta)], **timing)
        iters = transport_plan(cost, aplot.config.beta)[1]
        print(f"| {b} | {t_bt * 1e3:.3f} | {t_aplot * 1e3:.3f} | {t_plan * 1e3:.3f} | {iters} | {t_pm * 1e3:.3f} | "
              f"{t_aplot / t_bt:.1f}× | {t_pm / t_bt:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
