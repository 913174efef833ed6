"""Training a run: the ensemble member loop, the run directory's config and outcome, then the run's suites.

:func:`train` is run by the orchestrator (:class:`harness.lab.Lab`), which it is given: the lab evaluates the
run's suites and trains a proxy RM when a method asks for one."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import methods
from harness import config as config_mod
from harness import suites, trackers
from harness.basemodel import check_backbone
from harness.config import RunConfig
from harness.data import describe, pair_source, read_pair_source
from harness.errors import RmbenchError
from harness.models import EnsembleRewardModel
from harness.records import check_store
from harness.results import git_sha, versions, write_json_atomic
from harness.runs import (CHECKPOINT_DIR, MEMBERS_DIR, OUTCOME_FILE, STATE_DIR, RunResult, now, run_id,
                          write_run_config)
from harness.trainer import Trainer


def check_names(cfg: RunConfig) -> None:
    """Everything the run will need, checked before anything is loaded or written: the method and its config (each
    hyper-parameter in its domain), the suites and their requirements (held-out pairs, the world), the training
    data (a local file is read) and the backbone (:func:`harness.basemodel.check_backbone`). The run config's own
    settings were checked when it was built (:func:`harness.config.from_dict`); the database is
    :func:`check_store`'s."""
    methods.get(cfg.method)(**cfg.method_config)
    for name in cfg.suites:
        suites.get(name)
    if cfg.data.train != "world":
        target = pair_source(cfg.data.train, "data.train")
        if Path(getattr(target, "source", target)).exists():  # a local file is read now: a bad row fails in seconds,
            read_pair_source(cfg.data.train, "data.train")  # not after the model is built (a Hub dataset is not)
    suites.check_requirements(cfg, cfg.suites)
    check_backbone(cfg.model.backbone)


def train(lab, cfg: RunConfig, *, resume: bool = False, force: bool = False) -> dict:
    """Train ``cfg`` in ``lab`` (a :class:`harness.lab.Lab`: its runs directory, database and progress), evaluate
    its suites, write ``result.json`` and record it; returns the result dict.

    A method with ``members`` > 1 (an ensemble) has each member trained in turn in ``members/<k>/`` with seed
    ``seed·K + k`` (its own initialisation and data order; the same data, validation hold-out and label flips), and
    the run's checkpoint scores with all of them.
    """
    check_names(cfg)
    check_store(lab.db)
    run_dir = lab.runs_dir / run_id(cfg)
    if force:
        shutil.rmtree(run_dir, ignore_errors=True)
    existing = RunResult.read(run_dir)
    if existing is not None:
        return existing.to_json()
    if run_dir.exists() and not resume:
        raise RmbenchError(f"{run_dir} holds an interrupted run: pass --resume to continue it or --force to restart")
    started = now()
    method = methods.get(cfg.method)(**cfg.method_config)
    k = method.members
    members = [(cfg, run_dir, None)] if k == 1 else [
        (dataclasses.replace(cfg, seed=cfg.seed * k + i), run_dir / MEMBERS_DIR / str(i),
         f"train {cfg.method} member {i + 1}/{k}") for i in range(k)]
    with trackers.session(cfg.train.report_to, run_dir, config_mod.to_dict(cfg)):  # main process only
        outcomes, model = [], None
        for member_cfg, member_dir, label in members:
            outcome, model = _train_member(lab, cfg, member_cfg, run_dir, member_dir, label, resume)
            outcomes.append(outcome)
        if not is_main_process():
            return {}
        if k > 1:
            EnsembleRewardModel.save_reference(run_dir / CHECKPOINT_DIR,
                                               [d / CHECKPOINT_DIR for _, d, _ in members])
            model = None  # evaluate() loads the ensemble from its checkpoint
        RunResult(run_id=run_dir.name, method=cfg.method, method_config=method.config_dict(), preset=cfg.preset,
                  config_hash=config_mod.config_hash(cfg), config=config_mod.to_dict(cfg),
                  backbone=cfg.model.backbone, data=describe(cfg.data), seed=cfg.seed, versions=versions(),
                  git_sha=git_sha(), started_at=started, finished_at=now(),
                  wall_times={"train_s": round(sum(o["wall_s"] for o in outcomes), 3)},
                  train=outcomes[0] if k == 1 else {"members": outcomes}).write(run_dir)
        return lab.evaluate(run_dir, cfg.suites, model=model, method=method)


def _train_member(lab, run_cfg: RunConfig, cfg: RunConfig, run_dir: Path, member_dir: Path, label: str | None,
                  resume: bool) -> tuple[dict, object]:
    """Train one model into ``member_dir`` (the run directory itself unless it is an ensemble member); returns
    its outcome and the trained model (None when a finished member is reused)."""
    done = member_dir / OUTCOME_FILE
    if done.exists():
        return json.loads(done.read_text()), None
    trainer = Trainer(cfg, member_dir, show_progress=lab.show_progress, data_seed=run_cfg.seed, label=label,
                      train_proxy=lab.train_proxy)
    data = trainer.prepare_data()  # bad input fails here, before anything is written
    fresh = not run_dir.exists()
    if is_main_process():
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_run_config(run_dir, run_cfg)
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
