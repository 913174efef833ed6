"""The Python API behind every CLI command: train, evaluate, sweep, record, list.

Each job has its module; this one gathers their public functions in one place:
:mod:`harness.runs` (run directory layout, run id, typed ``result.json``), :mod:`harness.training` (train a run and
its ensemble members), :mod:`harness.evaluation` (suites on a run, ``--set`` routing), :mod:`harness.checkpoint_runs`
(a checkpoint evaluated as a run), :mod:`harness.sweep` (method × seed sweeps) and :mod:`harness.records` (the
results database).
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
           "report", "results_view", "run_id", "sweep", "sweep_tally", "train"]


def method_table() -> list[dict]:
    """Name, paper, summary and default config of every registered method."""
    return [{"name": name, "paper": cls.paper, "summary": cls.summary, "requires": sorted(cls.requires),
             "defaults": cls.default_config()} for name in methods.names() for cls in [methods.get(name)]]
