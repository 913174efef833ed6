"""The Python API behind every CLI command: train, evaluate, record, list.

A run lives in ``runs/<run_id>/`` (ARCHITECTURE.md §5). The run id is derived from (method, preset, seed, config
hash), so the same experiment always lands in the same directory: a finished run is not trained again, an
interrupted one is continued with ``resume=True``, and re-recording a result is idempotent.
"""
from __future__ import annotations

import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

import methods
from harness import config as config_mod
from harness import suites
from harness.config import RunConfig
from harness.data import describe
from harness.errors import RmbenchError
from harness.results import (RESULT_FILE, SCHEMA_VERSION, git_sha, merge_metrics, read_result, versions,
                             write_json_atomic, write_jsonl_atomic)

CONFIG_FILE = "config.yaml"


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
    """Train ``cfg``, evaluate its suites, write ``result.json`` and record it; returns the result dict."""
    from harness.trainer import STATE_DIR, Trainer

    _check_names(cfg)
    run_dir = Path(runs_dir) / run_id(cfg)
    if force:
        shutil.rmtree(run_dir, ignore_errors=True)
    existing = read_result(run_dir)
    if existing is not None:
        return existing
    if (run_dir / STATE_DIR).exists() and not resume:
        raise RmbenchError(f"{run_dir} holds an interrupted run: pass --resume to continue it or --force to restart")
    started = _now()
    trainer = Trainer(cfg, run_dir, show_progress=show_progress)
    data = trainer.prepare_data()  # bad input fails here, before anything is written
    fresh = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        if trainer.accelerator.is_main_process:
            (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(config_mod.to_dict(cfg), sort_keys=False))
        outcome = trainer.fit(data, resume=resume)
    except BaseException:
        if fresh and not (run_dir / STATE_DIR).exists() and trainer.accelerator.is_main_process:
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing resumable: leave nothing half-written
        raise
    if not trainer.accelerator.is_main_process:
        return {}
    result = {
        "schema_version": SCHEMA_VERSION, "run_id": run_dir.name, "method": cfg.method,
        "method_config": trainer.method.config_dict(), "preset": cfg.preset,
        "config_hash": config_mod.config_hash(cfg), "config": config_mod.to_dict(cfg),
        "backbone": cfg.model.backbone, "data": describe(cfg.data), "seed": cfg.seed, "versions": versions(),
        "git_sha": git_sha(), "started_at": started, "finished_at": _now(),
        "wall_times": {"train_s": round(outcome.wall_s, 3)}, "train": {
            "steps": outcome.steps, **outcome.data_stats, "final_validation": outcome.final_validation},
        "metrics": [],
    }
    write_json_atomic(run_dir / RESULT_FILE, result)
    return evaluate(run_dir, cfg.suites, db=db, show_progress=show_progress, model=trainer.accelerator.unwrap_model(
        trainer.model), method=trainer.method)


def load_run_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise RmbenchError(f"{run_dir} is not an rmbench run (no {CONFIG_FILE})")
    return config_mod.from_dict(RunConfig, yaml.safe_load(path.read_text()))


def evaluate(run_dir: str | Path, suite_names: list[str], *, data: str | None = None, db: str | None = None,
             batch_size: int | None = None, show_progress: bool = True, model=None, method=None) -> dict:
    """Run suites on a finished run's checkpoint; predictions and metric rows are merged into its result."""
    from harness.data.encode import Encoder
    from harness.models import RewardModel
    from harness.trainer import CHECKPOINT_DIR

    run_dir = Path(run_dir)
    result = read_result(run_dir)
    if result is None:
        raise RmbenchError(f"{run_dir} has no {RESULT_FILE}: train it first (or resume it)")
    cfg = load_run_config(run_dir)
    suite_classes = [suites.get(name) for name in suite_names]
    model = model or RewardModel.load(run_dir / CHECKPOINT_DIR)
    method = method or methods.get(cfg.method)(**cfg.method_config)
    ctx = suites.EvalContext(model, method, Encoder(model.tokenizer, cfg.model.max_length), cfg,
                             batch_size or cfg.train.eval_batch_size, show_progress, data)
    for suite_cls in suite_classes:
        started = time.perf_counter()
        outcome = suite_cls().run(ctx)
        for name, rows in outcome.predictions.items():
            write_jsonl_atomic(run_dir / "predictions" / suite_cls.name / f"{name}.jsonl", rows)
        result["metrics"] = merge_metrics(result["metrics"], [m.to_json() for m in outcome.metrics])
        result["wall_times"][f"eval_{suite_cls.name}_s"] = round(time.perf_counter() - started, 3)
    write_json_atomic(run_dir / RESULT_FILE, result)
    record(result, db)
    return result


def record(result: dict, db: str | None = None) -> int:
    from leaderboards import engine_for
    from leaderboards import record as store_record

    return store_record(result, engine_for(db))


def leaderboard(db: str | None = None, **filters) -> list[dict]:
    from leaderboards import engine_for
    from leaderboards import leaderboard as query

    return query(engine_for(db), **filters)


def method_table() -> list[dict]:
    """Name, paper, summary and default config of every registered method."""
    return [{"name": name, "paper": cls.paper, "summary": cls.summary, "requires": sorted(cls.requires),
             "defaults": cls.default_config()} for name in methods.names() for cls in [methods.get(name)]]
