"""Cost of the adaptive-margin methods against `bt`, per batch size B (B preference pairs).

    python benchmarks/bench_margin_methods.py [--sizes 8,32,128,512,1024] [--hidden 192] [--threads N]
    python benchmarks/bench_margin_methods.py --full-step [--sizes 8,32,128] [--seq-len 64]

Default: forward + backward of the loss alone for `bt`, `aplot` and `pointmargin` on tensors shaped like the tiny
model's output (hidden size 192); the "Sinkhorn" column is the plan alone (POT), included in the APLOT time.
``--full-step``: one training step (model forward on the 2B sequences, loss, backward) of the tiny reward model
(``RewardModel.build(ModelConfig(backbone="tiny"))``) on random token ids. Prints Markdown tables of median times
(after warm-up) and the ratios to BT.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import methods  # noqa: E402
from harness.types import RewardOutput  # noqa: E402
from methods.aplot import pair_cost, transport_plan  # noqa: E402


def median_seconds(fn: Callable[[], object], warmup: int, min_repeats: int, min_seconds: float) -> float:
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


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
    print(f"full training step (tiny model, hidden {model.hidden_size}, {seq_len} tokens per sequence), CPU, "
          f"{torch.get_num_threads()} thread(s), median of ≥{timing['min_repeats']} runs\n")
    print("| B | BT (ms) | APLOT (ms) | PointMargin (ms) | APLOT/BT | PointMargin/BT |")
    print("|---:|---:|---:|---:|---:|---:|")
    for b in sizes:
        t = [median_seconds(full_step(model, b, seq_len, methods.get(n)()), **timing) for n in names]
        print(f"| {b} | {t[0] * 1e3:.1f} | {t[1] * 1e3:.1f} | {t[2] * 1e3:.1f} | {t[1] / t[0]:.3f}× | "
              f"{t[2] / t[0]:.3f}× |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="8,32,128,512,1024")
    parser.add_argument("--hidden", type=int, default=192)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30, help="minimum timed repetitions")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="minimum timed seconds per cell")
    parser.add_argument("--full-step", action="store_true", help="time a whole training step of the tiny model")
    parser.add_argument("--seq-len", type=int, default=64, help="tokens per sequence with --full-step")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    timing = dict(warmup=args.warmup, min_repeats=args.repeats, min_seconds=args.min_seconds)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.full_step:
        bench_full_step(sizes, args.seq_len, timing)
        return
    bt, aplot, pm = methods.get("bt")(), methods.get("aplot")(), methods.get("pointmargin")()

    print(f"loss forward+backward, CPU, torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"hidden {args.hidden}, median of ≥{args.repeats} runs after {args.warmup} warm-up\n")
    print("| B | BT (ms) | APLOT (ms) | Sinkhorn (ms) | iters | PointMargin (ms) | APLOT/BT | PointMargin/BT |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for b in sizes:
        out = make_output(b, args.hidden, seed=b)
        t_bt = median_seconds(loss_step(bt, out), **timing)
        t_aplot = median_seconds(loss_step(aplot, out), **timing)
        t_pm = median_seconds(loss_step(pm, out), **timing)
        cost = pair_cost(out.chosen.detach(), out.rejected.detach(), out.chosen_hidden.detach(),
                         out.rejected_hidden.detach(), aplot.config.gamma)
        t_plan = median_seconds(lambda: transport_plan(cost, aplot.config.beta), **timing)
        iters = transport_plan(cost, aplot.config.beta)[1]
        print(f"| {b} | {t_bt * 1e3:.3f} | {t_aplot * 1e3:.3f} | {t_plan * 1e3:.3f} | {iters} | {t_pm * 1e3:.3f} | "
              f"{t_aplot / t_bt:.1f}× | {t_pm / t_bt:.1f}× |")


if __name__ == "__main__":
    main()
