"""DDP and DeepSpeed ZeRO-3 through Accelerate on CPU: 2 processes (gloo) train the same global batches as 1 process.

``train.batch_size`` is the global batch and each process takes its share (``split_global_batch``), with micro-batch
losses weighted so the DDP-averaged gradient is the global-batch mean's. The tiny Llama backbone has no dropout
(attention_dropout 0, eval-free training is deterministic), so the only difference between the two runs is the
order of fp32 reductions (the gloo all-reduce of gradients, and per-rank sums of the logged metrics). Measured on
CPU: relative differences of about 2e-7 in the loss curve after 6 AdamW steps; we allow 1e-4 relative (about 500x
headroom, still far below the step-to-step change of the loss, ~5e-2), which catches a process training on its
half batch only (loss differs by ~1e-2), a mis-scaled gradient or rank 0 logging only its own share.

``bsr`` and ``aplot`` with ``global_batch=true`` take their batch statistic over the rows of all processes, through
an all-gather that autograd sees through across ranks; they too match the single-process curve. ``bsr`` runs with
``grad_accum=2``, so each process holds a quarter of the global batch per micro-step and the gathered micro-batch must
be the one a single process holds. One ``torchrun`` launch trains the three runs in sequence to pay the launcher and
import start-up once.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

STEPS = 6
OVERRIDES = [f"train.max_steps={STEPS}", "train.log_every=1", "train.eval_every=0", "model.max_length=64",
             "data.validation_pairs=32", "suites=[id]", "data.world.n_id=40",
             "train.save_every=4"]  # a resumable checkpoint mid-run: the collective save path under DDP
RUNS = {"bt": [], "bsr": ["method_config.global_batch=true", "train.grad_accum=2", "method_config.lam=0.5"],
        "aplot": ["method_config.global_batch=true", "method_config.detach_margin=false"]}
ZERO3_RUNS = {"bt": [],  # and a method with a frozen reference model (built whole: the trained one is partitioned)
              "grm": ["method_config.regularizer=dpo", "model.head=linear"]}  # linear: GRM's mlp head has dropout
REL = 1e-4

WORKER = textwrap.dedent("""
    import json, sys
    from harness import api, config
    from accelerate import PartialState

    runs_dir, db, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    for method, overrides in spec.items():
        cfg = config.resolve("micro", overrides=overrides, method=method)
        result = api.train(cfg, runs_dir=runs_dir, db=db, show_progress=False)
        state = PartialState()
        print("RANKINFO " + json.dumps({"method": method, "rank": state.process_index,
                                        "world": state.num_processes, "returned": bool(result)}), flush=True)
