"""The Python API behind every CLI command: train, evaluate, sweep, record, list.

Each job has its module; this one gathers their public functions in one place:
:mod:`harness.runs` (run directory layout, run id, typed ``result.json``), :mod:`harness.training` (train a run and
its ensemble members), :mod:`harness.evaluation` (suites on a run, ``--set`` routing), :mod:`harness.checkpoint_runs`
(a checkpoint evaluated as a run), :mod:`harness.sweep` (method × seed sweeps), :mod:`harness.records` (the
results database) and :func:`serve` (a reward model as an HTTP service, :mod:`harness.serve`).
"""
from __future__ import annotations

import methods
from harness.checkpoint_runs import evaluate_model
from harness.evaluation import evaluate
from harness.records import leaderboard, rebuild, record, report, results_view
from harness.runs import load_run_config, run_id
from harness.sweep import sweep, sweep_tally
from harness.training import train

__all__ = ["evaluate", "evaluate_model", "leaderboard", "load_run_config", "method_table", "rebuild", "record",
           "report", "results_view", "run_id", "serve", "sweep", "sweep_tally", "train"]


def method_table() -> list[dict]:
    """Name, paper, summary and default config of every registered method."""
    return [{"name": name, "paper": cls.paper, "summary": cls.summary, "requires": sorted(cls.requires),
             "defaults": cls.default_config()} for name in methods.names() for cls in [methods.get(name)]]


def serve(run=None, model: str | None = None, *, token_file=None, device: str = "auto", announce=print,
          **settings) -> None:
    """Serve the reward model of a run directory ``run`` or of ``model`` over HTTP until SIGTERM / SIGINT:
    ``settings`` are :class:`harness.serve.ServeSettings` fields (host, port, max_batch, …), ``token_file`` holds
    the bearer token every request must carry."""
    from harness.reward_source import load_scorer
    from harness.serve import ServeSettings, read_token, run_server

    settings = ServeSettings(**settings)
    token = read_token(token_file)
    scorer, info = load_scorer(run, model, batch_size=settings.max_batch, device=device)
    run_server(scorer, info, settings, token, announce=announce)
