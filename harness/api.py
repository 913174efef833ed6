"""The Python API behind every CLI command: train, evaluate, sweep, record, list.

A thin layer over the orchestrator, :class:`harness.lab.Lab` (runs directory, database, progress), which owns the
jobs; the results database is :mod:`harness.records`, the run directory layout and identity :mod:`harness.runs`,
and :func:`serve` a reward model as an HTTP service (:mod:`harness.serve`).
"""
from __future__ import annotations

from pathlib import Path

import methods
from harness.config import RunConfig
from harness.executors import sweep_tally
from harness.lab import Lab
from harness.records import leaderboard, rebuild, record, report, results_view
from harness.runs import load_run_config, run_id

__all__ = ["Lab", "evaluate", "evaluate_model", "leaderboard", "load_run_config", "method_table", "rebuild",
           "record", "report", "results_view", "run_id", "serve", "sweep", "sweep_tally", "train"]


def train(cfg: RunConfig, *, runs_dir: str | Path = "runs", db: str | None = None, resume: bool = False,
          force: bool = False, show_progress: bool = True) -> dict:
    """Train ``cfg``, evaluate its suites, write ``result.json`` and record it; returns the result dict."""
    return Lab(runs_dir, db, show_progress).train(cfg, resume=resume, force=force)


def evaluate(run_dir: str | Path, suite_names: list[str], *, db: str | None = None, show_progress: bool = True,
             **kwargs) -> dict:
    """Run suites on a finished run (``data``, ``batch_size``, ``overrides``: see :meth:`Lab.evaluate`); the runs a
    suite trains live beside it."""
    return Lab(Path(run_dir).parent, db, show_progress).evaluate(run_dir, suite_names, **kwargs)


def evaluate_model(model_path: str | Path, suite_names: list[str], *, runs_dir: str | Path = "runs",
                   db: str | None = None, show_progress: bool = True, **kwargs) -> dict:
    """Run suites on a model that is not a run (a checkpoint directory, an external reward model)."""
    return Lab(runs_dir, db, show_progress).evaluate_model(model_path, suite_names, **kwargs)


def sweep(method_names: list[str], seeds: int, *, runs_dir: str | Path = "runs", db: str | None = None,
          show_progress: bool = True, **kwargs) -> list[dict]:
    """Every method × seed (× ``grid`` point) trained and evaluated, resumably (see :func:`harness.sweep.sweep`)."""
    return Lab(runs_dir, db, show_progress).sweep(method_names, seeds, **kwargs)


def method_table() -> list[dict]:
    """Name, paper, summary and default config of every registered method."""
    return [{"name": name, "paper": cls.paper, "summary": cls.summary, "requires": sorted(cls.requires),
             "defaults": cls.default_config()} for name in methods.names() for cls in [methods.get(name)]]


def serve(run=None, model: str | None = None, *, token_file=None, device: str = "auto", announce=print,
          **settings) -> None:
    """Serve the reward model of a run directory ``run`` or of ``model`` over HTTP until SIGTERM / SIGINT:
    ``settings`` are :class:`harness.serve.ServeSettings` fields (host, port, max_batch, …), ``token_file`` holds
    the bearer token every request must carry."""
    from harness.reward_source import load_scorer  # deferred: torch and the model stack, only to serve
    from harness.serve import ServeSettings, read_token, run_server  # deferred: FastAPI and uvicorn, only to serve

    settings = ServeSettings(**settings)
    token = read_token(token_file)
    scorer, info = load_scorer(run, model, batch_size=settings.max_batch, device=device)
    run_server(scorer, info, settings, token, announce=announce)
