"""Failure modes: a hard kill mid-training then ``--resume``, a non-finite loss, a corrupt checkpoint, an unwritable
runs directory. Each must end in a reproducible result or a clear one-line error (no traceback), never in a
half-recorded run."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_runner import invoke

pytestmark = pytest.mark.slow
OVERRIDES = ["train.save_every=5", "train.log_every=1", "train.max_steps=12", "data.world.n_id=40"]


def set_args(overrides):
    return [a for o in overrides for a in ("--set", o)]


def metric_rows(db_file: Path) -> int:
    import sqlite3

    if not db_file.exists():
        return 0
    with sqlite3.connect(db_file) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        return sum(conn.execute(f"select count(*) from {t}").fetchone()[0] for t in tables if "metric" in t)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_base):
    from harness import api, config

    root = tmp_path_factory.mktemp("full")
    cfg = config.resolve("micro", overrides=OVERRIDES, method="bt")
    result = api.train(cfg, runs_dir=root / "runs", db=f"sqlite:///{root / 'full.db'}", show_progress=False)
    return root / "runs" / result["run_id"], result


def test_sigkill_mid_training_then_resume_reproduces_the_uninterrupted_run(tmp_path, uninterrupted):
    from harness import api, config

    full_dir, full = uninterrupted
    runs = tmp_path / "runs"
    run_dir = runs / api.run_id(config.resolve("micro", overrides=OVERRIDES, method="bt"))
    assert run_dir.name == full_dir.name
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "from cli import app; app()", "train", "bt", "--preset", "micro",
                             *set_args(OVERRIDES), "--runs-dir", str(runs), "--db", f"sqlite:///{tmp_path / 'k.db'}",
                             "--json"], cwd=Path(__file__).parents[2], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state_file, deadline, step = run_dir / "state" / "trainer_state.json", time.monotonic() + 120, 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                step = json.loads(state_file.read_text())["step"]
            except (OSError, ValueError):
                step = 0
            if step >= 5:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()[-2000:]!r}"
        assert step >= 5, "no checkpoint at step 5 within 120 s"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "result.json").exists()
    # a checkpoint survives (a kill inside the two-rename swap of the next save leaves it as state.old)
    assert (run_dir / "state").exists() or (run_dir / "state.old").exists()

    result = invoke("train", "bt", "--preset", "micro", *set_args(OVERRIDES), "--runs-dir", runs, "--db",
                    f"sqlite:///{tmp_path / 'k.db'}", "--resume", "--json")
    assert result.exit_code == 0, result.output
    resumed = json.loads((run_dir / "result.json").read_text())
    acc = lambda r: next(m["value"] for m in r["metrics"] if m["metric"] == "accuracy")  # noqa: E731
    assert acc(resumed) == pytest.approx(acc(full), abs=1e-6)
    assert resumed["train"]["final_validation"] == pytest.approx(full["train"]["final_validation"], abs=1e-6)
    curve = lambda d: [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    a, b = curve(run_dir), curve(full_dir)
    assert [r["step"] for r in a] == [r["step"] for r in b]  # no duplicated points from the killed attempt
    assert [r.get("loss") for r in a] == pytest.approx([r.get("loss") for r in b], abs=1e-6)


def _nan_method(at_step: int):
    from methods.bt import BradleyTerry

    class NaNAtStep(BradleyTerry):
        """BT, except that the loss of the ``at_step``-th optimiser step is NaN (one micro-batch per step)."""

        name = "nan_at_step"
        calls = 0

        def loss(self, out, batch=None):
            type(self).calls += 1
            result = super().loss(out, batch)
            if type(self).calls == at_step:
                return type(result)(loss=result.loss * float("nan"), metrics=result.metrics)
            return result

    return NaNAtStep


def test_nan_loss_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path, tiny_base, entry_point_method):
    entry_point_method(_nan_method(at_step=7))
    runs = tmp_path / "runs"
    result = invoke("train", "nan_at_step", "--preset", "micro", *set_args(OVERRIDES), "--runs-dir", runs, "--db",
                    f"sqlite:///{tmp_path / 'n.db'}")
    assert result.exit_code == 4, result.output
    assert "non-finite loss (nan) at step 7" in result.output and "Traceback" not in result.output
    (run_dir,) = runs.iterdir()
    state = json.loads((run_dir / "state" / "trainer_state.json").read_text())
    assert state["step"] == 5  # the last checkpoint before the bad step is kept (resumable)
    assert not (run_dir / "result.json").exists() and not (run_dir / "state.tmp").exists()
    assert metric_rows(tmp_path / "n.db") == 0


@pytest.mark.parametrize("victim", ["head.safetensors", "rmbench_model.json"])
def test_corrupt_checkpoint_fails_eval_cleanly_and_records_nothing(tmp_path, uninterrupted, victim):
    full_dir, _ = uninterrupted
    run_dir = tmp_path / full_dir.name
    shutil.copytree(full_dir, run_dir)
    target = run_dir / "checkpoint" / victim
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    before = (run_dir / "result.json").read_text()
    result = invoke("eval", "--run", run_dir, "--suite", "splits", "--db", f"sqlite:///{tmp_path / 'c.db'}")
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "checkpoint" in result.output and victim in result.output
    assert (run_dir / "result.json").read_text() == before
    assert not (run_dir / "predictions" / "splits").exists()
    assert metric_rows(tmp_path / "c.db") == 0


def test_unwritable_runs_dir_is_a_clear_error(tmp_path, tiny_base):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the runs directory should go\n")  # unwritable even for root
    result = invoke("train", "bt", "--preset", "micro", "--set", "train.max_steps=2", "--runs-dir",
                    blocker / "runs", "--db", f"sqlite:///{tmp_path / 'u.db'}")
    assert result.exit_code != 0
    assert "Traceback" not in result.output and str(blocker / "runs") in result.output
    assert metric_rows(tmp_path / "u.db") == 0
