"""``rmbench sweep --executor ray`` on a local Ray cluster (``ray start --head`` on 127.0.0.1, 2 CPUs, no dashboard,
started here and stopped at the end): the same rows as the local executor, failures recorded, re-runs skipped, a
killed worker's job retried and resumed to the uninterrupted run's rows, SQLite refused where workers cannot share it.

Skipped, saying why, when Ray is not installed (``pip install 'rmbench[ray]'``; the test extra installs it).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from cli_runner import invoke
from ports import free_port

pytestmark = pytest.mark.slow
SMALL = ("train.max_steps=3", "data.world.n_id=80", "data.world.n_ood=12", "data.validation_pairs=16")


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the Ray head did not listen on port {port} within {timeout} s")


@pytest.fixture(scope="module")
def ray_address():
    """A Ray head on 127.0.0.1 with 2 CPUs and no dashboard; yields its address and its temp directory."""
    pytest.importorskip("ray", reason="ray is not installed (pip install 'rmbench[ray]'): no Ray executor tests")
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        pytest.skip(f"ray is importable but its command-line tool {ray_bin} is missing")
    port, temp = free_port(), tempfile.mkdtemp(prefix="rmray", dir="/tmp")  # short: Ray's socket paths are limited
    # one authentication mode for the head and every driver, whatever a token file in ~/.ray (written by a local
    # ray.init()) would make each of them choose
    env_patch = pytest.MonkeyPatch()
    env_patch.setenv("RAY_AUTH_MODE", "disabled")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen([str(ray_bin), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                             f"--port={port}", "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false",
                             f"--temp-dir={temp}", "--disable-usage-stats"],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, proc)
        yield f"127.0.0.1:{port}", temp
    finally:
        _stop(proc, temp)
        shutil.rmtree(temp, ignore_errors=True)
        env_patch.undo()


def _cluster_processes(temp: str) -> list:
    """The processes of the fixture's cluster: those naming its temp directory on their command line or writing
    their logs there (Ray's daemons and workers detach from the ``ray start`` process that started them)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if proc.pid == os.getpid():  # this process has been a driver of the cluster: its logs are there too
            continue
        try:
            if any(temp in part for part in proc.info["cmdline"] or []) or any(
                    f.path.startswith(temp) for f in proc.open_files()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _stop(proc: subprocess.Popen, temp: str) -> None:
    """Stop the head started by the fixture and every process of its cluster, by their ids."""
    import psutil

    family = _cluster_processes(temp)
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for member in [*family, *_cluster_processes(temp)]:
        try:
            member.kill()
        except psutil.Error:
            continue


def _sweep(root: Path, db: str, *args, executor: str = "local", address: str | None = None):
    common = ("--preset", "micro", "--suites", "id", *(x for item in SMALL for x in ("--set", item)),
              "--runs-dir", root / "runs", "--db", db, "--json")
    ray_args = ("--executor", "ray", "--address", address) if executor == "ray" else ()
    return invoke("sweep", *args, *common, *ray_args)


def _rows(db: str) -> list[tuple]:
    from leaderboards import engine_for
    from leaderboards.queries import facts

    return sorted((r["run_id"], r["suite"], r["dataset"], r["split"], r["metric"], r["value"])
                  for r in facts(engine_for(db)))


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory, tiny_base):
    root = tmp_path_factory.mktemp("local")
    db = f"sqlite:///{root / 'rm.db'}"
    started = time.perf_counter()
    result = _sweep(root, db, "--methods", "bt,bsr", "--seeds", 2)
    assert result.exit_code == 0, result.output
    print(f"\nlocal executor: micro sweep 2 methods x 2 seeds in {time.perf_counter() - started:.1f} s")
    return root, db, json.loads(result.stdout)


@pytest.fixture(scope="module")
def ray_sweep(tmp_path_factory, tiny_base, ray_address):
    root = tmp_path_factory.mktemp("ray")
    db = f"sqlite:///{root / 'rm.db'}"
    started = time.perf_counter()
    result = _sweep(root, db, "--methods", "bt,bsr", "--seeds", 2, executor="ray", address=ray_address[0])
    assert result.exit_code == 0, result.output
    print(f"\nray executor: micro sweep 2 methods x 2 seeds in {time.perf_counter() - started:.1f} s")
    return root, db, json.loads(result.stdout)


def test_ray_gives_exactly_the_local_executors_rows(local_sweep, ray_sweep):
    _, local_db, local_jobs = local_sweep
    _, ray_db, ray_jobs = ray_sweep
    assert ray_jobs == local_jobs  # same jobs, order, run ids and statuses
    assert [j["status"] for j in ray_jobs] == ["trained"] * 4
    assert _rows(ray_db) == _rows(local_db) and len(_rows(ray_db)) >= 4


def test_ray_rerun_skips_everything(ray_sweep, ray_address):
    root, db, _ = ray_sweep
    again = _sweep(root, db, "--methods", "bt,bsr", "--seeds", 2, executor="ray", address=ray_address[0])
    assert again.exit_code == 0, again.output
    assert [j["status"] for j in json.loads(again.stdout)] == ["skipped"] * 4


def test_ray_failing_job_is_recorded_and_the_others_finish(ray_sweep, ray_address):
    root, db, _ = ray_sweep
    result = _sweep(root, db, "--methods", "bt,bsr", "--seeds", 1, "--set", "method_config.lam=0.01",
                    executor="ray", address=ray_address[0])
    assert result.exit_code == 1
    bt, bsr = json.loads(result.stdout)
    assert bt["status"] == "failed" and "lam" in bt["error"]
    assert bsr["status"] == "trained" and bsr["error"] is None


def test_grid_axes_on_ray_match_local_and_group_the_leaderboard(local_sweep, ray_sweep, ray_address):
    grid = ("--grid", "data.label_noise=0,0.25")
    local_root, local_db, _ = local_sweep
    ray_root, ray_db, _ = ray_sweep
    local = _sweep(local_root, local_db, "--methods", "bt", "--seeds", 1, *grid)
    remote = _sweep(ray_root, ray_db, "--methods", "bt", "--seeds", 1, *grid, executor="ray",
                    address=ray_address[0])
    assert local.exit_code == remote.exit_code == 0, local.output + remote.output
    jobs = json.loads(remote.stdout)
    assert jobs == json.loads(local.stdout)
    assert [(j["grid"], j["status"]) for j in jobs] == [({"data.label_noise": 0}, "skipped"),
                                                        ({"data.label_noise": 0.25}, "trained")]
    grid_runs = {j["run_id"] for j in jobs}
    assert [r for r in _rows(ray_db) if r[0] in grid_runs] == [r for r in _rows(local_db) if r[0] in grid_runs]
    board = json.loads(invoke("leaderboard", "--db", ray_db, "--format", "json", "--suite", "id").stdout)
    settings = {r["settings"] for r in board if r["metric"] == "accuracy" and r["method"] == "bt"}
    assert settings == {"data.label_noise=0.0", "data.label_noise=0.25"}


def test_ray_refuses_sqlite_in_memory(tmp_path, ray_address):
    result = _sweep(tmp_path, "sqlite://", "--methods", "bt", "--seeds", 1, executor="ray",
                    address=ray_address[0])
    assert result.exit_code == 5
    assert "in-memory SQLite database cannot be shared by Ray workers" in result.output
    assert "postgresql://" in result.output and not (tmp_path / "runs").exists()


def _task_workers(temp: str, title: str) -> list[int]:
    """Ray worker processes of the fixture's cluster running the sweep task ``title`` (the job's description:
    Ray titles a busy worker ``ray::<task name>``)."""
    return [p.pid for p in _cluster_processes(temp) if any(f"ray::{title}" in part for part in p.cmdline())]


KILL_OVERRIDES = ("train.save_every=2", "train.log_every=1", "train.max_steps=12", "data.world.n_id=40",
                  "suites=[id]")


def test_a_killed_worker_is_retried_and_resumes_to_the_uninterrupted_rows(tmp_path, tiny_base, ray_address):
    from harness import api, config

    address, temp = ray_address
    cfg = config.resolve("micro", overrides=list(KILL_OVERRIDES), method="bt")
    full = api.train(cfg, runs_dir=tmp_path / "full", db=f"sqlite:///{tmp_path / 'full.db'}", show_progress=False)

    runs, db = tmp_path / "runs", f"sqlite:///{tmp_path / 'k.db'}"
    state_file = runs / full["run_id"] / "state" / "trainer_state.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "from cli import app; app()", "sweep", "--methods", "bt",
                             "--preset", "micro", *(a for o in KILL_OVERRIDES for a in ("--set", o)),
                             "--runs-dir", str(runs), "--db", db, "--executor", "ray", "--address", address,
                             "--json"], cwd=Path(__file__).parents[2], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    killed, deadline = None, time.monotonic() + 240
    try:
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                step = json.loads(state_file.read_text())["step"]
            except (OSError, ValueError):
                step = 0
            workers = _task_workers(temp, "bt seed 0") if step >= 2 else []
            if len(workers) == 1:
                killed = (workers[0], step)
                os.kill(workers[0], signal.SIGKILL)
            time.sleep(0.02)
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
        proc.wait()
    assert killed is not None, f"no saved state with a running task to kill: {proc.stderr and err[-2000:]!r}"
    assert killed[1] < 12
    assert proc.returncode == 0, err[-3000:]
    (job,) = json.loads(out)
    assert job["status"] == "trained" and job["run_id"] == full["run_id"]
    resumed = json.loads((runs / job["run_id"] / "result.json").read_text())
    values = lambda r: sorted((m["dataset"], m["split"], m["metric"], m["value"]) for m in r["metrics"])  # noqa: E731
    assert [v[:3] for v in values(resumed)] == [v[:3] for v in values(full)]
    assert [v[3] for v in values(resumed)] == pytest.approx([v[3] for v in values(full)], abs=1e-6)
    curve = lambda d: [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    a, b = curve(runs / job["run_id"]), curve(tmp_path / "full" / full["run_id"])
    assert [r["step"] for r in a] == [r["step"] for r in b]
    assert [r.get("loss") for r in a] == pytest.approx([r.get("loss") for r in b], abs=1e-6)
