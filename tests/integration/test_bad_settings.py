"""Bad settings fail before any work, as one ``error:`` line with exit code 2 (3 for bad data): every probe of issue
22's list, through the CLI. Nothing is trained (each probe would take minutes if it were), nothing is written."""
from __future__ import annotations

from pathlib import Path

import pytest

from cli_runner import invoke

MICRO = ("train", "bt", "--preset", "micro")


def _fails_at_once(result, code: int, message: str, runs: Path) -> None:
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == code, result.output
    assert len(errors) == 1 and message in errors[0], result.output
    assert "Traceback" not in result.output
    assert not runs.exists() or not any(runs.iterdir())


@pytest.fixture
def pairs(tmp_path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n')
    return path


@pytest.fixture
def cut_csv(tmp_path) -> Path:
    path = tmp_path / "cut.csv"
    path.write_text('prompt,chosen,rejected\np1,a,b\np2,"an answer cut\n')
    return path


@pytest.mark.parametrize("args, message", [
    (("--set", "train.batch_size=0"), "train.batch_size: must be ≥ 1, got 0"),
    (("--set", "data.world.n_train=-5"), "data.world.n_train: must be ≥ 0, got -5"),
    (("--set", "train.lr=-1"), "train.lr: must be > 0, got -1.0"),
    (("--set", "train.lr=.nan"), "train.lr: expected a finite number"),
    (("--set", "model.max_length=4"), "model.max_length: must be ≥ 16, got 4"),
    (("--set", "train.max_steps=0", "--set", "train.epochs=0"), "train.epochs: must be > 0 when max_steps is 0"),
    (("--set", "train.batch_size=2", "--set", "train.grad_accum=4"), "train.batch_size: the global batch (2)"),
    (("--set", "data.label_noise=1.5"), "data.label_noise: must be ≥ 0 and ≤ 1, got 1.5"),
    (("--set", "model.lora.dropout=1"), "model.lora.dropout: must be ≥ 0 and < 1, got 1.0"),
    (("--set", "model.head=mlpp"), "model.head: expected one of linear, mlp, got 'mlpp'"),
    (("--set", "train.schedule=cos"), "train.schedule: expected one of cosine, linear, constant, got 'cos'"),
    (("--set", "train.lrr=1"), "unknown config key 'train.lrr'; did you mean: lr"),
    (("--set", "train.batch_size=big"), "train.batch_size: expected int, got 'big'"),
    (("--set", "train.lr"), "--set expects key=value, got 'train.lr'"),
    (("--set", "suites=[idd]"), "unknown suite 'idd'; did you mean: id"),
    (("--set", "method_config.lam=1"), "unknown bt config key 'lam'"),
    (("--set", "model.backbone=/no/such/model"), "model.backbone '/no/such/model': no such model directory"),
    (("--preset", "micr"), "unknown preset 'micr'; did you mean: micro"),
    (("--suites", "id,splitz"), "unknown suite 'splitz'; did you mean: splits"),
])
def test_a_bad_run_setting_is_one_line_and_exit_2(tmp_path, args, message):
    result = invoke(*MICRO, *args, "--runs-dir", tmp_path / "runs", "--db", f"sqlite:///{tmp_path / 'rm.db'}")
    _fails_at_once(result, 2, message, tmp_path / "runs")


@pytest.mark.parametrize("method, setting, message", [
    ("aplot", "gamma=-3", "method_config.gamma: must be ≥ 0 and ≤ 1, got -3.0"),
    ("aplot", "beta=0", "method_config.beta: must be > 0, got 0.0"),
    ("aplot", "margin_norm=sum", "method_config.margin_norm: expected one of conditional, literal, got 'sum'"),
    ("grm", "alpha=1.5", "method_config.alpha: must be ≥ 0 and ≤ 1, got 1.5"),
    ("grm", "regularizer=kl", "method_config.regularizer: expected one of sft, dpo_noref, dpo, got 'kl'"),
    ("bt_label_smooth", "epsilon=0.5", "method_config.epsilon: must be ≥ 0 and < 0.5, got 0.5"),
    ("bt_ensemble", "k=0", "method_config.k: must be ≥ 1, got 0"),
    ("bt_hinge", "margin=-1", "method_config.margin: must be ≥ 0, got -1.0"),
    ("rmo", "filter_ratio=1", "method_config.filter_ratio: must be ≥ 0 and < 1, got 1.0"),
    ("bsr", "lam=-0.1", "method_config.lam: must be ≥ 0, got -0.1"),
])
def test_a_method_hyper_parameter_outside_its_papers_domain_is_exit_2(tmp_path, method, setting, message):
    result = invoke("train", method, "--preset", "micro", "--set", f"method_config.{setting}",
                    "--runs-dir", tmp_path / "runs", "--db", f"sqlite:///{tmp_path / 'rm.db'}")
    _fails_at_once(result, 2, message, tmp_path / "runs")


def test_unknown_method_is_exit_2(tmp_path):
    _fails_at_once(invoke("train", "btt", "--preset", "micro", "--runs-dir", tmp_path / "runs"), 2,
                   "unknown method 'btt'; did you mean: bt", tmp_path / "runs")


def test_the_id_suite_without_held_out_pairs_fails_before_training(tmp_path, pairs):
    """A run on a file has no world id split: the default id suite needs --data, which train cannot be given."""
    result = invoke(*MICRO, "--set", f"data.train={pairs}", "--runs-dir", tmp_path / "runs")
    _fails_at_once(result, 2, "the id suite needs held-out pairs from the training distribution", tmp_path / "runs")


@pytest.mark.parametrize("train, code, message", [
    ("pairs:{pairs}", 2, "unknown data format 'pairs'; choose from: generic, "),
    ("{tmp}/missing.jsonl", 3, "missing.jsonl: no such file or directory (data.train takes a pairs file"),
    ("{cut}", 3, "cut.csv, row 3: malformed CSV: the file ends inside a quoted field"),
    ("skywork:{tmp}/missing.jsonl", 3, "missing.jsonl: no such file"),
])
def test_bad_training_data_fails_before_a_model_is_built(tmp_path, pairs, cut_csv, monkeypatch, train, code,
                                                         message):
    from harness import trainer

    def no_model(*args, **kwargs):
        raise AssertionError("a model was built before the data was checked")

    monkeypatch.setattr(trainer.RewardModel, "build", no_model)
    spec = train.format(pairs=pairs, tmp=tmp_path, cut=cut_csv)
    result = invoke(*MICRO, "--set", f"data.train={spec}", "--set", "suites=[]", "--runs-dir", tmp_path / "runs")
    _fails_at_once(result, code, message, tmp_path / "runs")


@pytest.fixture
def world_run(tmp_path) -> Path:
    """A finished run's directory as far as the checks before evaluation read it (config and result, no model)."""
    from harness import config
    from harness.runs import RunResult, run_id, write_run_config

    cfg = config.resolve("micro")
    run_dir = tmp_path / "runs" / run_id(cfg)
    run_dir.mkdir(parents=True)
    write_run_config(run_dir, cfg)
    RunResult(run_id=run_dir.name, method="bt", method_config={}, preset="micro", config_hash="0", config={},
              backbone="tiny", data="world", seed=0, versions={}, git_sha=None, started_at="", finished_at="",
              wall_times={}, train={}).write(run_dir)
    return run_dir


@pytest.mark.parametrize("args, code, message", [
    (("--suite", "id", "--data", "pairs:{pairs}"), 2, "unknown data format 'pairs'; choose from: generic, "),
    (("--suite", "id", "--data", "{tmp}/missing.jsonl"), 3, "missing.jsonl: no such file or directory"),
    (("--suite", "id", "--data", "{pairs}", "--data", "{pairs}"), 2, "the id suite needs one pairs file"),
    (("--suite", "idd"), 2, "unknown suite 'idd'; did you mean: id"),
    (("--suite", "id", "--algo", "ppo"), 2, "--algo chooses the RL algorithm of the rl suite: add --suite rl"),
    (("--suite", "noise", "--set", "splits.x=1"), 2, "options for a suite that is not run"),
    (("--suite", "bon", "--set", "bon.temperature=0"), 2, "bon.temperature: must be > 0, got 0.0"),
    (("--suite", "bon", "--set", "bon.n_max=3"), 2, "bon.n_max: expected a power of 2 (1, 2, 4, …), got 3"),
    (("--suite", "diagnostics", "--set", "diagnostics.bins=0"), 2, "diagnostics.bins: must be ≥ 1, got 0"),
    (("--suite", "noise", "--set", "train.lr=-1"), 2, "train.lr: must be > 0, got -1.0"),
])
def test_bad_evaluation_settings_fail_before_the_model_is_loaded(world_run, pairs, monkeypatch, args, code,
                                                                 message):
    import harness.external

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the settings were checked")

    monkeypatch.setattr(harness.external, "load_reward_model", no_model)
    tmp = world_run.parent.parent
    args = [a.format(pairs=pairs, tmp=tmp) for a in args]
    result = invoke("eval", "--run", world_run, *args, "--db", f"sqlite:///{tmp / 'rm.db'}")
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == code and len(errors) == 1 and message in errors[0], result.output


@pytest.mark.parametrize("args, message", [
    (("eval", "--suite", "id"), "give exactly one of --run RUN_DIR or --model CHECKPOINT_DIR"),
    (("eval", "--model", "/no/such/model", "--suite", "id"), "'/no/such/model': no such file or directory"),
    (("sweep", "--methods", "bt", "--address", "ray://x:1"), "--address is the Ray cluster's: add --executor ray"),
    (("train", "bt", "--preset", "micro", "--db", "notadb://x"), "unsupported database 'notadb'"),
    (("world", "generate", "--out", "{tmp}/w", "--n-train", "-5"), "n_train: must be ≥ 0, got -5"),
])
def test_bad_command_options_are_exit_2(tmp_path, args, message):
    result = invoke(*[str(a).format(tmp=tmp_path) for a in args])
    _fails_at_once(result, 2, message, tmp_path / "runs")
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("args, code, message", [
    (("--set", "train.lr=-1"), 2, "train.lr: must be > 0, got -1.0"),
    (("--set", "data.train={tmp}/missing.jsonl"), 3, "missing.jsonl: no such file or directory"),
    (("--db", "notadb://x"), 2, "unsupported database 'notadb'"),
])
def test_a_sweep_whose_jobs_all_have_a_bad_setting_fails_at_once(tmp_path, args, code, message):
    """What every job shares fails the sweep before any job starts (a job's own bad setting fails that job alone:
    tests/integration/test_sweep_report.py)."""
    result = invoke("sweep", "--methods", "bt,bsr", "--seeds", 2, "--preset", "micro",
                    *[str(a).format(tmp=tmp_path) for a in args], "--runs-dir", tmp_path / "runs")
    _fails_at_once(result, code, message, tmp_path / "runs")
