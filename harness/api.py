"""The Python API behind every CLI command: train, evaluate, record, list.

A run lives in ``runs/<run_id>/`` (ARCHITECTURE.md §5). The run id is derived from (method, preset, seed, config
hash), so the same experiment always lands in the same directory: a finished run is not trained again, an
interrupted one is continued with ``resume=True``, and re-recording a result is idempotent.
"""
from __future__ import annotations

import dataclasses
import json
import inspect
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

import methods
from harness import config as config_mod
from harness import suites, trackers
from harness.config import RunConfig
from harness.data import describe
from harness.errors import ConfigError, RmbenchError
from harness.results import (RESULT_FILE, SCHEMA_VERSION, git_sha, merge_metrics, read_result, versions,
                             write_json_atomic, write_jsonl_atomic)

CONFIG_FILE = "config.yaml"
OUTCOME_FILE = "train_outcome.json"  # written when a model's training has finished
MEMBERS_DIR = "members"


def run_id(cfg: RunConfig) -> str:
    return f"{cfg.method}-{cfg.preset}-s{cfg.seed}-{config_mod.config_hash(cfg)[:8]}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _check_names(cfg: RunConfig) -> None:
    """Fail on unknown method / method keys / suites before anything is loaded or written."""
    methods.get(cfg.method)(**cfg.method_config)
    for name in cfg.suites:
        suites.get(name)


def train(cfg: RunConfig, *, runs_dir: str | Path = "runs", db: str | None = None, resume: bool = False,
          force: bool = False, show_progress: bool = True) -> dict:
    """Train ``cfg``, evaluate its suites, write ``result.json`` and record it; returns the result dict.

    A method with ``members`` > 1 (an ensemble) has each member trained in turn in ``members/<k>/`` with seed
    ``seed·K + k`` (its own initialisation and data order; the same data, validation hold-out and label flips), and
    the run's checkpoint scores with all of them.
    """
    from harness.models import EnsembleRewardModel
    from harness.trainer import CHECKPOINT_DIR

    _check_names(cfg)
    check_store(db)
    run_dir = Path(runs_dir) / run_id(cfg)
    if force:
        shutil.rmtree(run_dir, ignore_errors=True)
    existing = read_result(run_dir)
    if existing is not None:
        return existing
    if run_dir.exists() and not resume:
        raise RmbenchError(f"{run_dir} holds an interrupted run: pass --resume to continue it or --force to restart")
    started = _now()
    method = methods.get(cfg.method)(**cfg.method_config)
    k = method.members
    members = [(cfg, run_dir, None)] if k == 1 else [
        (dataclasses.replace(cfg, seed=cfg.seed * k + i), run_dir / MEMBERS_DIR / str(i),
         f"train {cfg.method} member {i + 1}/{k}") for i in range(k)]
    with trackers.session(cfg.train.report_to, run_dir, config_mod.to_dict(cfg)):  # main process only
        outcomes, model = [], None
        for member_cfg, member_dir, label in members:
            outcome, model = _train_member(cfg, member_cfg, run_dir, member_dir, label, resume, show_progress)
            outcomes.append(outcome)
        if not is_main_process():
            return {}
        if k > 1:
            EnsembleRewardModel.save_reference(run_dir / CHECKPOINT_DIR,
                                               [d / CHECKPOINT_DIR for _, d, _ in members])
            model = None  # evaluate() loads the ensemble from its checkpoint
        result = {
            "schema_version": SCHEMA_VERSION, "run_id": run_dir.name, "method": cfg.method,
            "method_config": method.config_dict(), "preset": cfg.preset,
            "config_hash": config_mod.config_hash(cfg), "config": config_mod.to_dict(cfg),
            "backbone": cfg.model.backbone, "data": describe(cfg.data), "seed": cfg.seed, "versions": versions(),
            "git_sha": git_sha(), "started_at": started, "finished_at": _now(),
            "wall_times": {"train_s": round(sum(o["wall_s"] for o in outcomes), 3)},
            "train": outcomes[0] if k == 1 else {"members": outcomes}, "metrics": [],
        }
        write_json_atomic(run_dir / RESULT_FILE, result)
        return evaluate(run_dir, cfg.suites, db=db, show_progress=show_progress, model=model, method=method)


