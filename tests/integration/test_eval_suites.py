"""`rmbench eval --suite splits|style|noise|ood|diagnostics` on a micro-preset bt run, --model, batch invariance."""
import json
from pathlib import Path

import pytest

from cli_runner import invoke as run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

pytestmark = pytest.mark.slow


def invoke(*args):
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["metrics"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_base):
    root = tmp_path_factory.mktemp("suites")
    db = f"sqlite:///{root / 'rm.db'}"
    result = run_cli("train", "bt", "--preset", "micro", "--runs-dir", root / "runs", "--db", db, "--json")
    return root, db, root / "runs" / json.loads(result.stdout)["run_id"]


def keys(metrics):
    return {(m["dataset"], m["split"], m["metric"]) for m in metrics}


def test_style_and_diagnostics(run):
    root, db, run_dir = run
    style = invoke("eval", "--run", run_dir, "--suite", "style", "--db", db, "--json")
    assert ("world", "overall", "hard_accuracy") in keys(style) and all(m["suite_version"] for m in style)
    assert (run_dir / "predictions" / "style" / "world-style.jsonl").exists()
    diag = invoke("eval", "--run", run_dir, "--suite", "diagnostics", "--db", db, "--json")
    assert {("world", s, "effective_rank") for s in ("train", "id", "mutual_ood")} <= keys(diag)
    assert ("world", "id", "ece_10bins") in keys(diag)


def test_ood_on_fixture_files_and_the_world_fallback(run):
    root, db, run_dir = run
    metrics = invoke("eval", "--run", run_dir, "--suite", "ood", "--db", db, "--json",
                     "--data", f"rewardbench:{FIXTURES}/rewardbench/filtered.jsonl",
                     "--data", f"mtbench:{FIXTURES}/mtbench/human.jsonl")
    assert {("rewardbench-filtered", "overall", "score"), ("mtbench-human", "all", "ties_excluded")} <= keys(metrics)
    fallback = invoke("eval", "--run", run_dir, "--suite", "ood", "--db", db, "--json")
    assert ("world-fallback", "mutual_ood", "accuracy") in keys(fallback)
    board = json.loads(run_cli("leaderboard", "--db", db, "--format", "json", "--suite", "ood").stdout)
    assert {row["dataset"] for row in board} >= {"rewardbench-filtered", "world-fallback"}


def test_noise_trains_one_run_per_rate(run):
    root, db, run_dir = run
    metrics = invoke("eval", "--run", run_dir, "--suite", "noise", "--set", "noise.rates=0,0.5",
                     "--set", "train.max_steps=5", "--db", db, "--json")
    assert {("world", "id@noise=0", "accuracy"), ("world", "mutual_ood@noise=0.5", "kendall_tau_b")} <= keys(metrics)
    flipped = {m["split"]: m["value"] for m in metrics if m["metric"] == "label_flipped"}
    assert flipped["train@noise=0"] == 0 and flipped["train@noise=0.5"] > 0
    runs = [json.loads(x) for x in (run_dir / "predictions" / "noise" / "runs.jsonl").read_text().splitlines()]
    assert [r["rate"] for r in runs] == [0.0, 0.5] and len(runs[1]["flipped_rows"]) == flipped["train@noise=0.5"]


def test_model_path_and_batch_size_invariance(run):
    root, db, run_dir = run
    metrics = invoke("eval", "--model", run_dir / "checkpoint", "--suite", "splits", "--runs-dir", root / "runs",
                     "--db", db, "--json", "--set", "data.world.n_id=40", "--set", "data.world.n_ood=10")
    assert ("world", "id", "accuracy") in keys(metrics)
    ckpt = next(p for p in (root / "runs").iterdir() if p.name.startswith("ckpt-checkpoint-"))
    result = json.loads((ckpt / "result.json").read_text())
    assert result["method"] == "bt" and result["model_path"] == str((run_dir / "checkpoint").resolve())

    from harness.config import resolve
    from harness.data import world_splits
    from harness.data.encode import Encoder
    from harness.metrics import pairwise_accuracy
    from harness.models import RewardModel
    from harness.scoring import score_sequences

    model = RewardModel.load(run_dir / "checkpoint")
    rows = world_splits(resolve("micro").data.world)["id"][:24]
    encoder = Encoder(model.tokenizer, 128)
    seqs = encoder.encode([r["prompt"] for r in rows] * 2, [r["chosen"] for r in rows] + [r["rejected"] for r in rows])
    one, sixteen = (score_sequences(model, seqs, model.tokenizer.pad_token_id, b, show_progress=False) for b in (1, 16))
    assert (one - sixteen).abs().max() < 1e-5
    assert pairwise_accuracy(one[:24], one[24:])[0] == pairwise_accuracy(sixteen[:24], sixteen[24:])[0]


def test_ood_on_rewardbench2_rmb_and_judgebench_in_one_table(run):
    root, db, run_dir = run
    fixtures = FIXTURES
    data = (f"rewardbench2:{fixtures}/rewardbench2,rmb:{fixtures}/rmb/RMB_dataset,"
            f"judgebench:{fixtures}/judgebench/data/dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl")
    printed = run_cli("eval", "--run", run_dir, "--suite", "ood", "--db", db, "--data", data)
    assert printed.exit_code == 0, printed.output
    assert printed.stdout.count(run_dir.name) == 1  # one table, titled by the run id
    metrics = invoke("eval", "--run", run_dir, "--suite", "ood", "--db", db, "--json", "--data", data)
    assert {("rewardbench2-rewardbench2", "overall", "score"), ("rmb-RMB_dataset", "pairwise", "accuracy"),
            ("rmb-RMB_dataset", "bon", "accuracy"),
            ("judgebench-dataset_judgebench_response_model_gpt-4o-2024-05-13", "all", "accuracy_official")
            } <= keys(metrics)
    assert {m["suite_version"] for m in metrics if m["suite"] == "ood"} == {"2"}
    assert (run_dir / "predictions" / "ood" / "rewardbench2-rewardbench2-all.jsonl").exists()


def test_id_predictions_go_into_the_run_not_beside_the_data(run, tmp_path):
    root, db, run_dir = run
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"}\n')
    metrics = invoke("eval", "--run", run_dir, "--suite", "id", "--db", db, "--json", "--data", data.resolve())
    assert ("pairs", "id", "accuracy") in keys(metrics)
    assert (run_dir / "predictions" / "id" / "pairs-id.jsonl").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.jsonl"]
