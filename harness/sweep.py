"""Sweeps: every method × seed (× grid point) trained and evaluated, resumably, a failing job reported and skipped;
the jobs run on an executor (:mod:`harness.executors`)."""
from __future__ import annotations

from pathlib import Path

from harness import config as config_mod
from harness.errors import RmbenchError
from harness.evaluation import evaluate
from harness.records import check_store, record
from harness.runs import RunResult, run_id
from harness.training import check_names, train


def sweep(method_names: list[str], seeds: int, *, preset: str = "tiny", suite_names: list[str] | None = None,
          config_file: str | Path | None = None, overrides: list[str] = (), runs_dir: str | Path = "runs",
          db: str | None = None, show_progress: bool = True, grid: list[str] = (), executor: str = "local",
          address: str | None = None, controls: bool = False, parallel: int = 1) -> list[dict]:
    """Train and evaluate every method × seed × ``grid`` point (seeds 0 … ``seeds``−1, seed-major), resumably,
    on ``executor`` (:mod:`harness.executors`: ``local`` or ``ray``; ``address`` is the Ray cluster's); with
    ``controls``, also the jobs of the claims table's control rows at every seed and grid point.

    A job whose requested suites are all in the database or in its ``result.json`` is skipped (a result.json
    missing from the database is recorded first); a finished run lacking some suites is evaluated on those; an
    interrupted run is resumed. A failing job (any ``Exception``) is reported and the sweep goes on. Returns one
    dict per job: method, seed, grid (its ``--grid`` values; only with ``grid``), settings (a control job's),
    run_id (None if its config did not resolve), status (``skipped`` | ``trained`` | ``evaluated`` | ``failed``)
    and error.
    """
    from harness import executors
    from leaderboards.claims import control_jobs

    if suite_names:
        overrides = [*overrides, f"suites=[{','.join(suite_names)}]"]
    jobs = executors.grid_jobs(method_names, seeds, executors.parse_grid(grid), control_jobs() if controls else ())
    spec = executors.SweepSpec(preset, config_file and str(config_file), tuple(overrides), str(runs_dir), db)
    jobs = executors.distinct_jobs(jobs, spec)
    _check_before_any_job(jobs, spec, db)
    return executors.run(executor, jobs, spec, address=address, show_progress=show_progress, parallel=parallel)


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


def sweep_tally(outcomes: list[dict]) -> str:
    """``"2 skipped, 1 failed"``: the count of each status among :func:`sweep` outcomes."""
    counts = {s: sum(o["status"] == s for o in outcomes) for s in ("skipped", "trained", "evaluated", "failed")}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "starting"


def _sweep_job(method: str, seed: int, preset: str, config_file, overrides: list[str], runs_dir: Path,
               db: str | None, engine) -> dict:
    """One sweep job (see :func:`sweep`); never raises an ``Exception``."""
    from leaderboards.queries import recorded_suites

    job = {"method": method, "seed": seed, "run_id": None, "status": "failed", "error": None}
    try:
        cfg = config_mod.resolve(preset, config_file, overrides, seed, method)
        job["run_id"] = run_id(cfg)
        run_dir = runs_dir / job["run_id"]
        in_db = recorded_suites(engine, config_mod.config_hash(cfg), cfg.seed)
        result = RunResult.read(run_dir)
        if result is not None and not set(cfg.suites) <= in_db:
            record(result.to_json(), db)
        done = in_db | {m["suite"] for m in (result.metrics if result else [])}
        missing = [name for name in cfg.suites if name not in done]
        if not missing:
            job["status"] = "skipped"
        elif result is None:
            train(cfg, runs_dir=runs_dir, db=db, resume=True, show_progress=False)
            job["status"] = "trained"
        else:
            evaluate(run_dir, missing, db=db, show_progress=False)
            job["status"] = "evaluated"
    except Exception as e:  # noqa: BLE001 - a sweep reports a failing job and goes on
        job["error"] = f"{type(e).__name__}: {e}"
    return job
