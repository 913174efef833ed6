"""Sweeps: every method × seed (× grid point) trained and evaluated, resumably, a failing job reported and skipped;
the jobs run on an executor (:mod:`harness.executors`), which is given the job function (:func:`sweep_job`, through
:meth:`harness.lab.Lab.sweep_job`).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from harness import executors
from harness.config import config_hash
from harness.errors import RmbenchError
from harness.executors import Job, SweepSpec, sweep_tally  # noqa: F401 - sweep_tally: the sweep's own summary
from harness.records import check_store, record
from harness.runs import RunResult, run_id
from harness.training import check_names
from leaderboards.claims import control_jobs
from leaderboards.queries import recorded_suites


def sweep(lab, method_names: list[str], seeds: int, *, preset: str = "tiny", suite_names: list[str] | None = None,
          config_file: str | Path | None = None, overrides: list[str] = (), grid: list[str] = (),
          executor: str = "local", address: str | None = None, controls: bool = False,
          parallel: int = 1) -> list[dict]:
    """Train and evaluate every method × seed × ``grid`` point (seeds 0 … ``seeds``−1, seed-major) in ``lab`` (a
    :class:`harness.lab.Lab`: runs directory, database, progress), resumably, on ``executor``
    (:mod:`harness.executors`: ``local`` or ``ray``; ``address`` is the Ray cluster's); with ``controls``, also the
    jobs of the claims table's control rows at every seed and grid point.

    A job whose requested suites are all in the database or in its ``result.json`` is skipped (a result.json
    missing from the database is recorded first); a finished run lacking some suites is evaluated on those; an
    interrupted run is resumed. A failing job (any ``Exception``) is reported and the sweep goes on. Returns one
    dict per job: method, seed, grid (its ``--grid`` values; only with ``grid``), settings (a control job's),
    run_id (None if its config did not resolve), status (``skipped`` | ``trained`` | ``evaluated`` | ``failed``)
    and error.
    """
    jobs = executors.grid_jobs(method_names, seeds, executors.parse_grid(grid), control_jobs() if controls else ())
    spec = SweepSpec(preset, config_file and str(config_file), tuple(overrides), str(lab.runs_dir), lab.db,
                     tuple(suite_names) if suite_names else None)
    jobs = executors.distinct_jobs(jobs, spec)
    _check_before_any_job(jobs, spec, lab.db)
    # jobs at once (parallel > 1) run in processes of their own: no progress bars of theirs over the sweep's
    job_lab = lab if parallel == 1 else dataclasses.replace(lab, show_progress=False)
    return executors.run(executor, jobs, spec, job_lab.sweep_job, address=address, show_progress=lab.show_progress,
                         parallel=parallel)


def _check_before_any_job(jobs: list, spec, db: str | None) -> None:
    """Fail the sweep at once when no job could start (a bad setting they all share: ``--set train.lr=-1``, a
    missing data file) or the database cannot be used; a job whose own settings are bad (a grid value, a method
    config key another method lacks) fails alone when it runs, and the others run."""
    problems = []
    for job in jobs:
        try:
            check_names(spec.resolve(job))
        except RmbenchError as e:
            problems.append(e)
    if jobs and len(problems) == len(jobs):
        raise problems[0]
    check_store(db)


def sweep_job(lab, spec: SweepSpec, job: Job) -> dict:
    """One sweep job (see :func:`sweep`) in ``lab`` without progress bars; never raises an ``Exception``."""
    lab = dataclasses.replace(lab, runs_dir=Path(spec.runs_dir), db=spec.db, show_progress=False)
    outcome = {"method": job.method, "seed": job.seed, "run_id": None, "status": "failed", "error": None}
    try:
        cfg = spec.resolve(job)
        outcome["run_id"] = run_id(cfg)
        run_dir = lab.runs_dir / outcome["run_id"]
        in_db = recorded_suites(executors.engine(lab.db), config_hash(cfg), cfg.seed)
        result = RunResult.read(run_dir)
        if result is not None and not set(cfg.suites) <= in_db:
            record(result.to_json(), lab.db)
        done = in_db | {m["suite"] for m in (result.metrics if result else [])}
        missing = [name for name in cfg.suites if name not in done]
        if not missing:
            outcome["status"] = "skipped"
        elif result is None:
            lab.train(cfg, resume=True)
            outcome["status"] = "trained"
        else:
            lab.evaluate(run_dir, missing)
            outcome["status"] = "evaluated"
    except Exception as e:  # noqa: BLE001 - a sweep reports a failing job and goes on
        outcome["error"] = f"{type(e).__name__}: {e}"
    return outcome
