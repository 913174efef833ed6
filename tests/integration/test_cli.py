"""The CLI end to end on the micro preset: train → eval → leaderboard, errors, idempotency, resume."""
import json
from pathlib import Path

import pytest

from cli_runner import invoke

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_base):
    root = tmp_path_factory.mktemp("cli")
    db = f"sqlite:///{root / 'rm.db'}"
    result = invoke("train", "bt", "--preset", "micro", "--runs-dir", root / "runs", "--db", db, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    return root, db, root / "runs" / payload["run_id"], payload


def test_train_writes_a_complete_run(trained):
    root, db, run_dir, payload = trained
    assert {m["metric"] for m in payload["metrics"]} >= {"accuracy", "ties", "identical_after_truncation"}
    result = json.loads((run_dir / "result.json").read_text())
    assert result["method"] == "bt" and result["seed"] == 0 and result["versions"]["torch"]
    assert result["train"]["steps"] == 20
    curve = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in curve if "val_accuracy" in r] == [10, 20]
    assert (run_dir / "checkpoint" / "rmbench_model.json").exists()
    predictions = (run_dir / "predictions" / "id" / "world-id.jsonl").read_text().splitlines()
    assert len(predictions) == 200


def test_eval_and_leaderboard(trained):
    root, db, run_dir, _ = trained
    result = invoke("eval", "--run", run_dir, "--suite", "splits", "--db", db, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["metrics"]
    assert {(m["split"], m["metric"]) for m in metrics} >= {("id", "accuracy"), ("response_ood", "kendall_tau_b")}
    board = json.loads(invoke("leaderboard", "--db", db, "--format", "json", "--suite", "splits").stdout)
    assert {row["split"] for row in board} == {"id", "prompt_ood", "response_ood", "mutual_ood"}
    assert all(row["n_seeds"] == 1 for row in board)


def test_training_again_is_idempotent(trained):
    root, db, run_dir, payload = trained
    before = (run_dir / "result.json").read_text()
    result = invoke("train", "bt", "--preset", "micro", "--runs-dir", root / "runs", "--db", db, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["run_id"] == payload["run_id"]
    assert (run_dir / "result.json").read_text() == before


def test_bad_data_fails_cleanly_and_writes_nothing(tmp_path, tiny_base):
    bad = tmp_path / "pairs.jsonl"
    bad.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p", "chosen": "a"}\n')
    result = invoke("train", "bt", "--preset", "micro", "--set", f"data.train={bad}", "--runs-dir",
                    tmp_path / "runs", "--db", f"sqlite:///{tmp_path / 'rm.db'}")
    assert result.exit_code == 3
    assert f"{bad}, row 2, field 'rejected': missing field" in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("args, message", [
    (("train", "btt", "--preset", "micro"), "unknown method 'btt'; did you mean: bt"),
    (("train", "bt", "--preset", "micr"), "unknown preset 'micr'; did you mean: micro"),
    (("train", "bt", "--preset", "micro", "--set", "suites=[idd]"), "unknown suite 'idd'; did you mean: id"),
    (("eval", "--model", "/no/such/model", "--suite", "idd"), "unknown suite 'idd'; did you mean: id"),
    (("eval", "--model", "/no/such/model", "--suite", "id"), "'/no/such/model': no such file or directory"),
])
def test_unknown_names_exit_2_with_close_matches(tmp_path, args, message):
    result = invoke(*args, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "runs").exists()


def test_methods_json_lists_bt():
    rows = json.loads(invoke("methods", "--json").stdout)
    assert any(r["name"] == "bt" and r["summary"] for r in rows)


def test_json_stdout_is_the_document_alone_when_a_library_prints(monkeypatch):
    """A library that prints on stdout (DeepSpeed announces its accelerator on import, whenever it is installed)
    must not break ``--json``: what it prints goes to stderr."""
    from harness import api

    table = api.method_table

    def noisy():
        print("[WARNING] Setting accelerator to CPU.")
        return table()

    monkeypatch.setattr(api, "method_table", noisy)
    result = invoke("methods", "--json")
    assert any(r["name"] == "bt" for r in json.loads(result.stdout))
    assert "Setting accelerator to CPU" in result.stderr


def test_resume_reproduces_an_uninterrupted_run(tmp_path, tiny_base, monkeypatch):
    from harness import api, config
    from harness.trainer import Trainer

    cfg = config.resolve("micro", overrides=["train.save_every=10"])
    full = api.train(cfg, runs_dir=tmp_path / "a", db=f"sqlite:///{tmp_path / 'a.db'}", show_progress=False)

    save_state = Trainer._save_state

    def save_then_die(self, state):
        save_state(self, state)
        raise KeyboardInterrupt(f"killed after step {state['step']}")

    monkeypatch.setattr(Trainer, "_save_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        api.train(cfg, runs_dir=tmp_path / "b", show_progress=False)
    run_dir = tmp_path / "b" / full["run_id"]
    assert (run_dir / "state").exists() and not (run_dir / "result.json").exists()
    with pytest.raises(Exception, match="interrupted run: pass --resume"):
        api.train(cfg, runs_dir=tmp_path / "b", show_progress=False)

    monkeypatch.setattr(Trainer, "_save_state", save_state)
    resumed = api.train(cfg, runs_dir=tmp_path / "b", db=f"sqlite:///{tmp_path / 'b.db'}", resume=True,
                        show_progress=False)
    acc = lambda r: next(m["value"] for m in r["metrics"] if m["metric"] == "accuracy")  # noqa: E731
    assert acc(resumed) == pytest.approx(acc(full), abs=1e-6)
    assert resumed["train"]["final_validation"] == pytest.approx(full["train"]["final_validation"], abs=1e-6)
    curve = lambda d: [json.loads(x)["step"] for x in (d / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert curve(run_dir) == curve(tmp_path / "a" / full["run_id"])


def test_world_generate_is_byte_identical_per_seed(tmp_path):
    for out in ("a", "b"):
        assert invoke("world", "generate", "--out", tmp_path / out, "--n-train", 300, "--n-id", 50, "--n-ood", 10,
                      "--n-style", 10).exit_code == 0
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "train.jsonl" in files and "world.json" in files
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)


def test_world_quality_reports_each_family_of_a_policy():
    result = invoke("world", "quality", "tiny-micro-sft", "--prompts", 12, "--samples", 2, "--json")
    assert result.exit_code == 0, result.output
    q = json.loads(result.output)
    assert q["policy"] == "tiny-micro-sft" and sum(f["prompts"] for f in q["families"].values()) == 12
    assert all(0 <= f["good"] <= 1 and f["oracle_gold"] >= f["gold"] for f in q["families"].values())
    table = invoke("world", "quality", "tiny-micro-sft", "--prompts", 12, "--samples", 2)
    assert table.exit_code == 0 and "oracle gold" in table.output and "addition" in table.output  # world v2


def test_world_probe_reports_each_family_of_a_causal_lm():
    result = invoke("world", "probe", "tiny-micro", "--prompts", 30, "--json")
    assert result.exit_code == 0, result.output
    p = json.loads(result.output)
    assert p["policy"] == "tiny-micro" and p["pairs"] == 30 == sum(f["pairs"] for f in p["families"].values())
    table = invoke("world", "probe", "tiny-micro", "--prompts", 30)
    assert table.exit_code == 0 and "better response more likely" in table.output and "copy" in table.output
    bad = invoke("world", "probe", "tiny-micro", "--mixture", "easy")
    assert bad.exit_code == 2 and "mixture" in bad.output
