"""Sweeps: every method × seed trained and evaluated in turn, resumably, a failing job reported and skipped."""
from __future__ import annotations

from pathlib import Path

from harness import config as config_mod
from harness.evaluation import evaluate
from harness.records import record
from harness.runs import RunResult, run_id
from harness.training import train


def sweep(method_names: list[str], seeds: int, *, preset: str = "tiny", suite_names: list[str] | None = None,
          config_file: str | Path | None = None, overrides: list[str] = (), runs_dir: str | Path = "runs",
          db: str | None = None, show_progress: bool = True) -> list[dict]:
    """Train and evaluate every method × seed (seeds 0 … ``seeds``−1, seed-major), resumably.

    A job whose requested suites are all in the database or in its ``result.json`` is skipped (a result.json
    missing from the database is recorded first); a finished run lacking some suites is evaluated on those; an
    interrupted run is resumed. A failing job (any ``Exception``) is reported and the sweep goes on. Returns one
    dict per job: method, seed, run_id (None if its config did not resolve), status (``skipped`` | ``trained`` |
    ``evaluated`` | ``failed``) and error.
    """
    from harness.progress import progress_bar
    from leaderboards import engine_for

    engine = engine_for(db)
    if suite_names:
        overrides = [*overrides, f"suites=[{','.join(suite_names)}]"]
    jobs = [(method, seed) for seed in range(seeds) for method in method_names]
    outcomes = []
    with progress_bar(show_progress) as bar:
        task = bar.add_task("sweep", total=len(jobs))
        for method, seed in jobs:
            bar.update(task, status=f"{method} seed {seed} · {sweep_tally(outcomes)}")
            outcomes.append(_sweep_job(method, seed, preset, config_file, list(overrides), Path(runs_dir), db,
                                       engine))
            bar.update(task, advance=1, status=sweep_tally(outcomes))
    return outcomes


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
