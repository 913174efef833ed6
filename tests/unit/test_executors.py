"""The Ray executor's bookkeeping against a stand-in for the ``ray`` module: Ctrl-C cancels the submitted tasks, a
task Ray could not run is a failed job, SQLite is refused where the workers cannot share it, paths travel absolute."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from harness import executors
from harness.errors import ConfigError
from harness.executors import Job, SweepSpec
from leaderboards.store import StoreError

SPEC = SweepSpec("micro", None, (), "runs", "sqlite:///rm.db")
NO_JOB = lambda spec, job: {}  # noqa: E731 - a job function the refused executors never call


class RayError(Exception):
    pass


def fake_ray(*, wait=None, get=None, nodes=(), here="10.0.0.1"):
    cancelled = []
    ray = types.SimpleNamespace(
        wait=wait, get=get, cancel=lambda ref, force: cancelled.append((ref, force)),
        exceptions=types.SimpleNamespace(RayError=RayError), nodes=lambda: list(nodes),
        util=types.SimpleNamespace(get_node_ip_address=lambda: here))
    return ray, cancelled


def test_ctrl_c_cancels_every_pending_task():
    calls = []

    def wait(pending, num_returns, timeout):
        calls.append(list(pending))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return pending[:1], pending[1:]

    ray, cancelled = fake_ray(wait=wait, get=lambda ref: {"status": "trained", "ref": ref})
    jobs = [Job("bt", 0), Job("bsr", 0), Job("bt", 1)]
    with pytest.raises(KeyboardInterrupt):
        executors._gather(ray, {"a": 0, "b": 1, "c": 2}, jobs, SPEC, show_progress=False)
    assert cancelled == [("b", True), ("c", True)]


def test_outcomes_come_back_in_job_order_and_a_task_ray_could_not_run_is_a_failed_job(monkeypatch):
    monkeypatch.setattr("harness.executors.run_id", lambda cfg: f"{cfg.method}-id")
    order = iter([(["c"], ["a", "b"]), (["a", "b"], [])])

    def get(ref):
        if ref == "b":
            raise RayError("The worker died unexpectedly while executing this task.\nmore detail")
        return {"method": "job", "status": "trained", "ref": ref}

    ray, _ = fake_ray(wait=lambda pending, num_returns, timeout: next(order), get=get)
    jobs = [Job("bt", 0), Job("bsr", 0, (("data.label_noise", 0.2),)), Job("bt", 1)]
    outcomes = executors._gather(ray, {"a": 0, "b": 1, "c": 2}, jobs, SPEC, show_progress=False)
    assert [o.get("ref") for o in outcomes] == ["a", None, "c"]
    assert outcomes[1] == {"method": "bsr", "seed": 0, "run_id": "bsr-id", "status": "failed",
                           "error": "RayError: The worker died unexpectedly while executing this task.",
                           "grid": {"data.label_noise": 0.2}}


def test_sqlite_is_refused_when_a_node_is_another_machine():
    ray, _ = fake_ray(nodes=[{"NodeManagerAddress": "10.0.0.1", "Alive": True},
                             {"NodeManagerAddress": "10.0.0.7", "Alive": True},
                             {"NodeManagerAddress": "10.0.0.9", "Alive": False}])
    with pytest.raises(StoreError, match=r"sqlite:////d/rm.db: a SQLite file on this machine cannot be shared by "
                                         r"the Ray workers on 10.0.0.7; use a PostgreSQL URL"):
        executors._check_shared_store("sqlite:////d/rm.db", ray)
    executors._check_shared_store("postgresql+psycopg://u:pw@db/rm", ray)  # PostgreSQL is shared


def test_sqlite_is_accepted_when_every_node_is_this_machine():
    ray, _ = fake_ray(nodes=[{"NodeManagerAddress": "10.0.0.1", "Alive": True}])
    executors._check_shared_store("sqlite:////d/rm.db", ray)
    with pytest.raises(StoreError, match="in-memory"):
        executors._check_shared_store("sqlite://", ray)


def test_paths_travel_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RMBENCH_DB", raising=False)
    spec = executors._absolute(SweepSpec("micro", "my.yaml", (), "runs", None))
    assert spec.runs_dir == str(tmp_path / "runs") and spec.config_file == str(tmp_path / "my.yaml")
    assert spec.db == f"sqlite:///{tmp_path / 'rmbench.db'}"
    pg = executors._absolute(SweepSpec("micro", None, (), "/r", "postgresql+psycopg://u:pw@db:5432/rm"))
    assert pg.db == "postgresql+psycopg://u:pw@db:5432/rm"  # the workers need the real password


def test_unknown_executor_and_missing_ray(monkeypatch):
    with pytest.raises(ConfigError, match="unknown executor 'slurm'"):
        executors.run("slurm", [], SPEC, NO_JOB)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pip install 'rmbench\[ray\]'"):
        executors.run("ray", [Job("bt", 0)], SPEC, NO_JOB)


def test_resources_come_from_the_jobs_config():
    spec = SweepSpec("micro", None, ("sweep.cpus_per_job=2", "sweep.max_retries=5"), "runs", None)
    assert executors._resources(spec, Job("bt", 0, (("sweep.gpus_per_job", 1),))) == executors.Resources(2, 1, 5)
    assert executors._resources(spec, Job("no-such-method", 0)) == executors.Resources()


@pytest.mark.slow
def test_a_job_asking_for_two_gpus_trains_under_accelerate_launch(tmp_path, tiny_base):
    """Two processes (gloo on a machine without GPUs): the launched job trains, evaluates and records its run."""
    from leaderboards import engine_for
    from leaderboards.queries import facts

    db = f"sqlite:///{tmp_path / 'rm.db'}"
    spec = SweepSpec("micro", None, ("train.max_steps=3", "data.world.n_id=40", "data.validation_pairs=16"),
                     str(tmp_path / "runs"), db, suites=("id",))
    outcome = executors._accelerate_launch(spec, Job("bt", 0), 2)
    assert outcome["status"] == "trained" and outcome["error"] is None
    assert (Path(spec.runs_dir) / outcome["run_id"] / "result.json").exists()
    assert {r["run_id"] for r in facts(engine_for(db))} == {outcome["run_id"]}


def _fake_job(job: Job) -> dict:
    """A job function for run_parallel: seed 1 dies without reporting, the others report their thread count."""
    import os

    import torch

    if job.seed == 1:
        os._exit(3)
    return {"method": job.method, "seed": job.seed, "status": "trained", "threads": torch.get_num_threads(),
            "omp": os.environ["OMP_NUM_THREADS"], "pid": os.getpid()}


def test_parallel_jobs_run_in_their_own_processes_and_a_dead_one_does_not_stop_the_others():
    import os

    jobs = [Job("bt", seed) for seed in range(4)]

    def crashed(job, reason):
        return {"method": job.method, "seed": job.seed, "status": "failed", "error": reason}

    outcomes = executors.run_parallel(jobs, _fake_job, 2, crashed, show_progress=False, threads=3)
    assert [o["seed"] for o in outcomes] == [0, 1, 2, 3]  # the jobs' order
    assert [o["status"] for o in outcomes] == ["trained", "failed", "trained", "trained"]
    assert outcomes[1]["error"] == "its process ended with exit code 3 before reporting"
    done = [o for o in outcomes if o["status"] == "trained"]
    assert all(o["threads"] == 3 and o["omp"] == "3" for o in done)
    assert len({o["pid"] for o in done} | {os.getpid()}) == 4  # a fresh process per job


def test_the_cores_are_split_between_the_jobs():
    assert executors.threads_per_job(2, cpus=16) == 8
    assert executors.threads_per_job(3, cpus=16) == 5
    assert executors.threads_per_job(4, cpus=2) == 1


def test_jobs_must_be_a_positive_number_for_the_local_executor():
    with pytest.raises(ConfigError, match="--jobs must be a whole number >= 1"):
        executors.run("local", [Job("bt", 0)], SPEC, NO_JOB, parallel=0)
    with pytest.raises(ConfigError, match="--jobs is for the local executor"):
        executors.run("ray", [Job("bt", 0)], SPEC, NO_JOB, parallel=2)
