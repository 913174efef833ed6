"""Throughput of `rmbench serve` under concurrent clients against offline batch scoring of the same texts.

    python benchmarks/bench_serve_throughput.py [--preset tiny] [--texts 2000] [--concurrency 16]
                                                [--items 1,8] [--repeats 3] [--threads N]

The reward model is the preset's model (``RewardModel.build``, an untrained head: throughput does not depend on the
head's weights), saved once as an rmbench checkpoint. The texts are (prompt, response) pairs of the world's ``id``
split, chosen and rejected responses, the first ``--texts`` of them.

* **offline**: ``Scorer.encode`` + ``Scorer.rewards`` over all texts in one call (the suites' path,
  ``harness.scoring.sequence_rewards``: tokenised once, sorted by length, token-budget batches of ``--max-batch``),
  in this process.
* **served**: ``rmbench serve --model CKPT --device DEVICE`` in a child process (same thread count); ``--concurrency``
  client threads (``harness.reward_client``, one keep-alive connection each) post ``POST /score`` requests of
  ``--items`` texts each until every text is scored; wall time from the first request to the last answer.

Both give the same rewards (max |difference| printed). The two are timed alternately (one pass of each per round,
``benchmarks/_timing.py``), median over ``--repeats`` rounds after one warm-up pass each. Prints a Markdown table of
texts/s and the ratio served / offline (the target under concurrency 16 is >= 0.7).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from _timing import interleaved_medians  # noqa: E402 (benchmarks/_timing.py)

REPO = Path(__file__).resolve().parents[1]
RMBENCH = [sys.executable, "-c", "from cli import app; app()"]  # `rmbench` of this checkout


def texts(n: int) -> tuple[list[str], list[str]]:
    from harness.data import world_splits
    from harness.world import WorldConfig

    rows = world_splits(WorldConfig(seed=0, n_train=0, n_id=max(n // 2 + 1, 100), n_ood=0, n_style=0))["id"]
    pairs = [(r["prompt"], r[side]) for r in rows for side in ("chosen", "rejected")][:n]
    return [p for p, _ in pairs], [r for _, r in pairs]


def start_server(ckpt: Path, port: int, max_batch: int, threads: int, device: str) -> subprocess.Popen:
    from harness.reward_client import RewardClient, RewardServerError

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.Popen(RMBENCH + ["serve", "--model", str(ckpt), "--port", str(port),
                             "--max-batch", str(max_batch), "--device", device, "--max-items", "4096"], env=env)
    client = RewardClient(f"http://127.0.0.1:{port}", timeout=10)
    deadline = time.monotonic() + 300
    while True:
        try:
            client.health()
            return proc
        except RewardServerError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("rmbench serve did not start")
            time.sleep(0.5)


def served_pass(client, prompts, responses, concurrency: int, items: int, pool) -> list[float]:
    """Every text scored through the server by ``concurrency`` threads sending ``items`` texts per request."""
    chunks = [(s, min(s + items, len(prompts))) for s in range(0, len(prompts), items)]
    out: list[float] = [0.0] * len(prompts)
    cursor = iter(chunks)
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                chunk = next(cursor, None)
            if chunk is None:
                return
            a, b = chunk
            out[a:b] = client.score(prompts[a:b], responses[a:b])

    for f in [pool.submit(worker) for _ in range(concurrency)]:
        f.result()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny", help="preset whose model to build (backbone + head)")
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--items", default="1,8", help="texts per request (comma-separated: one row each)")
    parser.add_argument("--max-batch", type=int, default=64, help="scoring batch size, offline and served")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (median)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads, here and in the server")
    parser.add_argument("--device", default="cpu", help="where both score: cpu or cuda")
    args = parser.parse_args()
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)

    import methods
    from harness import config
    from harness.data.encode import Encoder
    from harness.models import RewardModel
    from harness.reward_client import RewardClient
    from harness.scoring import Scorer

    sys.path.insert(0, str(REPO / "tests" / "integration"))
    from ports import free_port

    cfg = config.resolve(args.preset)
    model = RewardModel.build(cfg.model).eval().to(args.device)
    scorer = Scorer(model, methods.get("bt")(), Encoder(model.tokenizer, cfg.model.max_length), args.max_batch)
    prompts, responses = texts(args.texts)

    def offline_pass() -> list[float]:
        return scorer.rewards(scorer.encode(prompts, responses)[0])

    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"{device}, torch {torch.__version__}, {threads} torch thread(s) in each process, {os.cpu_count()} cores "
          f"(shared machine: other jobs may be running); {len(prompts)} texts, preset {args.preset}, "
          f"max batch {args.max_batch}; median of {args.repeats} interleaved rounds\n", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "rm"
        model.save(ckpt)
        port = free_port()
        proc = start_server(ckpt, port, args.max_batch, threads, args.device)
        client = RewardClient(f"http://127.0.0.1:{port}", timeout=600)
        try:
            with ThreadPoolExecutor(args.concurrency) as pool:
                offline = offline_pass()
                for items in [int(k) for k in args.items.split(",")]:
                    served = served_pass(client, prompts, responses, args.concurrency, items, pool)  # warm-up
                    diff = max(abs(a - b) for a, b in zip(offline, served))
                    t_off, t_srv = interleaved_medians(
                        [offline_pass, lambda: served_pass(client, prompts, responses, args.concurrency, items,
                                                           pool)], min_repeats=args.repeats)
                    rows.append((items, len(prompts) / t_off, len(prompts) / t_srv, t_off / t_srv, diff))
                    print(f"  {items} text(s)/request: offline {len(prompts) / t_off:.0f} texts/s, served "
                          f"{len(prompts) / t_srv:.0f} texts/s, ratio {t_off / t_srv:.2f}, max |Δreward| "
                          f"{diff:.1e}", flush=True)
            calls = client.info()["served"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    print(f"\nserver: {calls['requests']} requests in {calls['model_calls']} model calls\n")
    print(f"| concurrency | texts/request | offline texts/s | served texts/s | served / offline | max abs Δ reward |")
    print("|---:|---:|---:|---:|---:|---:|")
    for items, off, srv, ratio, diff in rows:
        print(f"| {args.concurrency} | {items} | {off:.0f} | {srv:.0f} | {ratio:.2f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
