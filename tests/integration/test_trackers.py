"""``train.report_to``: TensorBoard's event files and an MLflow file store hold what ``metrics.jsonl`` holds, the
config as hyper-parameters and the final metric rows; a tracker whose package is missing is a config error."""
from __future__ import annotations

import json

import pytest

from cli_runner import invoke

pytestmark = pytest.mark.slow
OVERRIDES = ["train.max_steps=6", "train.log_every=2", "train.eval_every=3", "data.world.n_id=40",
             "train.report_to=[tensorboard,mlflow]"]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, tiny_base):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install 'rmbench[tensorboard]')")
    pytest.importorskip("mlflow", reason="mlflow is not installed (pip install 'rmbench[mlflow]')")
    root = tmp_path_factory.mktemp("trackers")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", (root / "mlruns").as_uri())
    mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps its file store behind this switch
    try:
        result = invoke("train", "bt", "--preset", "micro", *(a for o in OVERRIDES for a in ("--set", o)),
                        "--runs-dir", root / "runs", "--db", f"sqlite:///{root / 'rm.db'}", "--json")
        assert result.exit_code == 0, result.output
        run_dir = root / "runs" / json.loads(result.stdout)["run_id"]
        yield root, run_dir
    finally:
        mp.undo()


def _curve(run_dir, key):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r[key]) for r in rows if key in r]


def test_tensorboard_events_hold_the_metrics_jsonl_curves(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, run_dir = tracked
    (logdir,) = [p.parent for p in (run_dir / "trackers").rglob("events.out.tfevents.*")
                 if p.parent.name == "rmbench"]
    events = EventAccumulator(str(logdir), size_guidance={"scalars": 0}).Reload()
    for key in ("loss", "lr", "val_accuracy", "val_bt_loss"):
        logged = [(e.step, e.value) for e in events.Scalars(key)]
        expected = _curve(run_dir, key)
        assert [s for s, _ in logged] == [s for s, _ in expected] and len(expected) >= 2
        assert [v for _, v in logged] == pytest.approx([v for _, v in expected], rel=1e-6)
    result = json.loads((run_dir / "result.json").read_text())
    accuracy = next(m for m in result["metrics"] if m["metric"] == "accuracy")
    final = events.Scalars(f"id/{accuracy['dataset']}/{accuracy['split']}/accuracy")
    assert [(e.step, e.value) for e in final] == [(6, pytest.approx(accuracy["value"], rel=1e-6))]


def test_mlflow_file_store_holds_params_curve_and_final_rows(tracked):
    from mlflow.tracking import MlflowClient

    root, run_dir = tracked
    client = MlflowClient(tracking_uri=(root / "mlruns").as_uri())
    (experiment,) = [e for e in client.search_experiments() if e.name == "rmbench"]
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == run_dir.name
    assert run.data.params["train.max_steps"] == "6" and run.data.params["method"] == "bt"
    history, expected = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")), \
        _curve(run_dir, "loss")
    assert [s for s, _ in history] == [s for s, _ in expected]
    assert [v for _, v in history] == pytest.approx([v for _, v in expected], rel=1e-6)
    assert any(key.startswith("id/") and key.endswith("/accuracy") for key in run.data.metrics)
    assert "id/world/id/accuracy:kind.differ" in run.data.metrics  # a group row, in MLflow's characters


def test_a_missing_tracker_package_names_the_extra(tmp_path, monkeypatch):
    import accelerate.tracking

    monkeypatch.setattr(accelerate.tracking, "filter_trackers", lambda names, logging_dir=None: [])
    result = invoke("train", "bt", "--preset", "micro", "--set", "train.report_to=[wandb]", "--runs-dir",
                    tmp_path / "runs", "--db", f"sqlite:///{tmp_path / 'rm.db'}")
    assert result.exit_code == 2
    assert "the wandb tracker's package is not installed: pip install 'rmbench[wandb]'" in result.output
    assert not (tmp_path / "runs").exists()


def test_an_unknown_tracker_is_a_config_error(tmp_path):
    result = invoke("train", "bt", "--preset", "micro", "--set", "train.report_to=[tensorbored]", "--runs-dir",
                    tmp_path / "runs", "--db", f"sqlite:///{tmp_path / 'rm.db'}")
    assert result.exit_code == 2 and "unknown tracker 'tensorbored'" in result.output