def _train_member(run_cfg: RunConfig, cfg: RunConfig, run_dir: Path, member_dir: Path, label: str | None,
                  resume: bool, show_progress: bool) -> tuple[dict, object]:
    """Train one model into ``member_dir`` (the run directory itself unless it is an ensemble member); returns
    its outcome and the trained model (None when a finished member is reused)."""
    from harness.trainer import STATE_DIR, Trainer

    done = member_dir / OUTCOME_FILE
    if done.exists():
        return json.loads(done.read_text()), None
    trainer = Trainer(cfg, member_dir, show_progress=show_progress, data_seed=run_cfg.seed, label=label)
    data = trainer.prepare_data()  # bad input fails here, before anything is written
    fresh = not run_dir.exists()
    if is_main_process():
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(config_mod.to_dict(run_cfg), sort_keys=False))
        except OSError as e:  # e.g. read-only file system, no permission, a file in the way
            if fresh:
                shutil.rmtree(run_dir, ignore_errors=True)
            raise RmbenchError(f"cannot write the run directory {run_dir}: {e.strerror or e}") from e
    try:
        outcome = trainer.fit(data, resume=resume)
    except BaseException:
        resumable = any(run_dir.rglob(STATE_DIR)) or any(run_dir.rglob(OUTCOME_FILE))
        if fresh and not resumable and is_main_process():
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing resumable: leave nothing half-written
        raise
    if is_main_process():
        write_json_atomic(done, outcome)
    return outcome, trainer.trained_model()


def is_main_process() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


def load_run_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise RmbenchError(f"{run_dir} is not an rmbench run (no {CONFIG_FILE})")
    return config_mod.from_dict(RunConfig, yaml.safe_load(path.read_text()))


def evaluate(run_dir: str | Path, suite_names: list[str], *, data: str | None = None, db: str | None = None,
             batch_size: int | None = None, show_progress: bool = True, model=None, method=None,
             overrides: list[str] = ()) -> dict:
    """Run suites on a finished run's checkpoint; predictions and metric rows are merged into its result.

    ``overrides`` are ``--set key=value`` strings: a key under a suite's name (``noise.rates=0,0.2``) is an option
    of that suite (a keyword of its constructor), any other key changes the run config the suites see (e.g.
    ``train.max_steps=5`` for the runs the noise suite trains). A suite whose constructor takes ``runs_dir`` or
    ``db`` gets the directory holding this run and this database.
    """
    from harness.data.encode import Encoder
    from harness.models import load_checkpoint
    from harness.trainer import CHECKPOINT_DIR

    run_dir = Path(run_dir)
    result = read_result(run_dir)
    if result is None:
        raise RmbenchError(f"{run_dir} has no {RESULT_FILE}: train it first (or resume it)")
    check_store(db)
    options, cfg_overrides = _split_overrides(list(overrides))
    cfg = load_run_config(run_dir)
    if cfg_overrides:
        cfg = config_mod.from_dict(RunConfig, config_mod.deep_merge(config_mod.to_dict(cfg), cfg_overrides))
    suite_options = {name: options.pop(name, {}) for name in suite_names}
    instances = [_make_suite(suites.get(name), suite_options[name], run_dir.parent, db) for name in suite_names]
    if options:
        raise ConfigError(f"--set {sorted(options)[0]}.…: options for a suite that is not run")
    model = model or load_checkpoint(result.get("model_path") or run_dir / CHECKPOINT_DIR)
    method = method or methods.get(cfg.method)(**cfg.method_config)
    ctx = suites.EvalContext(model, method, Encoder(model.tokenizer, cfg.model.max_length), cfg,
                             batch_size or cfg.train.eval_batch_size, show_progress, data, run_dir)
    for suite in instances:
        started = time.perf_counter()
        outcome = suite.run(ctx)
        for name, rows in outcome.predictions.items():
            write_jsonl_atomic(run_dir / "predictions" / suite.name / f"{name}.jsonl", rows)
        result = read_result(run_dir)  # a suite may itself have evaluated this run (noise at rate 0)
        result["metrics"] = merge_metrics(result["metrics"], [m.to_json() for m in outcome.metrics])
        result["wall_times"][f"eval_{suite.name}_s"] = round(time.perf_counter() - started, 3)
        result.setdefault("suite_options", {})[suite.name] = suite_options[suite.name]  # --set SUITE.X=…
        write_json_atomic(run_dir / RESULT_FILE, result)
    with trackers.session(cfg.train.report_to, run_dir, config_mod.to_dict(cfg)):
        trackers.log_metric_rows(result["metrics"], result["train"].get("steps"))
    record(result, db, saved=run_dir / RESULT_FILE)
    return result


