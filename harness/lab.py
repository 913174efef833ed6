"""The orchestrator: one :class:`Lab` owns where runs live, where results are recorded and how progress is shown, and
runs the three jobs of rmbench — train a run, evaluate suites on a run (or on a model that is not one), and a
sweep with its job — handing each layer below the callables it needs.

The layers below never import this module (``docs/architecture.md``, contracts in ``pyproject.toml``): the suites
get ``train_variant`` / ``evaluate_run`` through their :class:`harness.suites.EvalContext`, a method that needs a
proxy RM asks its :class:`harness.method.MethodContext` (the trainer is given :meth:`Lab.train_proxy`), and the
executors are given :meth:`Lab.sweep_job`. The CLI and :mod:`harness.api` are thin over a ``Lab``.

``python -m harness.lab PAYLOAD OUT`` (:data:`harness.executors.LAUNCH_MODULE`) runs one sweep job in every process
of an ``accelerate launch`` (a Ray job asking for several GPUs) and writes the main process's outcome to ``OUT``.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from accelerate import PartialState

from harness import checkpoint_runs, evaluation, executors, sweep, training
from harness.config import RunConfig
from harness.executors import Job, SweepSpec
from harness.runs import RunResult, run_id

IN_MEMORY_DB = "sqlite://"  # a proxy RM has no suites: it is recorded nowhere that lasts


@dataclass(frozen=True)
class Lab:
    """Where runs live (``runs_dir``: one directory per run id), the results database (``db``: a URL or SQLite
    path, None for ``$RMBENCH_DB`` or ``rmbench.db``) and whether progress bars are shown. Devices are Accelerate's
    (``accelerate launch`` for several processes): every process runs the same ``Lab`` calls."""

    runs_dir: Path = Path("runs")
    db: str | None = None
    show_progress: bool = True

    def __post_init__(self):
        object.__setattr__(self, "runs_dir", Path(self.runs_dir))

    def beside(self, run_dir: Path) -> Lab:
        """This lab with its runs in ``run_dir``'s parent: the runs a suite trains live beside the evaluated one."""
        return dataclasses.replace(self, runs_dir=Path(run_dir).parent)

    # -- the jobs ----------------------------------------------------------------------------------------------
    def train(self, cfg: RunConfig, *, resume: bool = False, force: bool = False) -> dict:
        """Train ``cfg``, evaluate its suites, write ``result.json`` and record it (:func:`harness.training.train`)."""
        return training.train(self, cfg, resume=resume, force=force)

    def evaluate(self, run_dir: str | Path, suite_names: list[str], *, data: str | list[str] | None = None,
                 batch_size: int | None = None, overrides: list[str] = (), suite_values: dict | None = None,
                 model=None, method=None) -> dict:
        """Run suites on a finished run (:func:`harness.evaluation.evaluate`)."""
        return evaluation.evaluate(self, Path(run_dir), suite_names, data=data, batch_size=batch_size,
                                   overrides=overrides, suite_values=suite_values, model=model, method=method)

    def evaluate_model(self, model_path: str | Path, suite_names: list[str], **kwargs) -> dict:
        """Run suites on a model that is not a run (:func:`harness.checkpoint_runs.evaluate_model`)."""
        return checkpoint_runs.evaluate_model(self, model_path, suite_names, **kwargs)

    def sweep(self, method_names: list[str], seeds: int, **kwargs) -> list[dict]:
        """Every method × seed (× grid point) trained and evaluated, resumably (:func:`harness.sweep.sweep`)."""
        return sweep.sweep(self, method_names, seeds, **kwargs)

    # -- the callables handed down -----------------------------------------------------------------------------
    def sweep_job(self, spec: SweepSpec, job: Job) -> dict:
        """One sweep job; the executors are given this (:func:`harness.sweep.sweep_job`)."""
        return sweep.sweep_job(self, spec, job)

    def train_proxy(self, cfg: RunConfig, runs_dir: Path) -> Path:
        """Train (or reuse) the proxy RM ``cfg`` in ``runs_dir``, recorded in a throw-away in-memory database;
        returns its run directory. The trainer serves it to a method through ``MethodContext.proxy_margins``."""
        lab = dataclasses.replace(self, runs_dir=Path(runs_dir), db=IN_MEMORY_DB)
        lab.train(cfg, resume=True)
        return lab.runs_dir / run_id(cfg)

    def train_variant(self, cfg: RunConfig) -> RunResult:
        """``EvalContext.train_variant``: a run of ``cfg`` in this lab (trained, or reused when finished)."""
        return RunResult.from_json(self.train(cfg))

    def evaluate_run(self, run: str, suite_names: list[str], batch_size: int | None = None) -> RunResult:
        """``EvalContext.evaluate_run``: ``suite_names`` on the run ``run`` of this lab."""
        return RunResult.from_json(self.evaluate(self.runs_dir / run, suite_names, batch_size=batch_size))


def _launched_job(payload: str, out: str) -> None:
    """One sweep job in every process (under ``accelerate launch``); the main process writes its outcome."""
    spec, job = executors.decode_payload(payload)
    outcome = Lab(Path(spec.runs_dir), spec.db, show_progress=False).sweep_job(spec, job)
    if PartialState().is_main_process:
        Path(out).write_text(json.dumps(outcome))


if __name__ == "__main__":
    _launched_job(*sys.argv[1:])
