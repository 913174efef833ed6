"""Preference-world generation: time, training pairs per second and file size, per number of training pairs.

    python benchmarks/bench_world.py [--sizes 10000,100000,1000000] [--repeats 5,3,1] [--seed 0] [--out DIR]

For each size N, ``harness.world.generate(WorldConfig(seed, n_train=N, n_id=0, n_ood=0, n_style=0))`` (training
pairs only, so the rate is that of training pairs; the fixed-size evaluation splits add about 0.2 s at the CLI
defaults), then ``harness.world.write`` of the result into a temporary directory (or ``--out``), removed afterwards.
Wall time on a shared machine includes waiting for the CPU, so CPU time (``time.process_time``) is shown as well;
the medians are over ``--repeats`` runs per size (the sizes taken in turn, one run of each per round, so load
drifts hit all sizes alike). Sizes: ``train.jsonl`` alone and the whole directory (with ``world.json``, whose fact
table and documentation are a fixed ~30 kB). Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def run_once(n: int, seed: int, out: Path) -> dict:
    from harness.world import WorldConfig, generate, write

    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    world = generate(WorldConfig(seed=seed, n_train=n, n_id=0, n_ood=0, n_style=0))
    gen_wall, gen_cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert len(world.splits["train"]) == n
    wall, cpu = time.perf_counter(), time.process_time()
    paths = write(world, out)
    write_wall, write_cpu = time.perf_counter() - wall, time.process_time() - cpu
    sizes = {p.name: p.stat().st_size for p in paths}
    del world
    shutil.rmtree(out)
    return {"gen_wall": gen_wall, "gen_cpu": gen_cpu, "write_wall": write_wall, "write_cpu": write_cpu,
            "train_bytes": sizes["train.jsonl"], "total_bytes": sum(sizes.values())}


def human(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e6 else f"{n_bytes / 1e3:.0f} kB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="training pairs per world")
    parser.add_argument("--repeats", default="5,3,1", help="runs per size (one number for all, or one per size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="directory for the written files (default: a temporary one)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    repeats = [int(r) for r in args.repeats.split(",")]
    repeats = repeats * len(sizes) if len(repeats) == 1 else repeats
    if len(repeats) != len(sizes):
        parser.error("--repeats takes one number or one per size")

    base = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rmbench-world-bench-"))
    runs: dict[int, list[dict]] = {n: [] for n in sizes}
    try:
        for round_ in range(max(repeats)):
            for n, k in zip(sizes, repeats):
                if round_ < k:
                    runs[n].append(run_once(n, args.seed, base / f"world-{n}"))
                    print(f"  n_train={n} run {round_ + 1}/{k}: generate {runs[n][-1]['gen_wall']:.2f} s wall "
                          f"/ {runs[n][-1]['gen_cpu']:.2f} s CPU", flush=True)
    finally:
        if not args.out:
            shutil.rmtree(base, ignore_errors=True)

    print(f"\nworld generation, seed {args.seed}, training pairs only; {os.cpu_count()}-core CPU shared with other "
          f"jobs (wall time includes waiting for it; CPU time does not); medians over the runs shown\n")
    print("| training pairs | runs | generate, wall (s) | generate, CPU (s) | pairs/s (CPU) | write, wall (s) | "
          "train.jsonl | directory |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        med = {key: statistics.median(r[key] for r in runs[n]) for key in runs[n][0]}
        print(f"| {n:,} | {len(runs[n])} | {med['gen_wall']:.2f} | {med['gen_cpu']:.2f} | "
              f"{n / med['gen_cpu']:,.0f} | {med['write_wall']:.2f} | {human(med['train_bytes'])} | "
              f"{human(med['total_bytes'])} |")


if __name__ == "__main__":
    main()