def _split_overrides(overrides: list[str]) -> tuple[dict[str, dict], dict]:
    """``--set`` pairs → ({suite: {option: value}}, nested run-config overrides)."""
    parsed = config_mod.parse_overrides(overrides)
    options = {k: v for k, v in parsed.items() if k in suites.names()}
    for name, value in options.items():
        if not isinstance(value, dict):
            raise ConfigError(f"--set {name}=…: use {name}.OPTION=VALUE")
    return options, {k: v for k, v in parsed.items() if k not in options}


def _make_suite(cls: type[suites.Suite], options: dict, runs_dir: Path, db: str | None) -> suites.Suite:
    params = inspect.signature(cls).parameters
    context = {k: v for k, v in (("runs_dir", runs_dir), ("db", db)) if k in params}
    try:
        return cls(**context, **options)
    except TypeError as e:
        allowed = [k for k in params if k not in context]
        raise ConfigError(f"suite {cls.name!r}: bad options {sorted(options)} ({e}); options: "
                          f"{', '.join(allowed) or 'none'}") from None


def evaluate_model(model_path: str | Path, suite_names: list[str], *, runs_dir: str | Path = "runs",
                   **kwargs) -> dict:
    """Evaluate a saved checkpoint that is not a run (a directory with ``rmbench_model.json``).

    A run-like directory ``runs/ckpt-<name>-<hash of the absolute path>/`` is created once, with a ``config.yaml``
    (the checkpoint's model config, method ``bt``: scores are the raw head outputs) and a ``result.json`` whose
    ``model_path`` points at the checkpoint, whose ``data`` is ``checkpoint:<path>`` and whose config hash covers the
    path (two checkpoints never share leaderboard rows); then :func:`evaluate` runs on it.
    """
    import hashlib
    import json

    from harness.models import META

    path = Path(model_path).resolve()
    try:
        meta = json.loads((path / META).read_text())
        if "ensemble" in meta:  # an ensemble reference: the members share one model config
            meta = json.loads((path / meta["ensemble"][0] / META).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path} is not an rmbench reward-model checkpoint (cannot read {META}: {e})") from e
    cfg = config_mod.from_dict(RunConfig, {"method": "bt", "preset": "checkpoint", "model": meta["model_config"],
                                           "suites": []})
    digest = hashlib.sha256(f"{path}\n{config_mod.config_hash(cfg)}".encode()).hexdigest()[:16]
    run_dir = Path(runs_dir) / f"ckpt-{path.name}-{digest[:8]}"
    if read_result(run_dir) is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(config_mod.to_dict(cfg), sort_keys=False))
        now = _now()
        write_json_atomic(run_dir / RESULT_FILE, {
            "schema_version": SCHEMA_VERSION, "run_id": run_dir.name, "method": "bt", "method_config": {},
            "preset": "checkpoint", "config_hash": digest, "config": config_mod.to_dict(cfg),
            "backbone": cfg.model.backbone, "data": f"checkpoint:{path}", "model_path": str(path), "seed": 0,
            "versions": versions(), "git_sha": git_sha(), "started_at": now, "finished_at": now, "wall_times": {},
            "train": {}, "metrics": []})
    return evaluate(run_dir, suite_names, **kwargs)