""")


def curve(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def losses(run_dir: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in curve(run_dir) if "loss" in r]


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory, tiny_base):
    root = tmp_path_factory.mktemp("ddp")
    worker = root / "worker.py"
    worker.write_text(WORKER)
    spec = {m: OVERRIDES + extra for m, extra in RUNS.items()}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    env.pop("ACCELERATE_USE_CPU", None)  # the harness itself must set up gloo DDP under torchrun on CPU
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(worker), str(root / "runs"), f"sqlite:///{root / 'ddp.db'}", json.dumps(spec)]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    info = [json.loads(line.split(" ", 1)[1]) for line in proc.stdout.splitlines() if line.startswith("RANKINFO ")]
    return root, {m: _run_dir(root / "runs", m) for m in RUNS}, info


@pytest.fixture(scope="module")
def zero3_run(tmp_path_factory, tiny_base):
    """bt trained by 2 processes under DeepSpeed ZeRO-3 (gloo on CPU), launched by ``accelerate launch`` with the
    packaged ``configs/accelerate/deepspeed_zero3.yaml`` cut down to 2 CPU processes in fp32."""
    pytest.importorskip("deepspeed")
    import yaml

    from configs import accelerate as accelerate_configs

    root = tmp_path_factory.mktemp("zero3")
    config = yaml.safe_load((Path(accelerate_configs.__path__[0]) / "deepspeed_zero3.yaml").read_text())
    config.update(num_processes=2, mixed_precision="no")
    (root / "zero3.yaml").write_text(yaml.safe_dump(config))
    (root / "worker.py").write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(root / "zero3.yaml"),
           "--main_process_port", "0", str(root / "worker.py"), str(root / "runs"), f"sqlite:///{root / 'z.db'}",
           json.dumps({m: OVERRIDES + extra for m, extra in ZERO3_RUNS.items()})]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    info = [json.loads(line.split(" ", 1)[1]) for line in proc.stdout.splitlines() if line.startswith("RANKINFO ")]
    return {m: _run_dir(root / "runs", m) for m in ZERO3_RUNS}, info


def _run_dir(runs: Path, method: str) -> Path:
    (run_dir,) = [d for d in runs.iterdir() if d.name.startswith(f"{method}-micro-")]
    return run_dir


def single(tmp_path, method: str) -> Path:
    return single_run(tmp_path, method, RUNS[method])


def single_run(tmp_path, method: str, extra: list[str]) -> Path:
    from harness import api, config

    cfg = config.resolve("micro", overrides=OVERRIDES + extra, method=method)
    result = api.train(cfg, runs_dir=tmp_path / "single", db=f"sqlite:///{tmp_path / 's.db'}", show_progress=False)
    return tmp_path / "single" / result["run_id"]


def test_two_processes_really_ran_ddp_and_only_rank0_reported(ddp_runs):
    root, dirs, info = ddp_runs
    assert sorted((i["method"], i["rank"], i["world"]) for i in info) == sorted(
        (m, r, 2) for m in RUNS for r in (0, 1))
    assert all(i["returned"] == (i["rank"] == 0) for i in info)  # api.train returns the result on rank 0 only
    for run_dir in dirs.values():
        steps = [r["step"] for r in curve(run_dir) if "loss" in r]
        assert steps == list(range(1, STEPS + 1))  # one writer: no duplicated curve points
        result = json.loads((run_dir / "result.json").read_text())
        assert result["train"]["steps"] == STEPS
        assert any(m["suite"] == "id" and m["metric"] == "accuracy" for m in result["metrics"])
        assert not list(run_dir.glob("**/*.tmp"))
        state = run_dir / "state"
        assert json.loads((state / "trainer_state.json").read_text())["step"] == 4
        assert {p.name for p in state.glob("random_states_*.pkl")} == {"random_states_0.pkl", "random_states_1.pkl"}
    from harness import api

    rows = api.leaderboard(db=f"sqlite:///{root / 'ddp.db'}", suite="id", split="id", metric="accuracy")
    assert sorted(r["method"] for r in rows) == sorted(RUNS)
    assert all(r["n_seeds"] == 1 for r in rows)


@pytest.mark.parametrize("method", list(RUNS))
def test_ddp_loss_curve_matches_single_process(ddp_runs, tmp_path, method):
    _, dirs, _ = ddp_runs
    one, two = losses(single(tmp_path, method)), losses(dirs[method])
    assert [s for s, _ in one] == [s for s, _ in two]
    assert [l for _, l in two] == pytest.approx([l for _, l in one], rel=REL)
    v1 = next(r for r in curve(tmp_path / "single" / dirs[method].name) if "val_accuracy" in r)
    v2 = next(r for r in curve(dirs[method]) if "val_accuracy" in r)
    assert v2["val_accuracy"] == v1["val_accuracy"]
    assert v2["val_bt_loss"] == pytest.approx(v1["val_bt_loss"], rel=REL)
    if method == "bsr":  # the logged centre is the gathered batch's, on every step
        centres = [r["reward_centre"] for r in curve(dirs[method]) if "reward_centre" in r]
        assert len(centres) == STEPS


@pytest.mark.parametrize("method", list(ZERO3_RUNS))
def test_zero3_trains_the_single_process_curve_and_writes_the_gathered_weights(zero3_run, tmp_path, method):
    """ZeRO-3 partitions parameters, gradients and optimiser state over the 2 processes: the loss curve is still
    the single-process one, the resumable state is DeepSpeed's own (one shard per rank), and the final checkpoint
    holds the whole gathered weights: evaluated alone, it scores exactly as the single-process model does."""
    dirs, info = zero3_run
    assert sorted((i["method"], i["rank"], i["world"], i["returned"]) for i in info) == sorted(
        (m, r, 2, r == 0) for m in ZERO3_RUNS for r in (0, 1))
    run_dir, one_dir = dirs[method], single_run(tmp_path, method, ZERO3_RUNS[method])
    one, two = losses(one_dir), losses(run_dir)
    assert [s for s, _ in one] == [s for s, _ in two]
    assert [l for _, l in two] == pytest.approx([l for _, l in one], rel=REL)
    shards = {p.name for p in (run_dir / "state").rglob("zero_pp_rank_*_model_states.pt")}
    assert shards == {f"zero_pp_rank_{r}_mp_rank_00_model_states.pt" for r in (0, 1)}
    from safetensors.torch import load_file

    ours, theirs = (load_file(d / "checkpoint" / "backbone" / "model.safetensors") for d in (run_dir, one_dir))
    assert ours.keys() == theirs.keys() and all(t.numel() > 0 for t in ours.values())
    # AdamW's normalised step turns fp32 reduction-order noise on near-zero gradients into up to ~1e-5; a lost
    # shard or step would be off by about the learning rate (3e-4)
    assert max((ours[k] - theirs[k]).abs().max().item() for k in ours) < 1e-4
    accuracy = [next(m["value"] for m in json.loads((d / "result.json").read_text())["metrics"]
                     if m["suite"] == "id" and m["metric"] == "accuracy") for d in (run_dir, one_dir)]
    assert accuracy[0] == accuracy[1]