def check_store(db: str | None = None) -> None:
    """Fail now, in one line, if the database is unreachable, not writable or of another schema."""
    from leaderboards import engine_for

    engine_for(db).dispose()


def record(result: dict, db: str | None = None, *, saved: Path | None = None) -> int:
    """Record ``result`` in the database; ``saved`` (its ``result.json``) is named if recording fails."""
    from sqlalchemy.exc import SQLAlchemyError

    from leaderboards import engine_for
    from leaderboards import record as store_record
    from leaderboards.store import StoreError, database_url

    try:
        return store_record(result, engine_for(db))
    except (StoreError, SQLAlchemyError) as e:
        if saved is None:
            raise
        cause = e.problem if isinstance(e, StoreError) else str(getattr(e, "orig", None) or e).splitlines()[0]
        raise StoreError(database_url(db), f"recording failed ({cause}); the result is safe in {saved}",
                         "fix the database, then `rmbench leaderboard rebuild` records it") from None


def leaderboard(db: str | None = None, **filters) -> list[dict]:
    from leaderboards import engine_for
    from leaderboards import leaderboard as query

    return query(engine_for(db), **filters)


def method_table() -> list[dict]:
    """Name, paper, summary and default config of every registered method."""
    return [{"name": name, "paper": cls.paper, "summary": cls.summary, "requires": sorted(cls.requires),
             "defaults": cls.default_config()} for name in methods.names() for cls in [methods.get(name)]]


def results_view(name: str = "flat", db: str | None = None, **filters) -> object:
    """A view of the results for ``leaderboards.render``: ``flat`` (every metric), a paper layout (``main``,
    ``noise``, ``splits``, ``bon``) or ``claims``; ``filters`` as for :func:`leaderboard`."""
    from leaderboards import engine_for, view

    return view(engine_for(db), name, **filters)


def rebuild(runs_dir: str | Path = "runs", db: str | None = None) -> int:
    """Record every ``runs_dir/*/result.json`` into the database (idempotent); returns the number of runs."""
    from leaderboards import engine_for
    from leaderboards import rebuild as store_rebuild

    return store_rebuild(runs_dir, engine_for(db))


def report(out: str | Path, *, runs_dir: str | Path = "runs", db: str | None = None, **filters) -> Path:
    """Write the self-contained HTML report (tables, claims, plots) over the results matching ``filters``."""
    from leaderboards import engine_for
    from leaderboards.report import build_report

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(engine_for(db), runs_dir, **filters), encoding="utf-8")
    return out


def sweep(method_names: list[str], seeds: int, *, preset: str = "tiny", suite_names: list[str] | None = None,
          config_file: str | Path | None = None, overrides: list[str] = (), runs_dir: str | Path = "runs",
          db: str | None = None, show_progress: bool = True, grid: list[str] = (), executor: str = "local",
          address: str | None = None) -> list[dict]:
    """Train and evaluate every method × seed × ``grid`` point (seeds 0 … ``seeds``−1, seed-major), resumably,
    on ``executor`` (see :mod:`harness.executors`; ``address`` is the Ray cluster's).

    A job whose requested suites are all in the database or in its ``result.json`` is skipped (a result.json
    missing from the database is recorded first); a finished run lacking some suites is evaluated on those; an
    interrupted run is resumed. A failing job (any ``Exception``) is reported and the sweep goes on. Returns one
    dict per job: method, seed, grid (its ``--grid`` values; only with ``grid``), run_id (None if its config did
    not resolve), status (``skipped`` | ``trained`` | ``evaluated`` | ``failed``) and error.
    """
    from harness import executors

    if suite_names:
        overrides = [*overrides, f"suites=[{','.join(suite_names)}]"]
    jobs = executors.grid_jobs(method_names, seeds, executors.parse_grid(grid))
    spec = executors.SweepSpec(preset, config_file, tuple(overrides), str(runs_dir), db)
    return executors.run(executor, jobs, spec, address=address, show_progress=show_progress)


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
        result = read_result(run_dir)
        if result is not None and not set(cfg.suites) <= in_db:
            record(result, db)
        done = in_db | {m["suite"] for m in (result or {"metrics": []})["metrics"]}
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
